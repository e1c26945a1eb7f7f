// Cast between every numeric dtype (float32/64, float16, bfloat16, int8/uint8/int32/int64, bool).
// Integer/bool pairs convert through int64 (narrowing wraps, as NumPy's astype); anything with a
// float side goes through double: float -> int truncates toward zero and saturates (NaN -> 0),
// -> bool is `x != 0`, -> float16/bfloat16 rounds to nearest even.
#include <cmath>
#include <cstring>
#include <limits>

#include "backend/reference/kernel_util.h"
#include "backend/reference/reference.h"
#include "core/error.h"

namespace shoal {

namespace {

template <typename T>
T saturate(double v) {
  if (std::isnan(v)) return 0;
  double t = std::trunc(v);
  if (t <= static_cast<double>(std::numeric_limits<T>::lowest())) {
    return std::numeric_limits<T>::lowest();
  }
  if (t >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<T>(t);
}

template <typename T, bool kFloat>
struct Native {
  using S = T;
  static constexpr bool kInt = !kFloat;
  static double load_f(S v) { return static_cast<double>(v); }
  static int64_t load_i(S v) { return static_cast<int64_t>(v); }
  static S store_f(double v) {
    if constexpr (kFloat) {
      return static_cast<S>(v);
    } else {
      return saturate<S>(v);
    }
  }
  static S store_i(int64_t v) { return static_cast<S>(v); }
};

struct Half {
  using S = uint16_t;
  static constexpr bool kInt = false;
  static double load_f(S v) { return f16_to_f32(v); }
  static S store_f(double v) { return f32_to_f16(static_cast<float>(v)); }
  static S store_i(int64_t v) { return f32_to_f16(static_cast<float>(v)); }
};

struct BHalf {
  using S = uint16_t;
  static constexpr bool kInt = false;
  static double load_f(S v) { return bf16_to_f32(v); }
  static S store_f(double v) { return f32_to_bf16(static_cast<float>(v)); }
  static S store_i(int64_t v) { return f32_to_bf16(static_cast<float>(v)); }
};

struct Bool {
  using S = uint8_t;
  static constexpr bool kInt = true;
  static double load_f(S v) { return v ? 1.0 : 0.0; }
  static int64_t load_i(S v) { return v ? 1 : 0; }
  static S store_f(double v) { return v != 0.0 ? 1 : 0; }
  static S store_i(int64_t v) { return v != 0 ? 1 : 0; }
};

template <typename Src, typename Dst>
void convert(const void* src, void* dst, int64_t n) {
  const auto* s = static_cast<const typename Src::S*>(src);
  auto* d = static_cast<typename Dst::S*>(dst);
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (Src::kInt) {
      d[i] = Dst::store_i(Src::load_i(s[i]));
    } else {
      d[i] = Dst::store_f(Src::load_f(s[i]));
    }
  }
}

// Calls f(Tag{}) with the conversion traits of dtype t.
template <typename F>
bool with_traits(DType t, F&& f) {
  switch (t) {
    case DType::kF32:
      f(Native<float, true>{});
      return true;
    case DType::kF64:
      f(Native<double, true>{});
      return true;
    case DType::kF16:
      f(Half{});
      return true;
    case DType::kBF16:
      f(BHalf{});
      return true;
    case DType::kI8:
      f(Native<int8_t, false>{});
      return true;
    case DType::kU8:
      f(Native<uint8_t, false>{});
      return true;
    case DType::kI32:
      f(Native<int32_t, false>{});
      return true;
    case DType::kI64:
      f(Native<int64_t, false>{});
      return true;
    case DType::kBool:
      f(Bool{});
      return true;
    case DType::kUndefined:
      break;
  }
  return false;
}

bool cast_f16_fast(const Tensor& in, Tensor& out) {
  if (in.dtype() == DType::kF32 && out.dtype() == DType::kF16) {
    f32_to_f16_n(in.data<float>(), out.data<uint16_t>(), in.numel());
    return true;
  }
  if (in.dtype() == DType::kF16 && out.dtype() == DType::kF32) {
    f16_to_f32_n(in.data<uint16_t>(), out.data<float>(), in.numel());
    return true;
  }
  return false;
}

}  // namespace

void ref_Cast(RefArgs& a) {
  const Tensor& in = a.in[0];
  Tensor& out = a.out[0];
  if (in.dtype() == out.dtype()) {
    if (out.raw() != in.raw() && in.nbytes()) std::memcpy(out.raw(), in.raw(), in.nbytes());
    return;
  }
  if (cast_f16_fast(in, out)) return;
  bool ok = false;
  with_traits(in.dtype(), [&](auto src) {
    ok = with_traits(out.dtype(), [&](auto dst) {
      convert<decltype(src), decltype(dst)>(in.raw(), out.raw(), in.numel());
    });
  });
  if (!ok) {
    fail(ErrorCode::kUnsupported, "{}: cast from {} to {} is not supported", kernel_label(a.node),
         dtype_name(in.dtype()), dtype_name(out.dtype()));
  }
}

// The output dtype (input 1's) was set by shape inference; input 1 is not read.
void ref_CastLike(RefArgs& a) { ref_Cast(a); }

}  // namespace shoal
