// ReduceMean on plain float data, as a hand-written kernel: oneDNN 2.6's reduction primitive has
// only its reference implementation. The reduced axes must be adjacent once size-1 dims are
// dropped (LayerNorm's last axis, a squeeze-excitation block's H and W, a channel mean), so the
// input reads as [outer, len, inner] and the output as [outer, inner]. Sums are kept in double
// (one rounding of the mean, whatever the sign mix of the data); the loops are bound by reading
// the input once. Other axis sets run on the generic kernel.
#include <omp.h>

#include <algorithm>

#include "backend/cpu/cpu_ops.h"
#include "core/error.h"
#include "core/multiversion.h"
#include "graph/op_geometry.h"

namespace shoal::cpu {
namespace {

constexpr int64_t kLanes = 64;  // inner elements per block

struct ReduceShape {
  int64_t outer = 1, len = 1, inner = 1;
};

// The input as [outer, len, inner]; false (with a reason) when the reduced axes are not adjacent
// or are computed at run time.
bool reduce_shape(const OpContext& c, ReduceShape* s, std::string* why) {
  const Tensor* axes = nullptr;
  if (c.in.size() > 1 && c.in[1].present()) {
    if (!c.in[1].constant) {
      *why = "axes computed at run time";
      return false;
    }
    axes = c.in[1].constant;
  }
  const Dims& d = c.in[0].dims;
  const std::vector<bool> mask =
      compute_reduce_axes(c.node, c.opset, axes, static_cast<int64_t>(d.size()), c.label);
  // 0: before the reduced run, 1: in it, 2: after it.
  int part = 0;
  for (size_t i = 0; i < d.size(); ++i) {
    if (d[i] == 1) continue;
    if (mask[i] && part == 2) {
      *why = "reduced axes not adjacent";
      return false;
    }
    if (mask[i]) part = 1;
    if (!mask[i] && part == 1) part = 2;
    int64_t& f = part == 0 ? s->outer : part == 1 ? s->len : s->inner;
    f = checked_mul(f, d[i]);
  }
  return true;
}

// Means of `width` <= kLanes columns of a [len, stride] block.
SHOAL_MULTIVERSION void mean_columns(const float* src, float* dst, int64_t len, int64_t stride,
                                     int64_t width) {
  double acc[kLanes] = {};
  for (int64_t k = 0; k < len; ++k) {
    const float* row = src + k * stride;
    for (int64_t j = 0; j < width; ++j) acc[j] += row[j];
  }
  const double scale = 1.0 / static_cast<double>(len);
  for (int64_t j = 0; j < width; ++j) dst[j] = static_cast<float>(acc[j] * scale);
}

// The mean of `len` contiguous floats.
SHOAL_MULTIVERSION float mean_row(const float* src, int64_t len) {
  double acc[8] = {};
  int64_t k = 0;
  for (; k + 8 <= len; k += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += src[k + j];
  }
  for (; k < len; ++k) acc[0] += src[k];
  double sum = 0;
  for (double a : acc) sum += a;
  return static_cast<float>(sum / static_cast<double>(len));
}

class ReduceMeanKernel final : public Kernel {
 public:
  explicit ReduceMeanKernel(ReduceShape s) : s_(s) {}

  void run(const KernelIO& io) override {
    sync_threads();
    const float* src = static_cast<const float*>(io.in[0]);
    float* dst = static_cast<float*>(io.out[0]);
    const int64_t outer = s_.outer, len = s_.len, inner = s_.inner;
    const bool parallel = outer * len * inner > 32768;
    if (inner == 1) {
#pragma omp parallel for schedule(static) if (parallel)
      for (int64_t o = 0; o < outer; ++o) dst[o] = mean_row(src + o * len, len);
      return;
    }
    const int64_t blocks = (inner + kLanes - 1) / kLanes;
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t t = 0; t < outer * blocks; ++t) {
      const int64_t o = t / blocks, b = t % blocks;
      mean_columns(src + o * len * inner + b * kLanes, dst + o * inner + b * kLanes, len, inner,
                   std::min(kLanes, inner - b * kLanes));
    }
  }

 private:
  ReduceShape s_;
};

}  // namespace

bool reduce_mean_supported(const OpContext& c, std::string* why) {
  if (c.in.empty() || !c.in[0].present() || c.in[0].dtype != DType::kF32 ||
      c.out[0].dtype != DType::kF32) {
    *why = "non-float32 data";  // the axes input (opset 18) is int64
    return false;
  }
  if (!c.node.post_ops.empty()) {
    *why = "fused post-ops";
    return false;
  }
  ReduceShape s;
  return reduce_shape(c, &s, why);
}

KernelBuild build_reduce_mean(const OpContext& c) {
  require_f32(c);
  ReduceShape s;
  std::string why;
  if (!reduce_shape(c, &s, &why)) fail(ErrorCode::kInvalidModel, "{}: {}", c.label, why);
  KernelBuild kb;
  kb.inputs = {0};
  kb.kernel = std::make_unique<ReduceMeanKernel>(s);
  kb.impl = "shoal:reduce_mean";
  kb.flops =
      static_cast<double>(s.outer) * static_cast<double>(s.len) * static_cast<double>(s.inner);
  return kb;
}

}  // namespace shoal::cpu
