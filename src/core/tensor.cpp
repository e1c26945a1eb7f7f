#include "core/tensor.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace shoal {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid argument";
    case ErrorCode::kInvalidModel:
      return "invalid model";
    case ErrorCode::kUnsupported:
      return "unsupported";
    case ErrorCode::kNotFound:
      return "not found";
    case ErrorCode::kLimit:
      return "limit exceeded";
    case ErrorCode::kOutOfMemory:
      return "out of memory";
    case ErrorCode::kInternal:
      return "internal error";
  }
  return "error";
}

int64_t checked_mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) fail(ErrorCode::kLimit, "size overflow: {} * {}", a, b);
  return r;
}

int64_t checked_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) fail(ErrorCode::kLimit, "size overflow: {} + {}", a, b);
  return r;
}

size_t dtype_size(DType t) {
  switch (t) {
    case DType::kF32:
    case DType::kI32:
      return 4;
    case DType::kF64:
    case DType::kI64:
      return 8;
    case DType::kF16:
    case DType::kBF16:
      return 2;
    case DType::kI8:
    case DType::kU8:
    case DType::kBool:
      return 1;
    case DType::kUndefined:
      return 0;
  }
  return 0;
}

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::kF32:
      return "float32";
    case DType::kF64:
      return "float64";
    case DType::kF16:
      return "float16";
    case DType::kBF16:
      return "bfloat16";
    case DType::kI8:
      return "int8";
    case DType::kU8:
      return "uint8";
    case DType::kI32:
      return "int32";
    case DType::kI64:
      return "int64";
    case DType::kBool:
      return "bool";
    case DType::kUndefined:
      return "undefined";
  }
  return "undefined";
}

bool dtype_is_float(DType t) {
  return t == DType::kF32 || t == DType::kF64 || t == DType::kF16 || t == DType::kBF16;
}

int64_t num_elements(const Dims& dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) fail(ErrorCode::kInvalidModel, "negative dimension in shape {}", dims_str(dims));
    n = checked_mul(n, d);
  }
  return n;
}

std::string dims_str(const Dims& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(dims[i]);
  }
  return s + "]";
}

Tensor::Tensor(DType dtype, Dims dims) : dtype_(dtype), dims_(std::move(dims)) {
  numel_ = num_elements(dims_);
  int64_t bytes = checked_mul(numel_, static_cast<int64_t>(dtype_size(dtype)));
  if (bytes > kMaxTensorBytes) {
    fail(ErrorCode::kLimit, "tensor {} of {} needs {} bytes, above the limit of {}",
         dims_str(dims_), dtype_name(dtype), bytes, kMaxTensorBytes);
  }
  size_t alloc = (static_cast<size_t>(bytes) + 63) / 64 * 64;
  if (alloc == 0) alloc = 64;
  void* p = std::aligned_alloc(64, alloc);
  if (!p) fail(ErrorCode::kOutOfMemory, "cannot allocate {} bytes", alloc);
  std::memset(p, 0, alloc);
  storage_ = std::shared_ptr<void>(p, [](void* q) { std::free(q); });
  data_ = p;
}

Tensor Tensor::borrow(DType dtype, Dims dims, void* data) {
  Tensor t;
  t.dtype_ = dtype;
  t.dims_ = std::move(dims);
  t.numel_ = num_elements(t.dims_);
  t.data_ = data;
  return t;
}

Tensor Tensor::reshaped(Dims dims) const {
  Tensor t = *this;
  int64_t n = num_elements(dims);
  if (n != numel_) {
    fail(ErrorCode::kInternal, "reshape {} -> {} changes the element count", dims_str(dims_),
         dims_str(dims));
  }
  t.dims_ = std::move(dims);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t(dtype_, dims_);
  if (nbytes()) std::memcpy(t.data_, data_, nbytes());
  return t;
}

double Tensor::get_f64(int64_t i) const {
  switch (dtype_) {
    case DType::kF32:
      return data<float>()[i];
    case DType::kF64:
      return data<double>()[i];
    case DType::kF16:
      return f16_to_f32(data<uint16_t>()[i]);
    case DType::kBF16:
      return bf16_to_f32(data<uint16_t>()[i]);
    case DType::kI8:
      return data<int8_t>()[i];
    case DType::kU8:
      return data<uint8_t>()[i];
    case DType::kI32:
      return data<int32_t>()[i];
    case DType::kI64:
      return static_cast<double>(data<int64_t>()[i]);
    case DType::kBool:
      return data<uint8_t>()[i] ? 1.0 : 0.0;
    case DType::kUndefined:
      break;
  }
  fail(ErrorCode::kInternal, "read from an undefined tensor");
}

int64_t Tensor::get_i64(int64_t i) const {
  switch (dtype_) {
    case DType::kI64:
      return data<int64_t>()[i];
    case DType::kI32:
      return data<int32_t>()[i];
    case DType::kI8:
      return data<int8_t>()[i];
    case DType::kU8:
      return data<uint8_t>()[i];
    case DType::kBool:
      return data<uint8_t>()[i] ? 1 : 0;
    default: {
      double v = get_f64(i);
      if (!std::isfinite(v) || std::fabs(v) > 9.2e18) return 0;
      return static_cast<int64_t>(v);
    }
  }
}

void Tensor::set_f64(int64_t i, double v) {
  switch (dtype_) {
    case DType::kF32:
      data<float>()[i] = static_cast<float>(v);
      return;
    case DType::kF64:
      data<double>()[i] = v;
      return;
    case DType::kF16:
      data<uint16_t>()[i] = f32_to_f16(static_cast<float>(v));
      return;
    case DType::kBF16:
      data<uint16_t>()[i] = f32_to_bf16(static_cast<float>(v));
      return;
    default:
      break;
  }
  // Integer and bool targets: truncate toward zero, saturating to avoid UB.
  double c = std::isfinite(v) ? std::trunc(v) : 0.0;
  switch (dtype_) {
    case DType::kI8:
      data<int8_t>()[i] =
          static_cast<int8_t>(static_cast<int64_t>(std::fmax(-128, std::fmin(127, c))));
      return;
    case DType::kU8:
      data<uint8_t>()[i] =
          static_cast<uint8_t>(static_cast<int64_t>(std::fmax(0, std::fmin(255, c))));
      return;
    case DType::kI32:
      data<int32_t>()[i] =
          static_cast<int32_t>(std::fmax(-2147483648.0, std::fmin(2147483647.0, c)));
      return;
    case DType::kI64:
      data<int64_t>()[i] = static_cast<int64_t>(std::fmax(-9.2e18, std::fmin(9.2e18, c)));
      return;
    case DType::kBool:
      data<uint8_t>()[i] = v != 0.0;
      return;
    default:
      fail(ErrorCode::kInternal, "write to an undefined tensor");
  }
}

std::vector<int64_t> Tensor::to_i64_vector() const {
  std::vector<int64_t> v(static_cast<size_t>(numel_));
  for (int64_t i = 0; i < numel_; ++i) v[static_cast<size_t>(i)] = get_i64(i);
  return v;
}

Tensor cast_tensor(const Tensor& t, DType to) {
  Tensor r(to, t.dims());
  if (t.dtype() == DType::kF32 && to == DType::kF16) {
    f32_to_f16_n(t.data<float>(), r.data<uint16_t>(), t.numel());
    return r;
  }
  if (t.dtype() == DType::kF16 && to == DType::kF32) {
    f16_to_f32_n(t.data<uint16_t>(), r.data<float>(), t.numel());
    return r;
  }
  bool int_src = !dtype_is_float(t.dtype());
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (int_src && to == DType::kI64) {
      r.data<int64_t>()[i] = t.get_i64(i);
    } else {
      r.set_f64(i, t.get_f64(i));
    }
  }
  return r;
}

float bf16_to_f32(uint16_t v) {
  uint32_t u = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_bf16(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  if (std::isnan(v)) return 0x7fc0;
  u += 0x7fff + ((u >> 16) & 1);  // round to nearest even
  return static_cast<uint16_t>(u >> 16);
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t u;
  if (exp == 0) {
    if (mant == 0) {
      u = sign;
    } else {  // subnormal
      exp = 127 - 15 + 1;
      while (!(mant & 0x400)) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ff;
      u = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | (mant << 13);
  } else {
    u = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint32_t sign = (u >> 16) & 0x8000u;
  int32_t exp = static_cast<int32_t>((u >> 23) & 0xff) - 127 + 15;
  uint32_t mant = u & 0x7fffff;
  if (((u >> 23) & 0xff) == 0xff) return static_cast<uint16_t>(sign | 0x7c00 | (mant ? 0x200 : 0));
  if (exp >= 31) return static_cast<uint16_t>(sign | 0x7c00);
  if (exp <= 0) {
    if (exp < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000;
    uint32_t shift = static_cast<uint32_t>(14 - exp);
    uint32_t half = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = sign | (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) ++half;
  return static_cast<uint16_t>(half);
}

namespace {

#if defined(__x86_64__)
__attribute__((target("avx,f16c"))) void f32_to_f16_f16c(const float* s, uint16_t* d, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(s + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i), h);
  }
  for (; i < n; ++i) d[i] = f32_to_f16(s[i]);
}

__attribute__((target("avx,f16c"))) void f16_to_f32_f16c(const uint16_t* s, float* d, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
    _mm256_storeu_ps(d + i, _mm256_cvtph_ps(h));
  }
  for (; i < n; ++i) d[i] = f16_to_f32(s[i]);
}

// Every AVX2 CPU has F16C; clang 14 does not know the "f16c" feature name.
bool has_f16c() {
  static const bool kHas = __builtin_cpu_supports("avx2");
  return kHas;
}
#endif

}  // namespace

void f32_to_f16_n(const float* src, uint16_t* dst, int64_t n) {
#if defined(__x86_64__)
  if (has_f16c()) return f32_to_f16_f16c(src, dst, n);
#endif
  for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_f16(src[i]);
}

void f16_to_f32_n(const uint16_t* src, float* dst, int64_t n) {
#if defined(__x86_64__)
  if (has_f16c()) return f16_to_f32_f16c(src, dst, n);
#endif
  for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}

}  // namespace shoal
