// Reference BatchNormalization: inference form y = (x - mean) / sqrt(var + eps) * scale + bias
// per channel (axis 1); training form (training_mode, or extra outputs before opset 14) uses the
// batch statistics and also outputs the running mean/var updated with `momentum`.
// InstanceNormalization: the same with each sample's own per-channel statistics.
// LayerNormalization: statistics over the trailing dims from `axis`.
#include <cmath>
#include <vector>

#include "backend/reference/ref_util.h"

namespace shoal {

using namespace ref;

void ref_BatchNormalization(RefArgs& a) {
  const Node& node = a.node;
  const Tensor& x = input(a, 0);
  if (!dtype_is_float(x.dtype())) fail_dtype(node, x.dtype());
  const Dims& d = x.dims();
  const int64_t batch = d[0], ch = d[1];
  const int64_t plane = dims_product(d, 2, d.size());
  const double eps = node.attr_float("epsilon", 1e-5f);
  const double momentum = node.attr_float("momentum", 0.9f);

  const std::vector<double> xv = read_f64(x);
  const std::vector<double> scale = read_f64(input(a, 1));
  const std::vector<double> bias = read_f64(input(a, 2));
  std::vector<double> mean = read_f64(input(a, 3));
  std::vector<double> var = read_f64(input(a, 4));

  int outputs = 0;
  for (size_t i = 1; i < a.out.size(); ++i) outputs += a.out[i].defined();
  const bool training = a.opset >= 14 ? node.attr_int("training_mode", 0) != 0 : outputs > 0;
  if (training) {
    std::vector<double> bmean(static_cast<size_t>(ch), 0.0), bvar(static_cast<size_t>(ch), 0.0);
    const double count = static_cast<double>(batch * plane);
    for (int64_t c = 0; c < ch; ++c) {
      double s = 0;
      for (int64_t n = 0; n < batch; ++n) {
        const double* p = xv.data() + (n * ch + c) * plane;
        for (int64_t i = 0; i < plane; ++i) s += p[i];
      }
      const double mu = s / count;
      double q = 0;
      for (int64_t n = 0; n < batch; ++n) {
        const double* p = xv.data() + (n * ch + c) * plane;
        for (int64_t i = 0; i < plane; ++i) q += (p[i] - mu) * (p[i] - mu);
      }
      bmean[c] = mu;
      bvar[c] = q / count;
    }
    std::vector<double> run_mean(mean.size()), run_var(var.size());
    for (int64_t c = 0; c < ch; ++c) {
      run_mean[c] = mean[c] * momentum + bmean[c] * (1 - momentum);
      run_var[c] = var[c] * momentum + bvar[c] * (1 - momentum);
    }
    const std::vector<double>* extra[] = {&run_mean, &run_var, &bmean, &bvar};
    for (size_t i = 1; i < a.out.size() && i <= 4; ++i) {
      if (a.out[i].defined()) write_f64(a.out[i], *extra[i - 1]);
    }
    mean = bmean;
    var = bvar;
  }

  std::vector<double> yv(xv.size());
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t c = 0; c < ch; ++c) {
      const double inv = 1.0 / std::sqrt(var[c] + eps);
      const int64_t base = (n * ch + c) * plane;
      for (int64_t i = 0; i < plane; ++i) {
        yv[base + i] = (xv[base + i] - mean[c]) * inv * scale[c] + bias[c];
      }
    }
  }
  write_f64(a.out[0], yv);
}

namespace {

struct RowStats {
  std::vector<double> mean, inv_std;  // per row: mean and 1 / sqrt(var + eps)
};

// Standardises each of `rows` contiguous runs of `len` values in place: (x - mean) / sqrt(var +
// eps), with the biased variance.
RowStats standardize_rows(std::vector<double>& v, int64_t rows, int64_t len, double eps) {
  RowStats st{std::vector<double>(static_cast<size_t>(rows)),
              std::vector<double>(static_cast<size_t>(rows))};
  const double n = static_cast<double>(len);
  for (int64_t r = 0; r < rows; ++r) {
    double* p = v.data() + r * len;
    double s = 0;
    for (int64_t i = 0; i < len; ++i) s += p[i];
    const double mu = len > 0 ? s / n : 0.0;
    double q = 0;
    for (int64_t i = 0; i < len; ++i) q += (p[i] - mu) * (p[i] - mu);
    const double k = 1.0 / std::sqrt((len > 0 ? q / n : 0.0) + eps);
    for (int64_t i = 0; i < len; ++i) p[i] = (p[i] - mu) * k;
    st.mean[static_cast<size_t>(r)] = mu;
    st.inv_std[static_cast<size_t>(r)] = k;
  }
  return st;
}

}  // namespace

// Each sample's channel plane standardised, then scaled and shifted per channel.
void ref_InstanceNormalization(RefArgs& a) {
  const Node& node = a.node;
  const Tensor& x = input(a, 0);
  if (!dtype_is_float(x.dtype())) fail_dtype(node, x.dtype());
  const Dims& d = x.dims();
  const int64_t ch = d[1], plane = dims_product(d, 2, d.size());
  const std::vector<double> scale = read_f64(input(a, 1));
  const std::vector<double> bias = read_f64(input(a, 2));
  std::vector<double> v = read_f64(x);
  const int64_t rows = d[0] * ch;
  standardize_rows(v, rows, plane, node.attr_float("epsilon", 1e-5f));
  for (int64_t r = 0; r < rows; ++r) {
    const size_t c = static_cast<size_t>(r % ch);
    for (int64_t i = 0; i < plane; ++i) {
      double& e = v[static_cast<size_t>(r * plane + i)];
      e = e * scale[c] + bias[c];
    }
  }
  write_f64(a.out[0], v);
}

// Standardised over dims [axis, rank) of each leading index, then scaled and shifted by scale
// and bias broadcast over those dims. Optional outputs: the means and 1 / sqrt(var + eps).
void ref_LayerNormalization(RefArgs& a) {
  const Node& node = a.node;
  const Tensor& x = input(a, 0);
  if (!dtype_is_float(x.dtype())) fail_dtype(node, x.dtype());
  const Dims& d = x.dims();
  const int64_t axis = norm_axis(node, node.attr_int("axis", -1), static_cast<int64_t>(d.size()));
  const size_t ax = static_cast<size_t>(axis);
  const int64_t outer = dims_product(d, 0, ax), inner = dims_product(d, ax, d.size());
  const Dims tail(d.begin() + axis, d.end());
  // Scale and bias expanded to the normalised dims.
  auto expand = [&](size_t i, double def) {
    std::vector<double> v(static_cast<size_t>(inner), def);
    if (i >= a.in.size() || !a.in[i].defined()) return v;
    const Tensor& t = a.in[i];
    const std::vector<double> tv = read_f64(t);
    const std::array<std::vector<int64_t>, 1> st = {broadcast_strides(t.dims(), tail)};
    broadcast_for_each<1>(tail, st,
                          [&](int64_t o, const std::array<int64_t, 1>& off) { v[o] = tv[off[0]]; });
    return v;
  };
  const std::vector<double> scale = expand(1, 1.0), bias = expand(2, 0.0);
  std::vector<double> v = read_f64(x);
  const RowStats st = standardize_rows(v, outer, inner, node.attr_float("epsilon", 1e-5f));
  for (int64_t o = 0; o < outer; ++o) {
    double* p = v.data() + o * inner;
    for (int64_t i = 0; i < inner; ++i) p[i] = p[i] * scale[i] + bias[i];
  }
  write_f64(a.out[0], v);
  if (a.out.size() > 1 && a.out[1].defined()) write_f64(a.out[1], st.mean);
  if (a.out.size() > 2 && a.out[2].defined()) write_f64(a.out[2], st.inv_std);
}

}  // namespace shoal
