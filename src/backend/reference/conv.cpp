// Reference Conv (1-D to 3-D, groups, dilations, strides, explicit or auto pads).
// Direct convolution in double: for each output row, accumulate every (input channel, kernel
// tap) as an axpy over the row (contiguous when the stride is 1), four output channels at a time
// so each input row load feeds four accumulators. O(N * M * C/group * K * out) multiply-adds.
#include <vector>

#include "backend/reference/ref_util.h"

namespace shoal {

using namespace ref;

void ref_Conv(RefArgs& a) {
  const Node& node = a.node;
  const Tensor& x = input(a, 0);
  const Tensor& w = input(a, 1);
  Tensor& y = a.out[0];
  if (!dtype_is_float(x.dtype())) fail_dtype(node, x.dtype());
  if (!dtype_is_float(w.dtype())) fail_dtype(node, w.dtype(), "weight");

  const Dims& xd = x.dims();
  const Dims& wd = w.dims();
  std::vector<int64_t> kernel(wd.begin() + 2, wd.end());
  const ConvGeometry geo = compute_conv_geometry(node, xd, kernel, false, op_label(node));
  const Window3 g = to_window3(geo, node);

  const int64_t batch = xd[0], c_in = xd[1], m_out = wd[0];
  const int64_t group = node.attr_int("group", 1);
  const int64_t cg = c_in / group, mg = m_out / group;
  const int64_t in_plane = g.in[0] * g.in[1] * g.in[2];
  const int64_t ksize = g.k[0] * g.k[1] * g.k[2];
  const int64_t ow_n = g.out[2];

  const std::vector<double> xv = read_f64(x);
  const std::vector<double> wv = read_f64(w);
  std::vector<double> bias(static_cast<size_t>(m_out), 0.0);
  if (a.in.size() > 2 && a.in[2].defined()) bias = read_f64(a.in[2]);

  // Per kernel column: the output columns whose input column is inside the input.
  std::vector<int64_t> lo(static_cast<size_t>(g.k[2])), hi(static_cast<size_t>(g.k[2]));
  for (int64_t kw = 0; kw < g.k[2]; ++kw) {
    valid_range(kw * g.d[2] - g.pb[2], g.s[2], g.in[2], ow_n, &lo[kw], &hi[kw]);
  }

  constexpr int64_t kBlock = 4;
  std::vector<double> acc(static_cast<size_t>(kBlock * ow_n));
  for (int64_t n = 0; n < batch; ++n) {
    // Blocks of up to kBlock output channels, never crossing a group boundary.
    for (int64_t m0 = 0, nb = 0; m0 < m_out; m0 += nb) {
      const int64_t grp = m0 / mg;
      nb = std::min({kBlock, m_out - m0, (grp + 1) * mg - m0});
      for (int64_t od = 0; od < g.out[0]; ++od) {
        for (int64_t oh = 0; oh < g.out[1]; ++oh) {
          for (int64_t b = 0; b < nb; ++b) {
            std::fill(acc.begin() + b * ow_n, acc.begin() + (b + 1) * ow_n, bias[m0 + b]);
          }
          for (int64_t c = 0; c < cg; ++c) {
            const double* xc = xv.data() + (n * c_in + grp * cg + c) * in_plane;
            for (int64_t kd = 0; kd < g.k[0]; ++kd) {
              const int64_t id = od * g.s[0] - g.pb[0] + kd * g.d[0];
              if (id < 0 || id >= g.in[0]) continue;
              for (int64_t kh = 0; kh < g.k[1]; ++kh) {
                const int64_t ih = oh * g.s[1] - g.pb[1] + kh * g.d[1];
                if (ih < 0 || ih >= g.in[1]) continue;
                const double* xrow = xc + (id * g.in[1] + ih) * g.in[2];
                const int64_t wk = (c * g.k[0] + kd) * g.k[1] * g.k[2] + kh * g.k[2];
                for (int64_t kw = 0; kw < g.k[2]; ++kw) {
                  const int64_t off = kw * g.d[2] - g.pb[2];
                  const int64_t l = lo[kw], h = hi[kw];
                  double wb[kBlock] = {0, 0, 0, 0};
                  for (int64_t b = 0; b < nb; ++b) {
                    wb[b] = wv[(m0 + b) * cg * ksize + wk + kw];
                  }
                  double* __restrict a0 = acc.data();
                  double* __restrict a1 = a0 + ow_n;
                  double* __restrict a2 = a1 + ow_n;
                  double* __restrict a3 = a2 + ow_n;
                  if (g.s[2] == 1) {
                    const double* __restrict src = xrow + off;
                    if (nb == kBlock) {
                      for (int64_t o = l; o < h; ++o) {
                        const double v = src[o];
                        a0[o] += wb[0] * v;
                        a1[o] += wb[1] * v;
                        a2[o] += wb[2] * v;
                        a3[o] += wb[3] * v;
                      }
                    } else {
                      for (int64_t b = 0; b < nb; ++b) {
                        double* __restrict ab = a0 + b * ow_n;
                        for (int64_t o = l; o < h; ++o) ab[o] += wb[b] * src[o];
                      }
                    }
                  } else {
                    const int64_t s = g.s[2];
                    for (int64_t b = 0; b < nb; ++b) {
                      double* __restrict ab = a0 + b * ow_n;
                      for (int64_t o = l; o < h; ++o) ab[o] += wb[b] * xrow[o * s + off];
                    }
                  }
                }
              }
            }
          }
          for (int64_t b = 0; b < nb; ++b) {
            const int64_t at = ((n * m_out + m0 + b) * g.out[0] + od) * g.out[1] * ow_n + oh * ow_n;
            store_f64(y, at, acc.data() + b * ow_n, ow_n);
          }
        }
      }
    }
  }
}

// ConvInteger: the data and weights less their zero points, as exact doubles, through ref_Conv
// (sums of int8 products stay far below 2^53), written as int32 (or float32 for the fused form,
// whose post-ops reference_eval applies next).
void ref_ConvInteger(RefArgs& a) {
  const Tensor& x = input(a, 0);
  const Tensor& w = input(a, 1);
  const bool has_xz = a.in.size() > 2 && a.in[2].defined();
  const bool has_wz = a.in.size() > 3 && a.in[3].defined();
  const int64_t xz = has_xz ? a.in[2].get_i64(0) : 0;
  Tensor xs(DType::kF64, x.dims()), ws(DType::kF64, w.dims());
  for (int64_t i = 0; i < x.numel(); ++i) xs.data<double>()[i] = x.get_i64(i) - xz;
  const int64_t per_oc = w.dims()[0] > 0 ? w.numel() / w.dims()[0] : 0;
  for (int64_t i = 0; i < w.numel(); ++i) {
    int64_t wz = 0;
    if (has_wz) wz = a.in[3].numel() == 1 ? a.in[3].get_i64(0) : a.in[3].get_i64(i / per_oc);
    ws.data<double>()[i] = static_cast<double>(w.get_i64(i) - wz);
  }
  Node conv = a.node;
  conv.op_type = "Conv";
  conv.inputs.resize(2);
  conv.post_ops.clear();
  const std::vector<Tensor> in = {xs, ws};
  std::vector<Tensor> out = {Tensor(DType::kF64, a.out[0].dims())};
  RefArgs args{conv, a.opset, in, out};
  ref_Conv(args);
  const double* r = out[0].data<double>();
  if (a.out[0].dtype() == DType::kF32) {
    for (int64_t i = 0; i < a.out[0].numel(); ++i)
      a.out[0].data<float>()[i] = static_cast<float>(r[i]);
  } else {
    for (int64_t i = 0; i < a.out[0].numel(); ++i) {
      a.out[0].data<int32_t>()[i] = static_cast<int32_t>(r[i]);
    }
  }
}

}  // namespace shoal
