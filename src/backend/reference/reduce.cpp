// Reference reductions: ReduceMean, ReduceMax, ReduceSum (axes from attribute or input, keepdims,
// noop_with_empty_axes) and ArgMax (keepdims, select_last_index). Floats in double, integers
// exactly in int64 (integer ReduceMean truncates).
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "backend/reference/ref_util.h"

namespace shoal {

using namespace ref;

namespace {

enum class Reduce { kMean, kMax, kSum };

void reduce(RefArgs& a, Reduce kind) {
  const Node& node = a.node;
  const Tensor& x = input(a, 0);
  Tensor& out = a.out[0];
  const Dims& xd = x.dims();
  const Tensor* axes = a.in.size() > 1 && a.in[1].defined() ? &a.in[1] : nullptr;
  const std::vector<bool> mask =
      compute_reduce_axes(node, a.opset, axes, static_cast<int64_t>(xd.size()), op_label(node));
  Dims kd = xd;  // output dims with reduced axes kept as 1
  int64_t count = 1;
  bool any = false;
  for (size_t i = 0; i < xd.size(); ++i) {
    if (mask[i]) {
      kd[i] = 1;
      count *= xd[i];
      any = true;
    }
  }
  if (!any) {  // noop_with_empty_axes: identity
    if (x.nbytes()) std::memcpy(out.raw(), x.raw(), x.nbytes());
    return;
  }
  const std::array<std::vector<int64_t>, 1> st = {broadcast_strides(kd, xd)};
  const int64_t n_out = out.numel();
  if (dtype_is_float(x.dtype())) {
    const std::vector<double> xv = read_f64(x);
    std::vector<double> r(static_cast<size_t>(n_out),
                          kind == Reduce::kMax ? -std::numeric_limits<double>::infinity() : 0.0);
    broadcast_for_each<1>(xd, st, [&](int64_t i, const std::array<int64_t, 1>& off) {
      double& acc = r[off[0]];
      if (kind == Reduce::kMax) {
        if (xv[i] > acc || std::isnan(xv[i])) acc = std::isnan(acc) ? acc : xv[i];
      } else {
        acc += xv[i];
      }
    });
    if (kind == Reduce::kMean) {
      for (double& v : r) v /= static_cast<double>(count);
    }
    write_f64(out, r);
  } else if (is_int_dtype(x.dtype())) {
    const std::vector<int64_t> xv = read_i64(x);
    std::vector<int64_t> r(static_cast<size_t>(n_out),
                           kind == Reduce::kMax ? std::numeric_limits<int64_t>::min() : 0);
    broadcast_for_each<1>(xd, st, [&](int64_t i, const std::array<int64_t, 1>& off) {
      int64_t& acc = r[off[0]];
      if (kind == Reduce::kMax) {
        acc = std::max(acc, xv[i]);
      } else {
        acc = static_cast<int64_t>(static_cast<uint64_t>(acc) + static_cast<uint64_t>(xv[i]));
      }
    });
    if (kind == Reduce::kMean && count > 0) {
      for (int64_t& v : r) v /= count;
    }
    write_i64(out, r);
  } else {
    fail_dtype(node, x.dtype());
  }
}

}  // namespace

void ref_ReduceMean(RefArgs& a) { reduce(a, Reduce::kMean); }
void ref_ReduceMax(RefArgs& a) { reduce(a, Reduce::kMax); }
void ref_ReduceSum(RefArgs& a) { reduce(a, Reduce::kSum); }

void ref_ArgMax(RefArgs& a) {
  const Node& node = a.node;
  const Tensor& x = input(a, 0);
  const Dims& d = x.dims();
  const int64_t axis = norm_axis(node, node.attr_int("axis", 0), static_cast<int64_t>(d.size()));
  const bool last = node.attr_int("select_last_index", 0) != 0;
  const size_t ax = static_cast<size_t>(axis);
  const int64_t outer = dims_product(d, 0, ax), len = d[ax];
  const int64_t inner = dims_product(d, ax + 1, d.size());
  std::vector<int64_t> r(static_cast<size_t>(outer * inner), 0);
  auto run = [&](const auto& v) {
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        const auto* p = v.data() + o * len * inner + i;
        int64_t best = 0;
        for (int64_t k = 1; k < len; ++k) {
          const auto cur = p[k * inner], top = p[best * inner];
          if constexpr (std::is_floating_point_v<std::decay_t<decltype(cur)>>) {
            if (std::isnan(top)) continue;  // the first NaN is the maximum, as NumPy
            if (std::isnan(cur)) {
              best = k;
              continue;
            }
          }
          if (cur > top || (last && cur == top)) best = k;
        }
        r[o * inner + i] = best;
      }
    }
  };
  if (dtype_is_float(x.dtype())) {
    run(read_f64(x));
  } else if (is_int_dtype(x.dtype())) {
    run(read_i64(x));
  } else {
    fail_dtype(node, x.dtype());
  }
  write_i64(a.out[0], r);
}

}  // namespace shoal
