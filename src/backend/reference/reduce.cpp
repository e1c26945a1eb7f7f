// Reference reductions: ReduceMean, Max, Min, Sum, Prod, L1, L2, SumSquare, LogSum, LogSumExp
// (axes from attribute or input, keepdims, noop_with_empty_axes) and ArgMax/ArgMin (keepdims,
// select_last_index). Floats in double; integers exactly in int64 where the result is an integer
// (integer ReduceMean truncates), through double otherwise.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "backend/reference/ref_util.h"

namespace shoal {

using namespace ref;

namespace {

enum class Reduce { kMean, kMax, kMin, kSum, kProd, kL1, kL2, kSumSquare, kLogSum, kLogSumExp };

// The value a reduction over nothing gives (ONNX 18: 0 for sums, 1 for products, the identity
// of min/max, log(0) = -inf for the log sums).
double empty_value(Reduce kind) {
  switch (kind) {
    case Reduce::kMax:
    case Reduce::kLogSum:
    case Reduce::kLogSumExp:
      return -std::numeric_limits<double>::infinity();
    case Reduce::kMin:
      return std::numeric_limits<double>::infinity();
    case Reduce::kProd:
      return 1.0;
    default:
      return 0.0;
  }
}

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
  const bool is_float = dtype_is_float(x.dtype());
  if (!is_float && !is_int_dtype(x.dtype())) fail_dtype(node, x.dtype());
  const bool exact_int =
      !is_float && (kind == Reduce::kMean || kind == Reduce::kMax || kind == Reduce::kMin ||
                    kind == Reduce::kSum || kind == Reduce::kProd || kind == Reduce::kL1 ||
                    kind == Reduce::kSumSquare);
  if (exact_int) {  // exact in int64, wrapping like NumPy
    const std::vector<int64_t> xv = read_i64(x);
    int64_t init = 0;
    if (kind == Reduce::kMax) init = std::numeric_limits<int64_t>::min();
    if (kind == Reduce::kMin) init = std::numeric_limits<int64_t>::max();
    if (kind == Reduce::kProd) init = 1;
    auto wrap = [](uint64_t v) { return static_cast<int64_t>(v); };
    std::vector<int64_t> r(static_cast<size_t>(n_out), init);
    broadcast_for_each<1>(xd, st, [&](int64_t i, const std::array<int64_t, 1>& off) {
      int64_t& acc = r[off[0]];
      const int64_t v = xv[i];
      const auto u = static_cast<uint64_t>(v);
      switch (kind) {
        case Reduce::kMax:
          acc = std::max(acc, v);
          break;
        case Reduce::kMin:
          acc = std::min(acc, v);
          break;
        case Reduce::kProd:
          acc = wrap(static_cast<uint64_t>(acc) * u);
          break;
        case Reduce::kL1:
          acc = wrap(static_cast<uint64_t>(acc) + (v < 0 ? 0 - u : u));
          break;
        case Reduce::kSumSquare:
          acc = wrap(static_cast<uint64_t>(acc) + u * u);
          break;
        default:
          acc = wrap(static_cast<uint64_t>(acc) + u);
      }
    });
    if (kind == Reduce::kMean && count > 0) {
      for (int64_t& v : r) v /= count;
    }
    write_i64(out, r);
    return;
  }
  const std::vector<double> xv = read_f64(x);
  // LogSumExp sums exp(x - max) so that large inputs do not overflow.
  std::vector<double> shift(static_cast<size_t>(kind == Reduce::kLogSumExp ? n_out : 0),
                            -std::numeric_limits<double>::infinity());
  if (kind == Reduce::kLogSumExp) {
    broadcast_for_each<1>(xd, st, [&](int64_t i, const std::array<int64_t, 1>& off) {
      shift[off[0]] = std::max(shift[off[0]], xv[i]);
    });
    for (double& m : shift) {
      if (!std::isfinite(m)) m = 0;
    }
  }
  std::vector<double> r(static_cast<size_t>(n_out), empty_value(kind));
  if (kind != Reduce::kMax && kind != Reduce::kMin && kind != Reduce::kProd) {
    std::fill(r.begin(), r.end(), 0.0);
  }
  broadcast_for_each<1>(xd, st, [&](int64_t i, const std::array<int64_t, 1>& off) {
    double& acc = r[off[0]];
    const double v = xv[i];
    switch (kind) {
      case Reduce::kMax:
        if (v > acc || std::isnan(v)) acc = std::isnan(acc) ? acc : v;
        break;
      case Reduce::kMin:
        if (v < acc || std::isnan(v)) acc = std::isnan(acc) ? acc : v;
        break;
      case Reduce::kProd:
        acc *= v;
        break;
      case Reduce::kL1:
        acc += std::fabs(v);
        break;
      case Reduce::kL2:
      case Reduce::kSumSquare:
        acc += v * v;
        break;
      case Reduce::kLogSumExp:
        acc += std::exp(v - shift[off[0]]);
        break;
      default:
        acc += v;
    }
  });
  for (size_t o = 0; o < r.size(); ++o) {
    double& v = r[o];
    if (kind == Reduce::kMean) v /= static_cast<double>(count);
    if (kind == Reduce::kL2) v = std::sqrt(v);
    if (kind == Reduce::kLogSum) v = std::log(v);
    if (kind == Reduce::kLogSumExp) v = std::log(v) + shift[o];
  }
  write_f64(out, r);
}

// Index of the first (or, with select_last_index, last) extreme along `axis`: the maximum when
// `max`, else the minimum. The first NaN wins, as in NumPy.
void arg_extreme(RefArgs& a, bool max) {
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
            if (std::isnan(top)) continue;
            if (std::isnan(cur)) {
              best = k;
              continue;
            }
          }
          const bool better = max ? cur > top : cur < top;
          if (better || (last && cur == top)) best = k;
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

}  // namespace

void ref_ReduceMean(RefArgs& a) { reduce(a, Reduce::kMean); }
void ref_ReduceMax(RefArgs& a) { reduce(a, Reduce::kMax); }
void ref_ReduceSum(RefArgs& a) { reduce(a, Reduce::kSum); }
void ref_ReduceMin(RefArgs& a) { reduce(a, Reduce::kMin); }
void ref_ReduceProd(RefArgs& a) { reduce(a, Reduce::kProd); }
void ref_ReduceL1(RefArgs& a) { reduce(a, Reduce::kL1); }
void ref_ReduceL2(RefArgs& a) { reduce(a, Reduce::kL2); }
void ref_ReduceSumSquare(RefArgs& a) { reduce(a, Reduce::kSumSquare); }
void ref_ReduceLogSum(RefArgs& a) { reduce(a, Reduce::kLogSum); }
void ref_ReduceLogSumExp(RefArgs& a) { reduce(a, Reduce::kLogSumExp); }
void ref_ArgMax(RefArgs& a) { arg_extreme(a, true); }
void ref_ArgMin(RefArgs& a) { arg_extreme(a, false); }

}  // namespace shoal
