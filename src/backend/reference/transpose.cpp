// Transpose of any rank: a strided copy reading the input with permuted strides (inner runs
// memcpy'd, a moved innermost dim copied in cache tiles; see kernel_util.h).
#include "backend/reference/kernel_util.h"
#include "backend/reference/reference.h"
#include "core/error.h"

namespace shoal {

void ref_Transpose(RefArgs& a) {
  const Tensor& in = a.in[0];
  Tensor& out = a.out[0];
  const size_t r = in.dims().size();
  std::vector<int64_t> perm = a.node.attr_ints("perm");
  if (perm.empty()) {
    for (size_t k = 0; k < r; ++k) perm.push_back(static_cast<int64_t>(r - 1 - k));
  }
  if (perm.size() != r || out.dims().size() != r) {
    fail(ErrorCode::kInvalidModel, "{}: perm {} does not match input {}", kernel_label(a.node),
         dims_str(perm), dims_str(in.dims()));
  }
  const std::vector<int64_t> in_strides = dense_strides(in.dims());
  std::vector<int64_t> src_strides(r);
  for (size_t k = 0; k < r; ++k) {
    if (perm[k] < 0 || perm[k] >= static_cast<int64_t>(r) ||
        out.dims()[k] != in.dims()[static_cast<size_t>(perm[k])]) {
      fail(ErrorCode::kInvalidModel, "{}: perm {} does not map {} to {}", kernel_label(a.node),
           dims_str(perm), dims_str(in.dims()), dims_str(out.dims()));
    }
    src_strides[k] = in_strides[static_cast<size_t>(perm[k])];
  }
  copy_strided(out.raw(), dense_strides(out.dims()), in.raw(), src_strides, out.dims(),
               dtype_size(in.dtype()));
}

}  // namespace shoal
