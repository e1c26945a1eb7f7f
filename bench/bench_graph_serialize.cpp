// Graph serialization (graph/serialize.h) on YOLOv8n's optimised graph (../shared, else the
// builder's YOLOv8n-like detector): serialize, deserialize, and for comparison what a disk cache
// hit skips (import + specialise + optimise) and what it still pays (compiling the loaded graph).
// On a busy 2-core machine the multi-threaded compile's wall time is mostly OpenMP scheduling
// noise (30-500 ms); OMP_NUM_THREADS=1 gives stable numbers.
//   OMP_NUM_THREADS=1 build/shoal_bench --benchmark_filter=Graph
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>

#include "backend/reference/reference.h"
#include "graph/passes.h"
#include "graph/serialize.h"
#include "graph/shape_inference.h"
#include "model_builder/builder.h"
#include "onnx/import.h"
#include "runtime/compiled_model.h"

namespace shoal {
namespace {

// yolov8n.onnx imported (label "yolov8n"), or the builder detector ("builder").
Graph imported_model(std::string* label) {
  const char* env = std::getenv("SHOAL_SHARED_DIR");
  const std::string path = std::string(env ? env : "../shared") + "/models/yolov8n.onnx";
  if (std::ifstream(path).good()) {
    *label = "yolov8n";
    return import_onnx_file(path);
  }
  *label = "builder detector";
  const std::string bytes = build_yolo_detector_onnx({});
  return import_onnx_bytes(bytes.data(), bytes.size(), "");
}

Graph optimised(Graph g) {
  for (ValueId v : g.inputs) g.value(v).has_shape = true;
  const int opset = static_cast<int>(g.opset);
  specialize_shapes(g, [opset](const Node& n, const std::vector<Tensor>& in,
                               std::vector<Tensor>& out) { reference_eval(n, opset, in, out); });
  optimize(g);
  return g;
}

void BM_GraphSerialize(benchmark::State& state) {
  std::string label;
  const Graph g = optimised(imported_model(&label));
  size_t bytes = 0;
  for (auto _ : state) {
    std::string blob = serialize_graph(g);
    bytes = blob.size();
    benchmark::DoNotOptimize(blob.data());
  }
  state.SetLabel(label);
  state.counters["blob_bytes"] = static_cast<double>(bytes);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_GraphSerialize)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_GraphDeserialize(benchmark::State& state) {
  std::string label;
  const std::string blob = serialize_graph(optimised(imported_model(&label)));
  for (auto _ : state) {
    Graph g = deserialize_graph(blob.data(), blob.size());
    benchmark::DoNotOptimize(g.values.data());
  }
  state.SetLabel(label);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * blob.size()));
}
BENCHMARK(BM_GraphDeserialize)->Unit(benchmark::kMillisecond)->UseRealTime();

// What a cache hit skips.
void BM_GraphImportAndOptimise(benchmark::State& state) {
  std::string label;
  imported_model(&label);
  for (auto _ : state) {
    Graph g = optimised(imported_model(&label));
    benchmark::DoNotOptimize(g.values.data());
  }
  state.SetLabel(label);
}
BENCHMARK(BM_GraphImportAndOptimise)->Unit(benchmark::kMillisecond)->UseRealTime();

// What a cache hit still pays: compiling the deserialized graph on the cpu backend
// (arg 0: from the optimised graph without passes; arg 1: the full compile of the imported one).
void BM_GraphCompileCpu(benchmark::State& state) {
  std::string label;
  const Graph imported = imported_model(&label);
  const Graph opt = optimised(imported);
  CompileRequest req;
  req.optimize_graph = state.range(0) == 1;
  for (auto _ : state) {
    auto cm = CompiledModel::compile(state.range(0) == 1 ? imported : opt, req);
    benchmark::DoNotOptimize(cm.get());
  }
  state.SetLabel(label + (state.range(0) == 1 ? ": full compile of the ONNX graph"
                                              : ": compile of the optimised graph"));
}
BENCHMARK(BM_GraphCompileCpu)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace shoal
