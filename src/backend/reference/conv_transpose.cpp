// Reference ConvTranspose (1-D to 3-D, groups, dilations, strides, pads / auto_pad /
// output_shape, output_padding). Scatter form in double: every input pixel adds weight * value to
// the output pixels its kernel taps reach, one output-channel plane at a time.
#include <vector>

#include "backend/reference/ref_util.h"

namespace shoal {

using namespace ref;

void ref_ConvTranspose(RefArgs& a) {
  const Node& node = a.node;
  const Tensor& x = input(a, 0);
  const Tensor& w = input(a, 1);
  Tensor& y = a.out[0];
  if (!dtype_is_float(x.dtype())) fail_dtype(node, x.dtype());
  if (!dtype_is_float(w.dtype())) fail_dtype(node, w.dtype(), "weight");

  const Dims& xd = x.dims();
  const Dims& wd = w.dims();
  std::vector<int64_t> kernel(wd.begin() + 2, wd.end());
  const ConvGeometry geo = compute_conv_transpose_geometry(node, xd, kernel, op_label(node));
  const Window3 g = to_window3(geo, node);

  const int64_t batch = xd[0], c_in = xd[1];
  const int64_t group = node.attr_int("group", 1);
  const int64_t cg = c_in / group, mg = wd[1], m_out = mg * group;
  const int64_t in_plane = g.in[0] * g.in[1] * g.in[2];
  const int64_t out_plane = g.out[0] * g.out[1] * g.out[2];
  const int64_t ksize = g.k[0] * g.k[1] * g.k[2];

  const std::vector<double> xv = read_f64(x);
  const std::vector<double> wv = read_f64(w);
  std::vector<double> bias(static_cast<size_t>(m_out), 0.0);
  if (a.in.size() > 2 && a.in[2].defined()) bias = read_f64(a.in[2]);

  // Per kernel column: the input columns whose output column lands inside the output.
  std::vector<int64_t> lo(static_cast<size_t>(g.k[2])), hi(static_cast<size_t>(g.k[2]));
  for (int64_t kw = 0; kw < g.k[2]; ++kw) {
    valid_range(kw * g.d[2] - g.pb[2], g.s[2], g.out[2], g.in[2], &lo[kw], &hi[kw]);
  }

  std::vector<double> acc(static_cast<size_t>(out_plane));
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t m = 0; m < m_out; ++m) {
      const int64_t grp = m / mg, mm = m % mg;
      std::fill(acc.begin(), acc.end(), bias[m]);
      for (int64_t c = 0; c < cg; ++c) {
        const int64_t ic = grp * cg + c;
        const double* xc = xv.data() + (n * c_in + ic) * in_plane;
        const double* wk = wv.data() + (ic * mg + mm) * ksize;
        for (int64_t id = 0; id < g.in[0]; ++id) {
          for (int64_t ih = 0; ih < g.in[1]; ++ih) {
            const double* xrow = xc + (id * g.in[1] + ih) * g.in[2];
            for (int64_t kd = 0; kd < g.k[0]; ++kd) {
              const int64_t od = id * g.s[0] - g.pb[0] + kd * g.d[0];
              if (od < 0 || od >= g.out[0]) continue;
              for (int64_t kh = 0; kh < g.k[1]; ++kh) {
                const int64_t oh = ih * g.s[1] - g.pb[1] + kh * g.d[1];
                if (oh < 0 || oh >= g.out[1]) continue;
                double* orow = acc.data() + (od * g.out[1] + oh) * g.out[2];
                for (int64_t kw = 0; kw < g.k[2]; ++kw) {
                  const double wval = wk[(kd * g.k[1] + kh) * g.k[2] + kw];
                  const int64_t off = kw * g.d[2] - g.pb[2];
                  const int64_t s = g.s[2];
                  for (int64_t iw = lo[kw]; iw < hi[kw]; ++iw)
                    orow[iw * s + off] += wval * xrow[iw];
                }
              }
            }
          }
        }
      }
      store_f64(y, (n * m_out + m) * out_plane, acc.data(), out_plane);
    }
  }
}

}  // namespace shoal
