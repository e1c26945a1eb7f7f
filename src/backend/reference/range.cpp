// Range: out[i] = start + i * delta (integers exactly in int64, floats in double).
#include "backend/reference/kernel_util.h"
#include "backend/reference/reference.h"
#include "core/error.h"

namespace shoal {

namespace {

template <typename T>
void fill_int(Tensor& out, int64_t start, int64_t delta) {
  T* d = out.data<T>();
  for (int64_t i = 0; i < out.numel(); ++i) {
    // Unsigned arithmetic: wraps like the int64 sum would, without UB.
    const uint64_t v =
        static_cast<uint64_t>(start) + static_cast<uint64_t>(i) * static_cast<uint64_t>(delta);
    d[i] = static_cast<T>(static_cast<int64_t>(v));
  }
}

}  // namespace

void ref_Range(RefArgs& a) {
  Tensor& out = a.out[0];
  for (int i = 0; i < 3; ++i) {
    if (!a.in[static_cast<size_t>(i)].defined() || a.in[static_cast<size_t>(i)].numel() != 1) {
      fail(ErrorCode::kInvalidModel, "{}: start, limit and delta must be scalars",
           kernel_label(a.node));
    }
  }
  switch (out.dtype()) {
    case DType::kI64:
      fill_int<int64_t>(out, a.in[0].get_i64(0), a.in[2].get_i64(0));
      return;
    case DType::kI32:
      fill_int<int32_t>(out, a.in[0].get_i64(0), a.in[2].get_i64(0));
      return;
    case DType::kI8:
      fill_int<int8_t>(out, a.in[0].get_i64(0), a.in[2].get_i64(0));
      return;
    case DType::kU8:
      fill_int<uint8_t>(out, a.in[0].get_i64(0), a.in[2].get_i64(0));
      return;
    case DType::kF32: {
      const double start = a.in[0].get_f64(0), delta = a.in[2].get_f64(0);
      float* d = out.data<float>();
      for (int64_t i = 0; i < out.numel(); ++i) {
        d[i] = static_cast<float>(start + static_cast<double>(i) * delta);
      }
      return;
    }
    case DType::kF64:
    case DType::kF16:
    case DType::kBF16: {
      const double start = a.in[0].get_f64(0), delta = a.in[2].get_f64(0);
      for (int64_t i = 0; i < out.numel(); ++i) {
        out.set_f64(i, start + static_cast<double>(i) * delta);
      }
      return;
    }
    default:
      fail(ErrorCode::kUnsupported, "{}: Range of {} is not supported", kernel_label(a.node),
           dtype_name(out.dtype()));
  }
}

}  // namespace shoal
