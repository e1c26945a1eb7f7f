// Shape functions of the reductions (ReduceMean ... ReduceLogSumExp) and ArgMax/ArgMin.
#include <vector>

#include "core/error.h"
#include "graph/op_geometry.h"
#include "graph/shape_inference.h"

namespace shoal {
namespace {

void check_numeric(const InferContext& c) {
  DType t = c.dtype(0);
  if (t == DType::kBool || t == DType::kUndefined) {
    fail(ErrorCode::kUnsupported, "{}: input dtype {} is not supported", c.label(), dtype_name(t));
  }
}

void infer_reduce(InferContext& c) {
  check_numeric(c);
  const Dims& x = c.dims(0);
  const Tensor* axes = nullptr;
  if (c.has_input(1)) {
    axes = c.constant(1);
    if (!axes) c.needs_value(1, "axes");
  }
  std::vector<bool> mask =
      compute_reduce_axes(c.node(), c.opset(), axes, static_cast<int64_t>(x.size()), c.label());
  bool keepdims = c.node().attr_int("keepdims", 1) != 0;
  Dims out;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!mask[i]) {
      out.push_back(x[i]);
    } else if (keepdims) {
      out.push_back(1);
    }
  }
  c.set_output(0, c.dtype(0), out);
}

void infer_arg(InferContext& c) {
  check_numeric(c);
  const Dims& x = c.dims(0);
  int64_t rank = static_cast<int64_t>(x.size());
  if (rank == 0) fail(ErrorCode::kInvalidModel, "{}: input must have rank >= 1", c.label());
  int64_t axis = normalize_axis(c.node().attr_int("axis", 0), rank, c.label());
  if (x[static_cast<size_t>(axis)] == 0) {
    fail(ErrorCode::kInvalidModel, "{}: cannot take {} over the empty axis {} of {}", c.label(),
         c.node().op_type, axis, dims_str(x));
  }
  Dims out = x;
  if (c.node().attr_int("keepdims", 1) != 0) {
    out[static_cast<size_t>(axis)] = 1;
  } else {
    out.erase(out.begin() + axis);
  }
  c.set_output(0, DType::kI64, out);
}

}  // namespace

void infer_ReduceMean(InferContext& c) { infer_reduce(c); }
void infer_ReduceMax(InferContext& c) { infer_reduce(c); }
void infer_ReduceSum(InferContext& c) { infer_reduce(c); }
void infer_ReduceMin(InferContext& c) { infer_reduce(c); }
void infer_ReduceProd(InferContext& c) { infer_reduce(c); }
void infer_ReduceL1(InferContext& c) { infer_reduce(c); }
void infer_ReduceL2(InferContext& c) { infer_reduce(c); }
void infer_ReduceSumSquare(InferContext& c) { infer_reduce(c); }
void infer_ReduceLogSum(InferContext& c) { infer_reduce(c); }
void infer_ReduceLogSumExp(InferContext& c) { infer_reduce(c); }

void infer_ArgMax(InferContext& c) { infer_arg(c); }
void infer_ArgMin(InferContext& c) { infer_arg(c); }

}  // namespace shoal
