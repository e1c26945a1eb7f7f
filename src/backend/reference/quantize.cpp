// Reference QuantizeLinear (round half to even, saturate to int8/uint8) and DequantizeLinear, with
// a per-tensor or per-axis scale and zero point.
#include <cmath>
#include <vector>

#include "backend/reference/ref_util.h"

namespace shoal {

using namespace ref;

namespace {

// For element i of x: the index into a per-axis parameter (0 when it holds one value).
struct ParamIndex {
  int64_t inner = 1, len = 1;
  bool per_axis = false;
  ParamIndex(const RefArgs& a, const Tensor& x) {
    const Dims& d = x.dims();
    const bool any = (a.in.size() > 1 && a.in[1].numel() > 1) ||
                     (a.in.size() > 2 && a.in[2].defined() && a.in[2].numel() > 1);
    if (!any || d.empty()) return;
    const size_t ax = static_cast<size_t>(
        norm_axis(a.node, a.node.attr_int("axis", 1), static_cast<int64_t>(d.size())));
    per_axis = true;
    len = d[ax];
    inner = dims_product(d, ax + 1, d.size());
  }
  size_t operator()(int64_t i, const Tensor& p) const {
    return per_axis && p.numel() > 1 ? static_cast<size_t>((i / inner) % len) : 0;
  }
};

}  // namespace

void ref_QuantizeLinear(RefArgs& a) {
  const Tensor& x = input(a, 0);
  const Tensor& scale = input(a, 1);
  const bool has_zp = a.in.size() > 2 && a.in[2].defined();
  Tensor& out = a.out[0];
  const std::vector<double> xv = read_f64(x), sv = read_f64(scale);
  const std::vector<int64_t> zv = has_zp ? read_i64(a.in[2]) : std::vector<int64_t>{0};
  const Tensor& zp_shape = has_zp ? a.in[2] : scale;
  const ParamIndex at(a, x);
  const bool s8 = out.dtype() == DType::kI8;
  const bool single = x.dtype() != DType::kF64;
  const double lo = s8 ? -128 : 0, hi = s8 ? 127 : 255;
  std::vector<int64_t> r(xv.size());
  for (size_t i = 0; i < xv.size(); ++i) {
    const int64_t e = static_cast<int64_t>(i);
    // The quotient is rounded to x's precision first, as ONNX defines it (a float32 x / scale
    // that lands on .5 rounds to even; the exact quotient may not).
    const double s_i = sv[at(e, scale)];
    const double quotient =
        single ? static_cast<double>(static_cast<float>(xv[i]) / static_cast<float>(s_i))
               : xv[i] / s_i;
    const double q =
        std::nearbyint(quotient) + static_cast<double>(zv[has_zp ? at(e, zp_shape) : 0]);
    r[i] = static_cast<int64_t>(std::isnan(q) ? 0 : std::fmin(hi, std::fmax(lo, q)));
  }
  write_i64(out, r);
}

void ref_DequantizeLinear(RefArgs& a) {
  const Tensor& x = input(a, 0);
  const Tensor& scale = input(a, 1);
  const bool has_zp = a.in.size() > 2 && a.in[2].defined();
  const std::vector<int64_t> xv = read_i64(x);
  const std::vector<double> sv = read_f64(scale);
  const std::vector<int64_t> zv = has_zp ? read_i64(a.in[2]) : std::vector<int64_t>{0};
  const Tensor& zp_shape = has_zp ? a.in[2] : scale;
  const ParamIndex at(a, x);
  std::vector<double> r(xv.size());
  for (size_t i = 0; i < xv.size(); ++i) {
    const int64_t e = static_cast<int64_t>(i);
    r[i] = static_cast<double>(xv[i] - zv[has_zp ? at(e, zp_shape) : 0]) * sv[at(e, scale)];
  }
  write_f64(a.out[0], r);
}

// DynamicQuantizeLinear as ONNX Runtime computes it: the range [min(x, 0), max(x, 0)] over 255
// steps (scale 1 when the range is empty), zero point = saturate(round(-min / scale)), then
// y = saturate(round(x / scale) + zero_point), rounding half to even in float32.
void ref_DynamicQuantizeLinear(RefArgs& a) {
  const Tensor& x = input(a, 0);
  const std::vector<double> xv = read_f64(x);
  float lo = 0.f, hi = 0.f;
  for (double v : xv) {
    if (std::isnan(v)) continue;
    lo = std::min(lo, static_cast<float>(v));
    hi = std::max(hi, static_cast<float>(v));
  }
  const float scale = hi == lo ? 1.f : (hi - lo) / 255.f;
  const float zp = std::fmin(255.f, std::fmax(0.f, std::nearbyint(-lo / scale)));
  std::vector<int64_t> q(xv.size());
  for (size_t i = 0; i < xv.size(); ++i) {
    const float v = std::nearbyint(static_cast<float>(xv[i]) / scale) + zp;
    q[i] = std::isnan(v) ? 0 : static_cast<int64_t>(std::fmin(255.f, std::fmax(0.f, v)));
  }
  write_i64(a.out[0], q);
  if (a.out.size() > 1 && a.out[1].defined()) a.out[1].set_f64(0, scale);
  if (a.out.size() > 2 && a.out[2].defined()) a.out[2].set_f64(0, zp);
}

}  // namespace shoal
