// Reshape, Flatten, Squeeze, Unsqueeze: same bytes, new dims (the output dims were inferred).
#include <cstring>

#include "backend/reference/kernel_util.h"
#include "backend/reference/reference.h"
#include "core/error.h"

namespace shoal {

namespace {

void copy_view(const RefArgs& a) {
  const Tensor& in = a.in[0];
  Tensor& out = a.out[0];
  if (in.nbytes() != out.nbytes()) {
    fail(ErrorCode::kInternal, "{}: output {} does not hold input {}", kernel_label(a.node),
         dims_str(out.dims()), dims_str(in.dims()));
  }
  if (out.raw() != in.raw() && in.nbytes()) std::memcpy(out.raw(), in.raw(), in.nbytes());
}

}  // namespace

void ref_Reshape(RefArgs& a) { copy_view(a); }
void ref_Flatten(RefArgs& a) { copy_view(a); }
void ref_Squeeze(RefArgs& a) { copy_view(a); }
void ref_Unsqueeze(RefArgs& a) { copy_view(a); }

}  // namespace shoal
