// Identity and Dropout (inference: the output is the input; the optional mask is all true).
#include <cstring>

#include "backend/reference/kernel_util.h"
#include "backend/reference/reference.h"
#include "core/error.h"

namespace shoal {

namespace {

void copy_through(const Tensor& in, Tensor& out) {
  if (out.raw() != in.raw() && in.nbytes()) std::memcpy(out.raw(), in.raw(), in.nbytes());
}

}  // namespace

void ref_Identity(RefArgs& a) { copy_through(a.in[0], a.out[0]); }

void ref_Dropout(RefArgs& a) {
  if (a.opset >= 12 && a.in.size() > 2 && a.in[2].defined() && a.in[2].numel() > 0 &&
      a.in[2].get_i64(0) != 0) {
    double ratio = a.in.size() > 1 && a.in[1].defined() ? a.in[1].get_f64(0) : 0.5;
    if (ratio != 0) {
      fail(ErrorCode::kUnsupported,
           "{}: training_mode with ratio {} (random dropout) is not "
           "supported",
           kernel_label(a.node), ratio);
    }
  }
  copy_through(a.in[0], a.out[0]);
  if (a.out.size() > 1 && a.out[1].defined()) {
    Tensor& mask = a.out[1];
    if (mask.dtype() == DType::kBool) {
      const uint8_t one = 1;
      fill_pattern(mask.raw(), mask.numel(), &one, 1);
    } else {
      for (int64_t i = 0; i < mask.numel(); ++i) mask.set_f64(i, 1.0);
    }
  }
}

}  // namespace shoal
