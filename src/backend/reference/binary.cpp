// Reference element-wise binary and variadic ops with NumPy broadcasting: Add, Sub, Mul, Div, Pow,
// Mod, PRelu, Max, Min, Sum, Mean (variadic), the comparisons Equal, Less, Greater, GreaterOrEqual,
// LessOrEqual and the logic And, Or, Xor (bool output). Floats in double;
// integers exactly in int64, wrapping to the output width like NumPy; integer Div truncates.
#include <cmath>
#include <limits>
#include <vector>

#include "backend/reference/ref_util.h"

namespace shoal {

using namespace ref;

namespace {

using Strides2 = std::array<std::vector<int64_t>, 2>;
using Off2 = std::array<int64_t, 2>;

Strides2 strides2(const Tensor& x, const Tensor& y, const Tensor& out) {
  return {broadcast_strides(x.dims(), out.dims()), broadcast_strides(y.dims(), out.dims())};
}

// out = f(x, y) for floats, g(x, y) for integers; the output has input 0's dtype.
template <class F, class G>
void arith(RefArgs& a, F f, G g) {
  const Tensor& x = input(a, 0);
  const Tensor& y = input(a, 1);
  Tensor& out = a.out[0];
  const Strides2 st = strides2(x, y, out);
  if (dtype_is_float(x.dtype())) {
    const std::vector<double> xv = read_f64(x), yv = read_f64(y);
    std::vector<double> r(static_cast<size_t>(out.numel()));
    broadcast_for_each<2>(out.dims(), st,
                          [&](int64_t o, const Off2& off) { r[o] = f(xv[off[0]], yv[off[1]]); });
    write_f64(out, r);
  } else if (is_int_dtype(x.dtype())) {
    const std::vector<int64_t> xv = read_i64(x), yv = read_i64(y);
    std::vector<int64_t> r(static_cast<size_t>(out.numel()));
    broadcast_for_each<2>(out.dims(), st,
                          [&](int64_t o, const Off2& off) { r[o] = g(xv[off[0]], yv[off[1]]); });
    write_i64(out, r);
  } else {
    fail_dtype(a.node, x.dtype());
  }
}

template <class F>
void compare(RefArgs& a, F cmp) {
  const Tensor& x = input(a, 0);
  const Tensor& y = input(a, 1);
  Tensor& out = a.out[0];
  if (x.dtype() != y.dtype()) fail_dtype(a.node, y.dtype(), "second input");
  const Strides2 st = strides2(x, y, out);
  uint8_t* r = out.data<uint8_t>();
  if (dtype_is_float(x.dtype())) {
    const std::vector<double> xv = read_f64(x), yv = read_f64(y);
    broadcast_for_each<2>(out.dims(), st,
                          [&](int64_t o, const Off2& off) { r[o] = cmp(xv[off[0]], yv[off[1]]); });
  } else if (is_int_dtype(x.dtype()) || x.dtype() == DType::kBool) {
    const std::vector<int64_t> xv = read_i64(x), yv = read_i64(y);
    broadcast_for_each<2>(out.dims(), st,
                          [&](int64_t o, const Off2& off) { r[o] = cmp(xv[off[0]], yv[off[1]]); });
  } else {
    fail_dtype(a.node, x.dtype());
  }
}

int64_t wrap_add(int64_t x, int64_t y) {
  return static_cast<int64_t>(static_cast<uint64_t>(x) + static_cast<uint64_t>(y));
}
int64_t wrap_sub(int64_t x, int64_t y) {
  return static_cast<int64_t>(static_cast<uint64_t>(x) - static_cast<uint64_t>(y));
}
int64_t wrap_mul(int64_t x, int64_t y) {
  return static_cast<int64_t>(static_cast<uint64_t>(x) * static_cast<uint64_t>(y));
}
// Truncating division; x / 0 gives 0 instead of trapping.
int64_t int_div(int64_t x, int64_t y) {
  if (y == 0) return 0;
  if (y == -1) return wrap_sub(0, x);
  return x / y;
}

// Integer power by squaring (wrapping); negative exponents truncate 1/x^n toward zero.
int64_t int_pow(int64_t base, int64_t e) {
  if (e < 0) {
    if (base == 1) return 1;
    if (base == -1) return (e % 2 == 0) ? 1 : -1;
    return 0;
  }
  int64_t r = 1;
  while (e > 0) {
    if (e & 1) r = wrap_mul(r, base);
    base = wrap_mul(base, base);
    e >>= 1;
  }
  return r;
}

// Variadic Max/Min/Sum/Mean: folds every input (broadcast) into the output; float results are
// multiplied by `scale` (Mean: 1 / inputs).
template <class F, class G>
void fold_variadic(RefArgs& a, F f, G g, double scale = 1.0) {
  Tensor& out = a.out[0];
  const DType t = input(a, 0).dtype();
  const bool is_float = dtype_is_float(t);
  if (!is_float && !is_int_dtype(t)) fail_dtype(a.node, t);
  std::vector<double> rf(is_float ? static_cast<size_t>(out.numel()) : 0);
  std::vector<int64_t> ri(is_float ? 0 : static_cast<size_t>(out.numel()));
  for (size_t i = 0; i < a.in.size(); ++i) {
    const Tensor& x = a.in[i];
    if (!x.defined()) continue;
    if (x.dtype() != t) fail_dtype(a.node, x.dtype(), "input " + std::to_string(i));
    const std::array<std::vector<int64_t>, 1> st = {broadcast_strides(x.dims(), out.dims())};
    const bool first = i == 0;
    if (is_float) {
      const std::vector<double> xv = read_f64(x);
      broadcast_for_each<1>(out.dims(), st, [&](int64_t o, const std::array<int64_t, 1>& off) {
        rf[o] = first ? xv[off[0]] : f(rf[o], xv[off[0]]);
      });
    } else {
      const std::vector<int64_t> xv = read_i64(x);
      broadcast_for_each<1>(out.dims(), st, [&](int64_t o, const std::array<int64_t, 1>& off) {
        ri[o] = first ? xv[off[0]] : g(ri[o], xv[off[0]]);
      });
    }
  }
  if (is_float) {
    if (scale != 1.0) {
      for (double& v : rf) v *= scale;
    }
    write_f64(out, rf);
  } else {
    write_i64(out, ri);
  }
}

// Integer remainder: with the divisor's sign (Python's %, fmod=0) or the dividend's (C's %,
// fmod=1); x mod 0 gives 0 instead of trapping.
int64_t int_mod(int64_t x, int64_t y, bool c_style) {
  if (y == 0 || y == -1) return 0;
  int64_t r = x % y;
  if (!c_style && r != 0 && ((r < 0) != (y < 0))) r += y;
  return r;
}

}  // namespace

void ref_Add(RefArgs& a) {
  arith(
      a, [](double x, double y) { return x + y; }, wrap_add);
}
void ref_Sub(RefArgs& a) {
  arith(
      a, [](double x, double y) { return x - y; }, wrap_sub);
}
void ref_Mul(RefArgs& a) {
  arith(
      a, [](double x, double y) { return x * y; }, wrap_mul);
}
void ref_Div(RefArgs& a) {
  arith(
      a, [](double x, double y) { return x / y; }, int_div);
}

// The output has the base's dtype; the exponent may have any numeric dtype.
void ref_Pow(RefArgs& a) {
  const Tensor& x = input(a, 0);
  const Tensor& y = input(a, 1);
  Tensor& out = a.out[0];
  if (!dtype_is_float(y.dtype()) && !is_int_dtype(y.dtype()))
    fail_dtype(a.node, y.dtype(), "exponent");
  if (is_int_dtype(x.dtype()) && is_int_dtype(y.dtype())) {
    const Strides2 st = strides2(x, y, out);
    const std::vector<int64_t> xv = read_i64(x), yv = read_i64(y);
    std::vector<int64_t> r(static_cast<size_t>(out.numel()));
    broadcast_for_each<2>(out.dims(), st, [&](int64_t o, const Off2& off) {
      r[o] = int_pow(xv[off[0]], yv[off[1]]);
    });
    write_i64(out, r);
    return;
  }
  if (!dtype_is_float(x.dtype()) && !is_int_dtype(x.dtype())) fail_dtype(a.node, x.dtype());
  // Float base, or integer base with a float exponent (result truncated toward zero).
  const Strides2 st = strides2(x, y, out);
  const std::vector<double> xv = read_f64(x), yv = read_f64(y);
  std::vector<double> r(static_cast<size_t>(out.numel()));
  broadcast_for_each<2>(
      out.dims(), st, [&](int64_t o, const Off2& off) { r[o] = std::pow(xv[off[0]], yv[off[1]]); });
  write_f64(out, r);
}

// NaN propagates, as NumPy's maximum/minimum.
void ref_Max(RefArgs& a) {
  fold_variadic(
      a, [](double x, double y) { return (std::isnan(x) || std::isnan(y)) ? NAN : std::max(x, y); },
      [](int64_t x, int64_t y) { return std::max(x, y); });
}

void ref_Min(RefArgs& a) {
  fold_variadic(
      a, [](double x, double y) { return (std::isnan(x) || std::isnan(y)) ? NAN : std::min(x, y); },
      [](int64_t x, int64_t y) { return std::min(x, y); });
}

void ref_Equal(RefArgs& a) {
  compare(a, [](auto x, auto y) { return x == y; });
}
void ref_Less(RefArgs& a) {
  compare(a, [](auto x, auto y) { return x < y; });
}
void ref_Greater(RefArgs& a) {
  compare(a, [](auto x, auto y) { return x > y; });
}

void ref_GreaterOrEqual(RefArgs& a) {
  compare(a, [](auto x, auto y) { return x >= y; });
}
void ref_LessOrEqual(RefArgs& a) {
  compare(a, [](auto x, auto y) { return x <= y; });
}
void ref_And(RefArgs& a) {
  compare(a, [](auto x, auto y) { return x != 0 && y != 0; });
}
void ref_Or(RefArgs& a) {
  compare(a, [](auto x, auto y) { return x != 0 || y != 0; });
}
void ref_Xor(RefArgs& a) {
  compare(a, [](auto x, auto y) { return (x != 0) != (y != 0); });
}

void ref_Sum(RefArgs& a) {
  fold_variadic(
      a, [](double x, double y) { return x + y; }, wrap_add);
}

void ref_Mean(RefArgs& a) {
  size_t n = 0;
  for (const Tensor& t : a.in) n += t.defined() ? 1 : 0;
  fold_variadic(
      a, [](double x, double y) { return x + y; }, wrap_add, 1.0 / static_cast<double>(n));
}

void ref_Mod(RefArgs& a) {
  const bool c_style = a.node.attr_int("fmod", 0) != 0;
  arith(
      a, [](double x, double y) { return std::fmod(x, y); },
      [c_style](int64_t x, int64_t y) { return int_mod(x, y, c_style); });
}

// x where x >= 0, slope * x elsewhere; the slope broadcasts to x.
void ref_PRelu(RefArgs& a) {
  arith(
      a, [](double x, double s) { return x < 0 ? s * x : x; },
      [](int64_t x, int64_t s) { return x < 0 ? wrap_mul(s, x) : x; });
}

}  // namespace shoal
