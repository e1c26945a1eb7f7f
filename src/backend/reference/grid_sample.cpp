// Reference GridSample on 4-D inputs: each output pixel samples X at the grid's normalised (x, y)
// in [-1, 1] (align_corners picks whether -1/1 are the corner pixels' centres or edges), by
// nearest (round half to even), bilinear or bicubic (A = -0.75) interpolation; pixels outside
// read as zero, the border value, or the reflection (padding_mode). Opset 20's mode names
// (linear, cubic) are accepted too.
#include <cmath>
#include <string>
#include <vector>

#include "backend/reference/ref_util.h"

namespace shoal {

using namespace ref;

namespace {

enum class Pad { kZeros, kBorder, kReflection };

// x reflected into [lo, hi] (repeatedly, as a mirror).
double reflect(double x, double lo, double hi) {
  const double range = hi - lo;
  if (range <= 0) return lo;
  if (x < lo) {
    const double dx = lo - x;
    const double n = std::floor(dx / range), r = dx - n * range;
    return std::fmod(n, 2.0) == 0 ? lo + r : hi - r;
  }
  if (x > hi) {
    const double dx = x - hi;
    const double n = std::floor(dx / range), r = dx - n * range;
    return std::fmod(n, 2.0) == 0 ? hi - r : lo + r;
  }
  return x;
}

void cubic_weights(double t, double w[4]) {
  const double A = -0.75;
  auto near = [&](double d) { return ((A + 2) * d - (A + 3)) * d * d + 1; };
  auto far = [&](double d) { return ((A * d - 5 * A) * d + 8 * A) * d - 4 * A; };
  w[0] = far(t + 1);
  w[1] = near(t);
  w[2] = near(1 - t);
  w[3] = far(2 - t);
}

}  // namespace

void ref_GridSample(RefArgs& a) {
  const Node& node = a.node;
  const Tensor& x = input(a, 0);
  const Tensor& grid = input(a, 1);
  if (!dtype_is_float(x.dtype())) fail_dtype(node, x.dtype());
  const Dims& xd = x.dims();
  const Dims& gd = grid.dims();
  const int64_t n = xd[0], ch = xd[1], h = xd[2], w = xd[3];
  const int64_t oh = gd[1], ow = gd[2];
  const std::string mode = node.attr_string("mode", a.opset >= 20 ? "linear" : "bilinear");
  const std::string pm = node.attr_string("padding_mode", "zeros");
  const bool align = node.attr_int("align_corners", 0) != 0;
  const Pad pad = pm == "border"       ? Pad::kBorder
                  : pm == "reflection" ? Pad::kReflection
                                       : Pad::kZeros;
  const bool nearest = mode == "nearest";
  const bool cubic = mode == "bicubic" || mode == "cubic";
  // Reflection bounds: pixel centres with align_corners, else the image edges.
  const double x_lo = align ? 0 : -0.5, x_hi = align ? w - 1 : w - 0.5;
  const double y_lo = align ? 0 : -0.5, y_hi = align ? h - 1 : h - 0.5;
  auto denorm = [&](double v, int64_t len) {
    return align ? (v + 1) / 2 * static_cast<double>(len - 1)
                 : ((v + 1) * static_cast<double>(len) - 1) / 2;
  };
  const std::vector<double> xv = read_f64(x), gv = read_f64(grid);
  std::vector<double> out(static_cast<size_t>(n * ch * oh * ow));
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t c = 0; c < ch; ++c) {
      const double* img = xv.data() + (b * ch + c) * h * w;
      auto pixel = [&](int64_t r, int64_t col) -> double {
        if (pad == Pad::kZeros) {
          return r >= 0 && r < h && col >= 0 && col < w ? img[r * w + col] : 0.0;
        }
        if (pad == Pad::kBorder) {
          r = std::clamp<int64_t>(r, 0, h - 1);
          col = std::clamp<int64_t>(col, 0, w - 1);
        } else {
          r = static_cast<int64_t>(reflect(static_cast<double>(r), y_lo, y_hi));
          col = static_cast<int64_t>(reflect(static_cast<double>(col), x_lo, x_hi));
          r = std::clamp<int64_t>(r, 0, h - 1);
          col = std::clamp<int64_t>(col, 0, w - 1);
        }
        return img[r * w + col];
      };
      for (int64_t i = 0; i < oh; ++i) {
        for (int64_t j = 0; j < ow; ++j) {
          const double* g = gv.data() + ((b * oh + i) * ow + j) * 2;
          double px = denorm(g[0], w), py = denorm(g[1], h);
          if (pad == Pad::kBorder) {
            px = std::clamp(px, 0.0, static_cast<double>(w - 1));
            py = std::clamp(py, 0.0, static_cast<double>(h - 1));
          } else if (pad == Pad::kReflection) {
            px = reflect(px, x_lo, x_hi);
            py = reflect(py, y_lo, y_hi);
          } else {
            // Zeros: past 4 pixels outside, every tap (even bicubic's) reads 0; clamping there
            // keeps the integer conversions in range.
            px = std::clamp(px, -4.0, static_cast<double>(w + 4));
            py = std::clamp(py, -4.0, static_cast<double>(h + 4));
          }
          double v = 0;
          if (!std::isfinite(px) || !std::isfinite(py)) {
            v = 0;
          } else if (nearest) {
            v = pixel(static_cast<int64_t>(std::nearbyint(py)),
                      static_cast<int64_t>(std::nearbyint(px)));
          } else if (cubic) {
            const double fx = std::floor(px), fy = std::floor(py);
            double wx[4], wy[4];
            cubic_weights(px - fx, wx);
            cubic_weights(py - fy, wy);
            for (int dy = 0; dy < 4; ++dy) {
              for (int dx = 0; dx < 4; ++dx) {
                v += wy[dy] * wx[dx] *
                     pixel(static_cast<int64_t>(fy) - 1 + dy, static_cast<int64_t>(fx) - 1 + dx);
              }
            }
          } else {
            const double fx = std::floor(px), fy = std::floor(py);
            const double tx = px - fx, ty = py - fy;
            const int64_t x0 = static_cast<int64_t>(fx), y0 = static_cast<int64_t>(fy);
            v = (1 - ty) * ((1 - tx) * pixel(y0, x0) + tx * pixel(y0, x0 + 1)) +
                ty * ((1 - tx) * pixel(y0 + 1, x0) + tx * pixel(y0 + 1, x0 + 1));
          }
          out[static_cast<size_t>(((b * ch + c) * oh + i) * ow + j)] = v;
        }
      }
    }
  }
  write_f64(a.out[0], out);
}

}  // namespace shoal
