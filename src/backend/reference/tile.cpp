// Tile: the output seen as dims [r0, d0, r1, d1, ...] is a strided copy of the input with stride 0
// on every repeat dim.
#include "backend/reference/kernel_util.h"
#include "backend/reference/reference.h"
#include "core/error.h"

namespace shoal {

void ref_Tile(RefArgs& a) {
  const Tensor& in = a.in[0];
  Tensor& out = a.out[0];
  const size_t r = in.dims().size();
  if (out.dims().size() != r) {
    fail(ErrorCode::kInternal, "{}: output {} does not match input {}", kernel_label(a.node),
         dims_str(out.dims()), dims_str(in.dims()));
  }
  const std::vector<int64_t> is = dense_strides(in.dims());
  const std::vector<int64_t> os = dense_strides(out.dims());
  Dims dims(2 * r);
  std::vector<int64_t> src(2 * r);
  std::vector<int64_t> dst(2 * r);
  for (size_t k = 0; k < r; ++k) {
    const int64_t d = in.dims()[k];
    if (d == 0) return;
    if (out.dims()[k] % d != 0) {
      fail(ErrorCode::kInternal, "{}: output {} is not a tiling of input {}", kernel_label(a.node),
           dims_str(out.dims()), dims_str(in.dims()));
    }
    dims[2 * k] = out.dims()[k] / d;
    dims[2 * k + 1] = d;
    src[2 * k] = 0;
    src[2 * k + 1] = is[k];
    dst[2 * k] = os[k] * d;
    dst[2 * k + 1] = os[k];
  }
  copy_strided(out.raw(), dst, in.raw(), src, dims, dtype_size(in.dtype()));
}

}  // namespace shoal
