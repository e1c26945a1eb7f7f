// Expand: NumPy broadcast of the input to the output dims as a strided copy with stride 0 on the
// broadcast dims.
#include "backend/reference/kernel_util.h"
#include "backend/reference/reference.h"
#include "core/error.h"

namespace shoal {

void ref_Expand(RefArgs& a) {
  const Tensor& in = a.in[0];
  Tensor& out = a.out[0];
  const size_t r = out.dims().size();
  const size_t ir = in.dims().size();
  if (ir > r) {
    fail(ErrorCode::kInternal, "{}: output {} has a lower rank than input {}", kernel_label(a.node),
         dims_str(out.dims()), dims_str(in.dims()));
  }
  const std::vector<int64_t> in_strides = dense_strides(in.dims());
  std::vector<int64_t> src_strides(r, 0);
  for (size_t k = r - ir; k < r; ++k) {
    const int64_t d = in.dims()[k - (r - ir)];
    if (d != 1 && d != out.dims()[k]) {
      fail(ErrorCode::kInternal, "{}: input {} does not broadcast to {}", kernel_label(a.node),
           dims_str(in.dims()), dims_str(out.dims()));
    }
    src_strides[k] = d == 1 ? 0 : in_strides[k - (r - ir)];
  }
  copy_strided(out.raw(), dense_strides(out.dims()), in.raw(), src_strides, out.dims(),
               dtype_size(in.dtype()));
}

}  // namespace shoal
