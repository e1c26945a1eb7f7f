// Softmax and LogSoftmax on plain data. Over the innermost axis (and the pre-opset-13 flattened
// form) oneDNN's softmax_v2 runs; over an outer axis (YOLO's DFL: [1,16,4,8400] on axis 1) oneDNN
// 2.6 only has a reference implementation (~35 ms), so a hand-written kernel vectorised across the
// inner dimension runs instead: max, exp and sum per inner lane, three passes over L1-sized
// blocks, with a Cody-Waite + polynomial expf (max error ~2 ulp) that compiles to SIMD.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "backend/cpu/cpu_ops.h"
#include "core/error.h"
#include "core/multiversion.h"

namespace shoal::cpu {
namespace {

constexpr int64_t kLanes = 64;  // inner elements per block

// expf for x in float range: 2^n * p(r), r = x - n ln2 in [-ln2/2, ln2/2] (Cephes coefficients).
// n is read from the bits of fx + 1.5 * 2^23, not converted from float: a NaN input (a model's
// data can hold NaN) then gives NaN, where a float-to-int conversion would be undefined.
inline float exp_poly(float x) {
  x = std::min(std::max(x, -87.33654f), 88.72283f);
  float fx = x * 1.44269504088896341f;
  const float shifted = fx + 12582912.f;  // 1.5 * 2^23: rounds fx to an integer (|fx| < 2^22)
  float n = shifted - 12582912.f;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  uint32_t e;
  std::memcpy(&e, &shifted, sizeof e);
  e = (e - 0x4B400000u + 127u) << 23;  // shifted's low mantissa bits hold n
  float scale;
  std::memcpy(&scale, &e, sizeof scale);
  return p * scale;
}

// One block: `len` softmax positions (stride `stride`) for `width` <= kLanes inner lanes.
SHOAL_MULTIVERSION void softmax_block(
    const float* src, float* dst, int64_t len, int64_t stride, int64_t width, bool log) {
  float m[kLanes], s[kLanes];
  for (int64_t j = 0; j < width; ++j) m[j] = src[j];
  for (int64_t k = 1; k < len; ++k) {
    const float* row = src + k * stride;
    for (int64_t j = 0; j < width; ++j) m[j] = row[j] > m[j] ? row[j] : m[j];  // vmaxps
  }
  for (int64_t j = 0; j < width; ++j) s[j] = 0.f;
  for (int64_t k = 0; k < len; ++k) {
    const float* row = src + k * stride;
    float* out = dst + k * stride;
    for (int64_t j = 0; j < width; ++j) {
      float e = exp_poly(row[j] - m[j]);
      s[j] += e;
      if (!log) out[j] = e;
    }
  }
  if (log) {
    for (int64_t j = 0; j < width; ++j) s[j] = m[j] + std::log(s[j]);
    for (int64_t k = 0; k < len; ++k) {
      const float* row = src + k * stride;
      float* out = dst + k * stride;
      for (int64_t j = 0; j < width; ++j) out[j] = row[j] - s[j];
    }
    return;
  }
  for (int64_t j = 0; j < width; ++j) s[j] = 1.f / s[j];
  for (int64_t k = 0; k < len; ++k) {
    float* out = dst + k * stride;
    for (int64_t j = 0; j < width; ++j) out[j] *= s[j];
  }
}

class OuterAxisSoftmax final : public Kernel {
 public:
  OuterAxisSoftmax(int64_t outer, int64_t len, int64_t inner, bool log)
      : outer_(outer), len_(len), inner_(inner), log_(log) {}

  void run(const KernelIO& io) override {
    sync_threads();
    const float* src = static_cast<const float*>(io.in[0]);
    float* dst = static_cast<float*>(io.out[0]);
    const int64_t blocks = (inner_ + kLanes - 1) / kLanes;
    const int64_t total = outer_ * blocks;
#pragma omp parallel for schedule(static) if (total * len_ * kLanes > 32768)
    for (int64_t t = 0; t < total; ++t) {
      int64_t o = t / blocks, b = t % blocks;
      int64_t off = o * len_ * inner_ + b * kLanes;
      softmax_block(src + off, dst + off, len_, inner_, std::min(kLanes, inner_ - b * kLanes),
                    log_);
    }
  }

 private:
  int64_t outer_, len_, inner_;
  bool log_;
};

struct SoftmaxShape {
  int64_t outer = 1, len = 1, inner = 1;
};

SoftmaxShape softmax_shape(const OpContext& c) {
  const Dims& d = c.in[0].dims;
  const int64_t rank = static_cast<int64_t>(d.size());
  SoftmaxShape s;
  if (rank == 0) return s;
  if (c.opset < 13) {
    // Coerced to 2-D at `axis` (default 1): softmax over everything from axis on.
    int64_t axis = c.node.attr_int("axis", 1);
    if (axis < 0) axis += rank;
    axis = std::clamp<int64_t>(axis, 0, rank);
    for (int64_t i = 0; i < axis; ++i) s.outer *= d[static_cast<size_t>(i)];
    for (int64_t i = axis; i < rank; ++i) s.len *= d[static_cast<size_t>(i)];
    return s;
  }
  int64_t axis = c.node.attr_int("axis", -1);
  if (axis < 0) axis += rank;
  for (int64_t i = 0; i < axis; ++i) s.outer *= d[static_cast<size_t>(i)];
  s.len = d[static_cast<size_t>(axis)];
  for (int64_t i = axis + 1; i < rank; ++i) s.inner *= d[static_cast<size_t>(i)];
  return s;
}

}  // namespace

bool softmax_supported(const OpContext& c, std::string* why) {
  if (!all_f32(c, why)) return false;
  if (!c.node.post_ops.empty()) {
    *why = "fused post-ops";
    return false;
  }
  int64_t rank = static_cast<int64_t>(c.in[0].dims.size());
  int64_t axis = c.node.attr_int("axis", c.opset < 13 ? 1 : -1);
  if (rank == 0 || axis < -rank || axis >= rank + (c.opset < 13 ? 1 : 0)) {
    *why = "axis out of range";
    return false;
  }
  return true;
}

KernelBuild build_softmax(const OpContext& c) {
  require_f32(c);
  SoftmaxShape s = softmax_shape(c);
  const bool log = c.node.op_type == "LogSoftmax";
  KernelBuild kb;
  kb.inputs = {0};
  kb.in_place = true;
  if (s.inner > 1) {
    kb.kernel = std::make_unique<OuterAxisSoftmax>(s.outer, s.len, s.inner, log);
    kb.impl = "shoal:outer_axis";
    return kb;
  }
  dnnl::memory::desc md = make_md(c.precision, {s.outer, s.len}, Layout::kPlain);
  dnnl::softmax_v2_forward::desc d(
      dnnl::prop_kind::forward_inference,
      log ? dnnl::algorithm::softmax_log : dnnl::algorithm::softmax_accurate, md, md, 1);
  dnnl::softmax_v2_forward::primitive_desc pd(d, user_scratchpad_attr(), dnnl_engine());
  auto k = std::make_unique<DnnlKernel>();
  k->add(dnnl::softmax_v2_forward(pd), pd,
         {{DNNL_ARG_SRC, k->input(0, md)}, {DNNL_ARG_DST, k->output(0, md)}});
  kb.set_dnnl(std::move(k));
  return kb;
}

}  // namespace shoal::cpu
