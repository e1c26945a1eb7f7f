// Writes seeds for fuzz_graph_deserialize: each ONNX model given, imported and serialized as is
// (<stem>.graph) and specialised to small input dims and optimised (<stem>_opt.graph); blobs above
// 20 KB are skipped. Usage: fuzz_make_graph_corpus OUT_DIR MODEL.onnx...
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>

#include "backend/reference/reference.h"
#include "core/error.h"
#include "graph/passes.h"
#include "graph/serialize.h"
#include "graph/shape_inference.h"
#include "model_builder/builder.h"
#include "onnx/import.h"

namespace {

constexpr size_t kMaxSeedBytes = 20 << 10;

void write(const std::string& dir, const std::string& name, const shoal::Graph& g) {
  std::string blob = shoal::serialize_graph(g);
  if (blob.size() > kMaxSeedBytes) {
    std::printf("skip %s (%zu bytes)\n", name.c_str(), blob.size());
    return;
  }
  shoal::save_bytes(dir + "/" + name, blob);
  std::printf("%s: %zu bytes\n", name.c_str(), blob.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s OUT_DIR MODEL.onnx...\n", argv[0]);
    return 2;
  }
  const std::string out = argv[1];
  std::filesystem::create_directories(out);
  for (int i = 2; i < argc; ++i) {
    const std::string stem = std::filesystem::path(argv[i]).stem().string();
    try {
      shoal::Graph g = shoal::import_onnx_file(argv[i]);
      write(out, stem + ".graph", g);
      for (shoal::ValueId id : g.inputs) {
        for (int64_t& d : g.value(id).dims) d = d < 0 ? 1 : std::min<int64_t>(d, 8);
        g.value(id).has_shape = true;
      }
      const int opset = static_cast<int>(g.opset);
      shoal::specialize_shapes(
          g, [opset](const shoal::Node& n, const std::vector<shoal::Tensor>& in,
                     std::vector<shoal::Tensor>& o) { shoal::reference_eval(n, opset, in, o); });
      shoal::optimize(g);
      write(out, stem + "_opt.graph", g);
    } catch (const shoal::Error& e) {
      std::printf("skip %s: %s\n", argv[i], e.what());
    }
  }
  return 0;
}
