// QuantizeLinear and DequantizeLinear with one scale and zero point (per tensor), on plain data:
// the loops between a QDQ model's int8 convolutions. Quantize divides in float32 and rounds half
// to even, as ONNX defines it (and the reference does), saturating to uint8/int8 (AVX2: eight at
// a time); NaN quantizes to 0 as in the reference. Dequantize is (q - zero_point) * scale in
// float32, which is the correctly rounded product. Per-axis parameters on activations (rare) take
// the generic kernel.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "backend/cpu/cpu_ops.h"
#include "core/error.h"
#include "core/multiversion.h"

namespace shoal::cpu {
namespace {

constexpr int64_t kChunk = 1 << 14;  // elements per parallel chunk

template <typename Q>
void quantize_scalar(const float* x, Q* y, int64_t n, float scale, float zp) {
  constexpr float lo = std::is_signed_v<Q> ? -128.f : 0.f, hi = std::is_signed_v<Q> ? 127.f : 255.f;
  for (int64_t i = 0; i < n; ++i) {
    float v = std::nearbyint(x[i] / scale) + zp;  // the default rounding mode: half to even
    v = std::min(std::max(v, lo), hi);
    y[i] = x[i] == x[i] ? static_cast<Q>(static_cast<int>(v)) : Q{0};
  }
}

#if defined(__x86_64__)
// Eight at a time: divide, round half to even, add the zero point, clamp, NaN -> 0, narrow.
template <typename Q>
__attribute__((target("avx2"))) void quantize_avx2(const float* x, Q* y, int64_t n, float scale,
                                                   float zp) {
  constexpr float lo = std::is_signed_v<Q> ? -128.f : 0.f, hi = std::is_signed_v<Q> ? 127.f : 255.f;
  const __m256 vs = _mm256_set1_ps(scale), vz = _mm256_set1_ps(zp);
  const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    __m256 q = _mm256_round_ps(_mm256_div_ps(v, vs), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    q = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(q, vz), vlo), vhi);
    q = _mm256_and_ps(q, _mm256_cmp_ps(v, v, _CMP_ORD_Q));  // NaN -> 0
    const __m256i w = _mm256_cvtps_epi32(q);                // exact: q is integral
    const __m128i lo4 = _mm256_castsi256_si128(w), hi4 = _mm256_extracti128_si256(w, 1);
    const __m128i w16 = _mm_packs_epi32(lo4, hi4);
    const __m128i w8 = std::is_signed_v<Q> ? _mm_packs_epi16(w16, w16) : _mm_packus_epi16(w16, w16);
    _mm_storel_epi64(reinterpret_cast<__m128i*>(y + i), w8);
  }
  quantize_scalar(x + i, y + i, n - i, scale, zp);
}
#endif

template <typename Q>
void quantize(const float* x, Q* y, int64_t n, float scale, float zp) {
#if defined(__x86_64__)
  static const bool kAvx2 = __builtin_cpu_supports("avx2");
  if (kAvx2) return quantize_avx2(x, y, n, scale, zp);
#endif
  quantize_scalar(x, y, n, scale, zp);
}

template <typename Q>
SHOAL_MULTIVERSION void dequantize(const Q* q, float* y, int64_t n, float scale, int zp) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(static_cast<int>(q[i]) - zp) * scale;
}

class QuantizeKernel final : public Kernel {
 public:
  QuantizeKernel(bool quantize, DType int_type, int64_t n, float scale, int zp)
      : quantize_(quantize), int_type_(int_type), n_(n), scale_(scale), zp_(zp) {}
  void run(const KernelIO& io) override {
    sync_threads();
    const int64_t chunks = (n_ + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (chunks > 1)
    for (int64_t k = 0; k < chunks; ++k) {
      const int64_t at = k * kChunk, len = std::min(kChunk, n_ - at);
      if (quantize_) {
        const float* x = static_cast<const float*>(io.in[0]) + at;
        if (int_type_ == DType::kU8) {
          quantize(x, static_cast<uint8_t*>(io.out[0]) + at, len, scale_, static_cast<float>(zp_));
        } else {
          quantize(x, static_cast<int8_t*>(io.out[0]) + at, len, scale_, static_cast<float>(zp_));
        }
      } else {
        float* y = static_cast<float*>(io.out[0]) + at;
        if (int_type_ == DType::kU8) {
          dequantize(static_cast<const uint8_t*>(io.in[0]) + at, y, len, scale_, zp_);
        } else {
          dequantize(static_cast<const int8_t*>(io.in[0]) + at, y, len, scale_, zp_);
        }
      }
    }
  }

 private:
  bool quantize_;
  DType int_type_;
  int64_t n_;
  float scale_;
  int zp_;
};

}  // namespace

bool quantize_supported(const OpContext& c, std::string* why) {
  const bool q = c.node.op_type == "QuantizeLinear";
  const DType int_type = q ? c.out[0].dtype : c.in[0].dtype;
  if (int_type != DType::kU8 && int_type != DType::kI8) {
    *why = fmt::format("{} data", dtype_name(int_type));
    return false;
  }
  if ((q ? c.in[0].dtype : c.out[0].dtype) != DType::kF32) {
    *why = "not float32";
    return false;
  }
  const Tensor* s = c.in.size() > 1 ? c.in[1].constant : nullptr;
  const Tensor* z = c.in.size() > 2 && c.in[2].present() ? c.in[2].constant : nullptr;
  if (!s || s->numel() != 1 || (c.in.size() > 2 && c.in[2].present() && (!z || z->numel() != 1))) {
    *why = "per-axis or run-time scale or zero point";
    return false;
  }
  const double sv = s->get_f64(0);
  if (!(sv > 0) || !std::isfinite(sv)) {
    *why = "scale not positive and finite";
    return false;
  }
  return true;
}

KernelBuild build_quantize(const OpContext& c) {
  const bool q = c.node.op_type == "QuantizeLinear";
  const DType int_type = q ? c.out[0].dtype : c.in[0].dtype;
  const float scale = static_cast<float>(c.in[1].constant->get_f64(0));
  const int zp =
      c.in.size() > 2 && c.in[2].present() ? static_cast<int>(c.in[2].constant->get_i64(0)) : 0;
  KernelBuild kb;
  kb.use_input(0);
  kb.kernel = std::make_unique<QuantizeKernel>(q, int_type, num_elements(c.out[0].dims), scale, zp);
  kb.impl = q ? "shoal:quantize" : "shoal:dequantize";
  return kb;
}

}  // namespace shoal::cpu
