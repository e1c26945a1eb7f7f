// Slice (opsets 1..19): a strided copy from the first selected element with step * stride per dim
// (negative steps walk backwards); contiguous inner runs are memcpy'd.
#include "backend/reference/kernel_util.h"
#include "backend/reference/reference.h"
#include "core/error.h"
#include "graph/shape_op_params.h"

namespace shoal {

namespace {

std::vector<int64_t> optional_ints(const std::vector<Tensor>& in, size_t i) {
  return i < in.size() && in[i].defined() ? in[i].to_i64_vector() : std::vector<int64_t>{};
}

}  // namespace

void ref_Slice(RefArgs& a) {
  const Tensor& in = a.in[0];
  Tensor& out = a.out[0];
  const std::string label = kernel_label(a.node);
  SliceParams p;
  if (a.opset < 10) {
    p = slice_params(in.dims(), a.node.attr_ints("starts"), a.node.attr_ints("ends"),
                     a.node.attr_ints("axes"), {}, label);
  } else {
    p = slice_params(in.dims(), optional_ints(a.in, 1), optional_ints(a.in, 2),
                     optional_ints(a.in, 3), optional_ints(a.in, 4), label);
  }
  if (p.out_dims != out.dims()) {
    fail(ErrorCode::kInternal, "{}: output {} but the slice gives {}", label, dims_str(out.dims()),
         dims_str(p.out_dims));
  }
  if (out.numel() == 0) return;
  const size_t es = dtype_size(in.dtype());
  const std::vector<int64_t> in_strides = dense_strides(in.dims());
  std::vector<int64_t> src_strides(in_strides.size());
  int64_t base = 0;
  for (size_t k = 0; k < in_strides.size(); ++k) {
    base += p.starts[k] * in_strides[k];
    src_strides[k] = p.steps[k] * in_strides[k];
  }
  copy_strided(out.raw(), dense_strides(out.dims()),
               static_cast<const char*>(in.raw()) + static_cast<size_t>(base) * es, src_strides,
               out.dims(), es);
}

}  // namespace shoal
