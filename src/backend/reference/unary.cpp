// Reference element-wise unary ops (activations, Sign, Sin, Cos, Shrink), Clip and Not. Floats are
// computed in double and rounded to the output dtype; Relu/Neg/Abs/Clip also take integers (exact,
// wrapping like NumPy).
#include <cmath>
#include <limits>
#include <vector>

#include "backend/reference/ref_util.h"

namespace shoal {

using namespace ref;

namespace {

template <class F>
void map_float(RefArgs& a, F f) {
  const Tensor& x = input(a, 0);
  if (!dtype_is_float(x.dtype())) fail_dtype(a.node, x.dtype());
  std::vector<double> v = read_f64(x);
  for (double& e : v) e = f(e);
  write_f64(a.out[0], v);
}

// Floats via `f`, integers via `g` (int64 in, int64 out).
template <class F, class G>
void map_numeric(RefArgs& a, F f, G g) {
  const Tensor& x = input(a, 0);
  if (dtype_is_float(x.dtype())) {
    map_float(a, f);
    return;
  }
  if (!is_int_dtype(x.dtype())) fail_dtype(a.node, x.dtype());
  std::vector<int64_t> v = read_i64(x);
  for (int64_t& e : v) e = g(e);
  write_i64(a.out[0], v);
}

double sigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

// log(1 + e^x) without overflow.
double softplus(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }

int64_t wrap_neg(int64_t v) { return static_cast<int64_t>(0 - static_cast<uint64_t>(v)); }

}  // namespace

void ref_Relu(RefArgs& a) {
  map_numeric(
      a, [](double x) { return x < 0 ? 0.0 : x; },
      [](int64_t x) { return x < 0 ? int64_t{0} : x; });
}

void ref_LeakyRelu(RefArgs& a) {
  const double alpha = a.node.attr_float("alpha", 0.01f);
  map_float(a, [alpha](double x) { return x < 0 ? alpha * x : x; });
}

void ref_Sigmoid(RefArgs& a) { map_float(a, sigmoid); }

void ref_HardSigmoid(RefArgs& a) {
  const double alpha = a.node.attr_float("alpha", 0.2f);
  const double beta = a.node.attr_float("beta", 0.5f);
  map_float(a, [=](double x) { return std::fmax(0.0, std::fmin(1.0, alpha * x + beta)); });
}

void ref_HardSwish(RefArgs& a) {
  map_float(a, [](double x) { return x * std::fmax(0.0, std::fmin(1.0, x / 6.0 + 0.5)); });
}

void ref_Tanh(RefArgs& a) {
  map_float(a, [](double x) { return std::tanh(x); });
}
void ref_Exp(RefArgs& a) {
  map_float(a, [](double x) { return std::exp(x); });
}
void ref_Log(RefArgs& a) {
  map_float(a, [](double x) { return std::log(x); });
}
void ref_Sqrt(RefArgs& a) {
  map_float(a, [](double x) { return std::sqrt(x); });
}
void ref_Reciprocal(RefArgs& a) {
  map_float(a, [](double x) { return 1.0 / x; });
}
void ref_Floor(RefArgs& a) {
  map_float(a, [](double x) { return std::floor(x); });
}
void ref_Ceil(RefArgs& a) {
  map_float(a, [](double x) { return std::ceil(x); });
}
// Half to even (the default floating-point rounding mode).
void ref_Round(RefArgs& a) {
  map_float(a, [](double x) { return std::nearbyint(x); });
}
void ref_Erf(RefArgs& a) {
  map_float(a, [](double x) { return std::erf(x); });
}

void ref_Neg(RefArgs& a) {
  map_numeric(
      a, [](double x) { return -x; }, wrap_neg);
}

void ref_Abs(RefArgs& a) {
  map_numeric(
      a, [](double x) { return std::fabs(x); }, [](int64_t x) { return x < 0 ? wrap_neg(x) : x; });
}

// Bounds: attributes min/max before opset 11, optional scalar inputs 1 and 2 after.
void ref_Clip(RefArgs& a) {
  const Node& node = a.node;
  const DType t = input(a, 0).dtype();
  if (dtype_is_float(t)) {
    double lo = -std::numeric_limits<double>::infinity();
    double hi = std::numeric_limits<double>::infinity();
    if (a.opset < 11) {
      lo = node.attr_float("min", -std::numeric_limits<float>::max());
      hi = node.attr_float("max", std::numeric_limits<float>::max());
    } else {
      if (a.in.size() > 1 && a.in[1].defined() && a.in[1].numel() > 0) lo = a.in[1].get_f64(0);
      if (a.in.size() > 2 && a.in[2].defined() && a.in[2].numel() > 0) hi = a.in[2].get_f64(0);
    }
    // NaN passes through; min > max yields max (as NumPy's clip).
    map_float(a, [=](double x) {
      if (x < lo) x = lo;
      if (x > hi) x = hi;
      return x;
    });
    return;
  }
  if (!is_int_dtype(t) || a.opset < 11) fail_dtype(node, t);
  int64_t lo = std::numeric_limits<int64_t>::min();
  int64_t hi = std::numeric_limits<int64_t>::max();
  if (a.in.size() > 1 && a.in[1].defined() && a.in[1].numel() > 0) lo = a.in[1].get_i64(0);
  if (a.in.size() > 2 && a.in[2].defined() && a.in[2].numel() > 0) hi = a.in[2].get_i64(0);
  map_numeric(
      a, [](double x) { return x; },
      [=](int64_t x) {
        if (x < lo) x = lo;
        if (x > hi) x = hi;
        return x;
      });
}

void ref_Elu(RefArgs& a) {
  const double alpha = a.node.attr_float("alpha", 1.f);
  map_float(a, [alpha](double x) { return x < 0 ? alpha * std::expm1(x) : x; });
}

void ref_Selu(RefArgs& a) {
  const double alpha = a.node.attr_float("alpha", 1.67326319217681884765625f);
  const double gamma = a.node.attr_float("gamma", 1.05070102214813232421875f);
  map_float(a, [=](double x) { return gamma * (x <= 0 ? alpha * std::expm1(x) : x); });
}

void ref_Celu(RefArgs& a) {
  const double alpha = a.node.attr_float("alpha", 1.f);
  map_float(a, [alpha](double x) {
    return std::fmax(0.0, x) + std::fmin(0.0, alpha * std::expm1(x / alpha));
  });
}

void ref_Softplus(RefArgs& a) { map_float(a, softplus); }

void ref_Softsign(RefArgs& a) {
  map_float(a, [](double x) { return x / (1.0 + std::fabs(x)); });
}

void ref_Mish(RefArgs& a) {
  map_float(a, [](double x) { return x * std::tanh(softplus(x)); });
}

void ref_ThresholdedRelu(RefArgs& a) {
  const double alpha = a.node.attr_float("alpha", 1.f);
  map_float(a, [alpha](double x) { return x > alpha ? x : 0.0; });
}

// x - bias above lambd, x + bias below -lambd, 0 between; integers computed exactly.
void ref_Shrink(RefArgs& a) {
  const double bias = a.node.attr_float("bias", 0.f);
  const double lambd = a.node.attr_float("lambd", 0.5f);
  auto f = [=](double x) { return x < -lambd ? x + bias : x > lambd ? x - bias : 0.0; };
  map_numeric(a, f, [=](int64_t x) {
    // Saturated: a bias can push int64 extremes past the range.
    const double r = f(static_cast<double>(x));
    if (!(r > -9.2233720368547758e18)) return std::numeric_limits<int64_t>::min();
    if (!(r < 9.2233720368547758e18)) return std::numeric_limits<int64_t>::max();
    return static_cast<int64_t>(r);
  });
}

// NaN stays NaN.
void ref_Sign(RefArgs& a) {
  map_numeric(
      a, [](double x) { return std::isnan(x) ? x
                               : x > 0       ? 1.0
                               : x < 0       ? -1.0
                                             : 0.0; },
      [](int64_t x) { return int64_t{x > 0} - int64_t{x < 0}; });
}

void ref_Sin(RefArgs& a) {
  map_float(a, [](double x) { return std::sin(x); });
}
void ref_Cos(RefArgs& a) {
  map_float(a, [](double x) { return std::cos(x); });
}

void ref_Not(RefArgs& a) {
  const Tensor& x = input(a, 0);
  if (x.dtype() != DType::kBool) fail_dtype(a.node, x.dtype());
  const uint8_t* p = x.data<uint8_t>();
  uint8_t* q = a.out[0].data<uint8_t>();
  for (int64_t i = 0; i < x.numel(); ++i) q[i] = p[i] ? 0 : 1;
}

}  // namespace shoal
