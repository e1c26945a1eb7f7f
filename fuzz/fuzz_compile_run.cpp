// libFuzzer target for the whole load path on the cpu backend: arbitrary bytes through
// import_onnx_bytes, then CompiledModel::compile (shape specialisation at small input dims,
// graph passes, layout choice, kernel building) and one run on patterned inputs.
// shoal::Error is the only acceptable failure; any other exception, crash, leak or sanitizer
// report is a bug.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/error.h"
#include "onnx/import.h"
#include "runtime/compiled_model.h"

namespace {

constexpr int64_t kMaxFuzzDim = 8;
constexpr size_t kMaxFuzzRank = 5;
constexpr int64_t kMaxFuzzElements = 1 << 14;
// Models whose planned arena is larger are compiled but not run: a small input can still ask for
// gigabytes (Expand, ConstantOfShape, Resize), which is the user's memory budget's business, not
// a bug, and would trip libFuzzer's RSS limit.
constexpr size_t kMaxFuzzArenaBytes = size_t{64} << 20;

// Fixes every input to small dims; false when an input has no usable shape.
bool input_dims(const shoal::Graph& g, std::map<std::string, shoal::Dims>* dims) {
  for (shoal::ValueId id : g.inputs) {
    const shoal::Value& v = g.value(id);
    if (v.is_constant()) continue;
    if (!v.has_shape || v.dims.size() > kMaxFuzzRank) return false;
    shoal::Dims d = v.dims;
    for (int64_t& x : d) x = x < 0 ? 2 : std::min(x, kMaxFuzzDim);
    (*dims)[v.name] = d;
  }
  return true;
}

// Inputs of the model's dims and dtypes, filled with a fixed byte pattern (not zeros).
std::vector<shoal::Tensor> patterned_inputs(const shoal::CompiledModel& m) {
  std::vector<shoal::Tensor> in;
  for (const shoal::TensorInfo& info : m.inputs()) {
    shoal::Tensor t(info.dtype, info.dims);
    auto* p = static_cast<uint8_t*>(t.raw());
    for (size_t i = 0; i < t.nbytes(); ++i) p[i] = static_cast<uint8_t>(0x3c + (i % 7));
    in.push_back(std::move(t));
  }
  return in;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    shoal::Graph g = shoal::import_onnx_bytes(data, size, "");
    shoal::CompileRequest req;
    req.backend = "cpu";
    if (!input_dims(g, &req.input_dims)) return 0;
    auto m = shoal::CompiledModel::compile(g, req);
    for (const shoal::TensorInfo& info : m->inputs()) {
      if (shoal::num_elements(info.dims) > kMaxFuzzElements) return 0;
    }
    if (m->memory().arena_bytes > kMaxFuzzArenaBytes) return 0;
    shoal::Session s(m);
    s.run(patterned_inputs(*m));
  } catch (const shoal::Error&) {
  }
  return 0;
}
