// Reference Resize (opsets 10-19) and Upsample (7-9) over any rank: nearest (four rounding
// modes), N-D linear and cubic (cubic_coeff_a, exclude_outside, antialias), every
// coordinate_transformation_mode including tf_crop_and_resize with extrapolation.
// Interpolation is separable, so it runs one axis at a time: for each output coordinate a short
// list of (input index, weight) taps, computed once per axis, applied to every line along that
// axis. Follows the ONNX reference implementation, including its use of the fractional output
// length (scale * input length) in align_corners, pytorch_half_pixel and tf_crop_and_resize.
// Resize-10 and Upsample use asymmetric coordinates and, for nearest, ONNX Runtime's rounding
// (floor when upsampling, ceil when downsampling).
#include <cmath>
#include <string>
#include <vector>

#include "backend/reference/ref_util.h"

namespace shoal {

using namespace ref;

namespace {

enum class Mode { kNearest, kLinear, kCubic };

struct Taps {
  std::vector<int64_t> begin;  // out_len + 1 offsets into idx/w
  std::vector<int64_t> idx;
  std::vector<double> w;
  std::vector<uint8_t> extrapolate;  // per output coordinate (tf_crop_and_resize)
};

struct AxisParams {
  Mode mode;
  std::string coord;    // coordinate_transformation_mode
  std::string nearest;  // nearest_mode, "simple" for Resize-10 / Upsample
  double cubic_a;
  bool exclude_outside;
  bool antialias;
};

double cubic_weight(double s, double A) {
  s = std::fabs(s);
  if (s <= 1) return ((A + 2) * s - (A + 3)) * s * s + 1;
  if (s < 2) return ((A * s - 5 * A) * s + 8 * A) * s - 4 * A;
  return 0.0;
}

double original_coordinate(const AxisParams& p, double x, double scale, int64_t in_len,
                           int64_t out_len, double roi_start, double roi_end) {
  const double out_w = scale * static_cast<double>(in_len);  // fractional output length
  const double in_d = static_cast<double>(in_len);
  const std::string& c = p.coord;
  if (c == "half_pixel") return (x + 0.5) / scale - 0.5;
  if (c == "asymmetric") return x / scale;
  if (c == "align_corners") return out_w == 1 ? 0.0 : x * (in_d - 1) / (out_w - 1);
  if (c == "pytorch_half_pixel") return out_w > 1 ? (x + 0.5) / scale - 0.5 : 0.0;
  if (c == "tf_half_pixel_for_nn") return (x + 0.5) / scale;
  if (c == "half_pixel_symmetric") {
    const double adjustment = static_cast<double>(out_len) / out_w;
    const double offset = in_d / 2 * (1 - adjustment);
    return offset + (x + 0.5) / scale - 0.5;
  }
  // tf_crop_and_resize
  if (out_w == 1) return (roi_end - roi_start) * (in_d - 1) / 2 + roi_start * (in_d - 1);
  return x * (roi_end - roi_start) * (in_d - 1) / (out_w - 1) + roi_start * (in_d - 1);
}

Taps make_taps(const AxisParams& p, int64_t in_len, int64_t out_len, double scale, double roi_start,
               double roi_end) {
  Taps t;
  t.begin.reserve(static_cast<size_t>(out_len) + 1);
  t.extrapolate.assign(static_cast<size_t>(out_len), 0);
  auto clamp = [&](int64_t i) { return std::min(std::max<int64_t>(i, 0), in_len - 1); };
  for (int64_t o = 0; o < out_len; ++o) {
    t.begin.push_back(static_cast<int64_t>(t.idx.size()));
    const double x =
        original_coordinate(p, static_cast<double>(o), scale, in_len, out_len, roi_start, roi_end);
    if (p.coord == "tf_crop_and_resize" && (x < 0 || x > static_cast<double>(in_len - 1))) {
      t.extrapolate[o] = 1;
      continue;
    }
    const double fl = std::floor(x);
    const int64_t i0 = static_cast<int64_t>(fl);
    const double r = x - fl;  // in [0, 1)
    if (p.mode == Mode::kNearest) {
      int64_t i = i0;
      if (p.nearest == "simple") {
        i = scale < 1 ? static_cast<int64_t>(std::ceil(x)) : i0;
      } else if (p.nearest == "round_prefer_floor") {
        i = r <= 0.5 ? i0 : i0 + 1;
      } else if (p.nearest == "round_prefer_ceil") {
        i = r < 0.5 ? i0 : i0 + 1;
      } else if (p.nearest == "ceil") {
        i = r > 0 ? i0 + 1 : i0;
      }
      t.idx.push_back(clamp(i));
      t.w.push_back(1.0);
      continue;
    }
    // Linear / cubic taps at offsets [first, last] from i0, weights from the distance.
    const double s = p.antialias ? std::min(scale, 1.0) : 1.0;
    int64_t first, last;
    if (p.mode == Mode::kLinear) {
      first = p.antialias ? static_cast<int64_t>(std::floor(-1 / s)) + 1 : 0;
      last = 1 - first;
    } else {
      first = p.antialias ? static_cast<int64_t>(std::floor(-2 / s)) + 1 : -1;
      last = 1 - first;
    }
    const size_t at = t.idx.size();
    double sum = 0;
    for (int64_t k = first; k <= last; ++k) {
      const double d = (static_cast<double>(k) - r) * s;
      double w =
          p.mode == Mode::kLinear ? std::max(0.0, 1 - std::fabs(d)) : cubic_weight(d, p.cubic_a);
      const int64_t i = i0 + k;
      if (p.exclude_outside && (i < 0 || i >= in_len)) w = 0;
      t.idx.push_back(clamp(i));
      t.w.push_back(w);
      sum += w;
    }
    if (p.antialias || p.exclude_outside) {
      for (size_t k = at; k < t.w.size(); ++k) t.w[k] = sum != 0 ? t.w[k] / sum : 0;
    }
  }
  t.begin.push_back(static_cast<int64_t>(t.idx.size()));
  return t;
}

void resize(RefArgs& a, bool upsample) {
  const Node& node = a.node;
  const Tensor& x = input(a, 0);
  Tensor& y = a.out[0];
  if (!dtype_is_float(x.dtype()) && !is_int_dtype(x.dtype())) fail_dtype(node, x.dtype());
  auto input = [&](int i) -> const Tensor* {
    return static_cast<int>(a.in.size()) > i && a.in[i].defined() ? &a.in[i] : nullptr;
  };
  const bool legacy = upsample || a.opset < 11;
  const Tensor* roi = legacy ? nullptr : input(1);
  const Tensor* scales = legacy ? (upsample && a.opset < 9 ? nullptr : input(1)) : input(2);
  const Tensor* sizes = legacy ? nullptr : input(3);
  const ResizeGeometry geo =
      compute_resize_geometry(node, a.opset, x.dims(), roi, scales, sizes, op_label(node));
  if (geo.out != y.dims()) {
    fail(ErrorCode::kInternal, "{}: output {} does not match the computed size {}", op_label(node),
         dims_str(y.dims()), dims_str(geo.out));
  }

  AxisParams p;
  const std::string mode = node.attr_string("mode", "nearest");
  if (mode == "nearest") {
    p.mode = Mode::kNearest;
  } else if (mode == "linear" || mode == "bilinear") {
    p.mode = Mode::kLinear;
  } else if (mode == "cubic" && !legacy) {
    p.mode = Mode::kCubic;
  } else {
    fail(ErrorCode::kUnsupported, "{}: mode '{}' is not supported", op_label(node), mode);
  }
  p.coord =
      legacy ? "asymmetric" : node.attr_string("coordinate_transformation_mode", "half_pixel");
  static const char* kCoords[] = {
      "half_pixel",           "asymmetric",         "align_corners",       "pytorch_half_pixel",
      "tf_half_pixel_for_nn", "tf_crop_and_resize", "half_pixel_symmetric"};
  bool known = false;
  for (const char* c : kCoords) known |= p.coord == c;
  if (!known) {
    fail(ErrorCode::kUnsupported, "{}: coordinate_transformation_mode '{}' is not supported",
         op_label(node), p.coord);
  }
  p.nearest = legacy ? "simple" : node.attr_string("nearest_mode", "round_prefer_floor");
  if (p.nearest != "simple" && p.nearest != "round_prefer_floor" &&
      p.nearest != "round_prefer_ceil" && p.nearest != "floor" && p.nearest != "ceil") {
    fail(ErrorCode::kUnsupported, "{}: nearest_mode '{}' is not supported", op_label(node),
         p.nearest);
  }
  p.cubic_a = node.attr_float("cubic_coeff_a", -0.75f);
  p.exclude_outside = !legacy && node.attr_int("exclude_outside", 0) != 0;
  p.antialias =
      !legacy && a.opset >= 18 && node.attr_int("antialias", 0) != 0 && p.mode != Mode::kNearest;
  const double extrapolation = node.attr_float("extrapolation_value", 0.0f);

  Dims cur = x.dims();
  std::vector<double> v = read_f64(x);
  for (size_t ax = 0; ax < cur.size(); ++ax) {
    const int64_t in_len = cur[ax], out_len = geo.out[ax];
    const double scale = geo.scale[ax];
    if (in_len == out_len && scale == 1.0 && p.coord != "tf_crop_and_resize") continue;
    const int64_t outer = dims_product(cur, 0, ax);
    const int64_t inner = dims_product(cur, ax + 1, cur.size());
    std::vector<double> next(static_cast<size_t>(outer * out_len * inner), 0.0);
    if (in_len == 0 || out_len == 0) {
      cur[ax] = out_len;
      v.swap(next);
      continue;
    }
    const Taps t = make_taps(p, in_len, out_len, scale, geo.roi_start[ax], geo.roi_end[ax]);
    for (int64_t b = 0; b < outer; ++b) {
      const double* src = v.data() + b * in_len * inner;
      double* dst = next.data() + b * out_len * inner;
      for (int64_t o = 0; o < out_len; ++o) {
        double* d = dst + o * inner;
        if (t.extrapolate[o]) {
          std::fill(d, d + inner, extrapolation);
          continue;
        }
        for (int64_t k = t.begin[o]; k < t.begin[o + 1]; ++k) {
          const double w = t.w[k];
          if (w == 0) continue;
          const double* s = src + t.idx[k] * inner;
          for (int64_t j = 0; j < inner; ++j) d[j] += w * s[j];
        }
      }
    }
    cur[ax] = out_len;
    v.swap(next);
  }
  write_f64(y, v);
}

}  // namespace

void ref_Resize(RefArgs& a) { resize(a, false); }
void ref_Upsample(RefArgs& a) { resize(a, true); }

}  // namespace shoal
