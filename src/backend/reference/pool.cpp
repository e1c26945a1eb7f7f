// Reference pooling: MaxPool (optional Indices output), AveragePool (count_include_pad),
// GlobalAveragePool, GlobalMaxPool. 1-D to 3-D windows with strides, dilations, pads, auto_pad
// and ceil_mode; computed in double.
#include <cmath>
#include <limits>
#include <vector>

#include "backend/reference/ref_util.h"

namespace shoal {

using namespace ref;

namespace {

struct PoolSetup {
  Window3 g;
  int64_t planes;  // N * C
  int64_t in_plane, out_plane;
};

PoolSetup pool_setup(const RefArgs& a) {
  const Node& node = a.node;
  const Tensor& x = input(a, 0);
  if (!node.has_attr("kernel_shape")) {
    fail(ErrorCode::kInvalidModel, "{}: missing attribute kernel_shape", op_label(node));
  }
  const bool ceil_mode = node.attr_int("ceil_mode", 0) != 0;
  const ConvGeometry geo = compute_conv_geometry(node, x.dims(), node.attr_ints("kernel_shape"),
                                                 ceil_mode, op_label(node));
  PoolSetup p;
  p.g = to_window3(geo, node);
  p.planes = x.dims()[0] * x.dims()[1];
  p.in_plane = p.g.in[0] * p.g.in[1] * p.g.in[2];
  p.out_plane = p.g.out[0] * p.g.out[1] * p.g.out[2];
  return p;
}

}  // namespace

void ref_MaxPool(RefArgs& a) {
  const Node& node = a.node;
  const Tensor& x = input(a, 0);
  if (!dtype_is_float(x.dtype()) && x.dtype() != DType::kI8 && x.dtype() != DType::kU8) {
    fail_dtype(node, x.dtype());
  }
  const PoolSetup p = pool_setup(a);
  const Window3& g = p.g;
  Tensor* indices = a.out.size() > 1 && a.out[1].defined() ? &a.out[1] : nullptr;
  const bool col_major = node.attr_int("storage_order", 0) != 0;

  const std::vector<double> xv = read_f64(x);
  std::vector<double> yv(static_cast<size_t>(p.planes * p.out_plane));
  std::vector<int64_t> iv(indices ? yv.size() : 0);
  for (int64_t pl = 0; pl < p.planes; ++pl) {
    const double* xp = xv.data() + pl * p.in_plane;
    int64_t o = pl * p.out_plane;
    for (int64_t od = 0; od < g.out[0]; ++od) {
      for (int64_t oh = 0; oh < g.out[1]; ++oh) {
        for (int64_t ow = 0; ow < g.out[2]; ++ow, ++o) {
          double best = -std::numeric_limits<double>::infinity();
          int64_t best_d = -1, best_h = 0, best_w = 0;
          for (int64_t kd = 0; kd < g.k[0]; ++kd) {
            const int64_t id = od * g.s[0] - g.pb[0] + kd * g.d[0];
            if (id < 0 || id >= g.in[0]) continue;
            for (int64_t kh = 0; kh < g.k[1]; ++kh) {
              const int64_t ih = oh * g.s[1] - g.pb[1] + kh * g.d[1];
              if (ih < 0 || ih >= g.in[1]) continue;
              const double* row = xp + (id * g.in[1] + ih) * g.in[2];
              for (int64_t kw = 0; kw < g.k[2]; ++kw) {
                const int64_t iw = ow * g.s[2] - g.pb[2] + kw * g.d[2];
                if (iw < 0 || iw >= g.in[2]) continue;
                // The first maximum wins; a NaN propagates (as NumPy's max).
                const double v = row[iw];
                if (best_d < 0 || v > best || (std::isnan(v) && !std::isnan(best))) {
                  best = v;
                  best_d = id;
                  best_h = ih;
                  best_w = iw;
                }
              }
            }
          }
          yv[o] = best;
          if (indices) {
            const int64_t local =
                col_major ? (best_w * g.in[1] + best_h) * g.in[0] + std::max<int64_t>(best_d, 0)
                          : (std::max<int64_t>(best_d, 0) * g.in[1] + best_h) * g.in[2] + best_w;
            iv[o] = pl * p.in_plane + local;
          }
        }
      }
    }
  }
  write_f64(a.out[0], yv);
  if (indices) write_i64(*indices, iv);
}

void ref_AveragePool(RefArgs& a) {
  const Node& node = a.node;
  const Tensor& x = input(a, 0);
  if (!dtype_is_float(x.dtype())) fail_dtype(node, x.dtype());
  const PoolSetup p = pool_setup(a);
  const Window3& g = p.g;
  const bool include_pad = node.attr_int("count_include_pad", 0) != 0;

  // Divisor per axis and output position: taps inside the input, or (count_include_pad) inside
  // the padded input; windows reaching past the end padding (ceil_mode) are clipped there.
  std::vector<int64_t> count[3];
  for (int ax = 0; ax < 3; ++ax) {
    count[ax].resize(static_cast<size_t>(g.out[ax]));
    for (int64_t o = 0; o < g.out[ax]; ++o) {
      int64_t n = 0;
      for (int64_t k = 0; k < g.k[ax]; ++k) {
        const int64_t i = o * g.s[ax] - g.pb[ax] + k * g.d[ax];
        n += include_pad ? (i >= -g.pb[ax] && i < g.in[ax] + g.pe[ax]) : (i >= 0 && i < g.in[ax]);
      }
      count[ax][o] = n;
    }
  }

  const std::vector<double> xv = read_f64(x);
  std::vector<double> yv(static_cast<size_t>(p.planes * p.out_plane));
  for (int64_t pl = 0; pl < p.planes; ++pl) {
    const double* xp = xv.data() + pl * p.in_plane;
    int64_t o = pl * p.out_plane;
    for (int64_t od = 0; od < g.out[0]; ++od) {
      for (int64_t oh = 0; oh < g.out[1]; ++oh) {
        for (int64_t ow = 0; ow < g.out[2]; ++ow, ++o) {
          double sum = 0;
          for (int64_t kd = 0; kd < g.k[0]; ++kd) {
            const int64_t id = od * g.s[0] - g.pb[0] + kd * g.d[0];
            if (id < 0 || id >= g.in[0]) continue;
            for (int64_t kh = 0; kh < g.k[1]; ++kh) {
              const int64_t ih = oh * g.s[1] - g.pb[1] + kh * g.d[1];
              if (ih < 0 || ih >= g.in[1]) continue;
              const double* row = xp + (id * g.in[1] + ih) * g.in[2];
              for (int64_t kw = 0; kw < g.k[2]; ++kw) {
                const int64_t iw = ow * g.s[2] - g.pb[2] + kw * g.d[2];
                if (iw >= 0 && iw < g.in[2]) sum += row[iw];
              }
            }
          }
          const int64_t n = count[0][od] * count[1][oh] * count[2][ow];
          yv[o] = n > 0 ? sum / static_cast<double>(n) : 0.0;
        }
      }
    }
  }
  write_f64(a.out[0], yv);
}

namespace {

void global_pool(RefArgs& a, bool is_max) {
  const Tensor& x = input(a, 0);
  if (!dtype_is_float(x.dtype())) fail_dtype(a.node, x.dtype());
  const Dims& d = x.dims();
  const int64_t planes = d.size() >= 2 ? d[0] * d[1] : 1;
  const int64_t plane = dims_product(d, 2, d.size());
  const std::vector<double> xv = read_f64(x);
  std::vector<double> yv(static_cast<size_t>(planes));
  for (int64_t pl = 0; pl < planes; ++pl) {
    const double* p = xv.data() + pl * plane;
    double r = is_max ? -std::numeric_limits<double>::infinity() : 0.0;
    for (int64_t i = 0; i < plane; ++i) {
      if (is_max) {
        r = (p[i] > r || std::isnan(p[i])) && !std::isnan(r) ? p[i] : r;
      } else {
        r += p[i];
      }
    }
    if (!is_max) r = plane > 0 ? r / static_cast<double>(plane) : std::nan("");
    yv[pl] = r;
  }
  write_f64(a.out[0], yv);
}

}  // namespace

void ref_GlobalAveragePool(RefArgs& a) { global_pool(a, false); }
void ref_GlobalMaxPool(RefArgs& a) { global_pool(a, true); }

}  // namespace shoal
