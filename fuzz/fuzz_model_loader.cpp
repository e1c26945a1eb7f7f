// libFuzzer target for the model loader: arbitrary bytes through import_onnx_bytes and, when they
// import, through specialize_shapes at small input dims (folding with the reference kernels).
// shoal::Error is the only acceptable failure; any other exception, crash, leak or sanitizer
// report is a bug.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "backend/reference/reference.h"
#include "core/error.h"
#include "graph/shape_inference.h"
#include "onnx/import.h"

namespace {

constexpr int64_t kMaxFuzzDim = 8;
constexpr size_t kMaxFuzzRank = 6;

// Fixes every input to small dims; false when an input has no usable shape.
bool clamp_inputs(shoal::Graph& g) {
  for (shoal::ValueId id : g.inputs) {
    shoal::Value& v = g.value(id);
    if (v.is_constant()) continue;
    if (!v.has_shape || v.dims.size() > kMaxFuzzRank) return false;
    for (int64_t& d : v.dims) d = d < 0 ? 1 : std::min(d, kMaxFuzzDim);
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  shoal::Graph g;
  try {
    g = shoal::import_onnx_bytes(data, size, "");
  } catch (const shoal::Error&) {
    return 0;
  }
  if (!clamp_inputs(g)) return 0;
  try {
    const int opset = static_cast<int>(g.opset);
    shoal::specialize_shapes(
        g, [opset](const shoal::Node& n, const std::vector<shoal::Tensor>& in,
                   std::vector<shoal::Tensor>& out) { shoal::reference_eval(n, opset, in, out); });
  } catch (const shoal::Error&) {
  }
  return 0;
}
