// Shared helpers of the reference kernels: node labels and dtype errors, whole-tensor conversion
// to double / int64 and back (rounded to the output dtype), NumPy broadcasting loops.
// Knows nothing about graphs beyond a Node's name, attributes and op type.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "backend/reference/reference.h"
#include "core/error.h"
#include "core/tensor.h"
#include "graph/op_geometry.h"

namespace shoal::ref {

// "Conv 'model.0/conv/Conv'" for messages.
inline std::string op_label(const Node& n) { return n.op_type + " '" + n.name + "'"; }

[[noreturn]] inline void fail_dtype(const Node& n, DType t, std::string_view role = "input") {
  fail(ErrorCode::kUnsupported, "{}: {} dtype {} is not supported by the reference backend",
       op_label(n), role, dtype_name(t));
}

inline bool is_int_dtype(DType t) {
  return t == DType::kI8 || t == DType::kU8 || t == DType::kI32 || t == DType::kI64;
}

// Every element converted to double (any numeric dtype).
inline std::vector<double> read_f64(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  const int64_t n = t.numel();
  switch (t.dtype()) {
    case DType::kF32: {
      const float* p = t.data<float>();
      for (int64_t i = 0; i < n; ++i) v[i] = p[i];
      break;
    }
    case DType::kF64: {
      const double* p = t.data<double>();
      for (int64_t i = 0; i < n; ++i) v[i] = p[i];
      break;
    }
    default:
      for (int64_t i = 0; i < n; ++i) v[i] = t.get_f64(i);
  }
  return v;
}

// Every element as int64 (exact for integer and bool dtypes).
inline std::vector<int64_t> read_i64(const Tensor& t) {
  std::vector<int64_t> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.get_i64(i);
  return v;
}

// Writes v (t.numel() values) rounded to t's dtype: nearest for floats, toward zero (saturating)
// for integers.
inline void write_f64(Tensor& t, const double* v) {
  const int64_t n = t.numel();
  switch (t.dtype()) {
    case DType::kF32: {
      float* p = t.data<float>();
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(v[i]);
      return;
    }
    case DType::kF64: {
      double* p = t.data<double>();
      for (int64_t i = 0; i < n; ++i) p[i] = v[i];
      return;
    }
    default:
      for (int64_t i = 0; i < n; ++i) t.set_f64(i, v[i]);
  }
}
inline void write_f64(Tensor& t, const std::vector<double>& v) { write_f64(t, v.data()); }

// Writes integers to t: wraps to the width of integer dtypes (two's complement, as NumPy),
// converts to floating dtypes.
inline void write_i64(Tensor& t, const std::vector<int64_t>& v) {
  const int64_t n = t.numel();
  switch (t.dtype()) {
    case DType::kI64:
      for (int64_t i = 0; i < n; ++i) t.data<int64_t>()[i] = v[i];
      return;
    case DType::kI32:
      for (int64_t i = 0; i < n; ++i) t.data<int32_t>()[i] = static_cast<int32_t>(v[i]);
      return;
    case DType::kI8:
      for (int64_t i = 0; i < n; ++i) t.data<int8_t>()[i] = static_cast<int8_t>(v[i]);
      return;
    case DType::kU8:
      for (int64_t i = 0; i < n; ++i) t.data<uint8_t>()[i] = static_cast<uint8_t>(v[i]);
      return;
    case DType::kBool:
      for (int64_t i = 0; i < n; ++i) t.data<uint8_t>()[i] = v[i] != 0;
      return;
    default:
      for (int64_t i = 0; i < n; ++i) t.set_f64(i, static_cast<double>(v[i]));
  }
}

// Element strides of a tensor with dims `in` read as broadcast to `out` (NumPy rules, aligned on
// the right): 0 on broadcast axes. `in` must be broadcast-compatible with `out`.
inline std::vector<int64_t> broadcast_strides(const Dims& in, const Dims& out) {
  std::vector<int64_t> st(out.size(), 0);
  int64_t s = 1;
  for (size_t k = 0; k < in.size(); ++k) {
    size_t ii = in.size() - 1 - k, oi = out.size() - 1 - k;
    if (in[ii] != 1) st[oi] = s;
    s *= in[ii];
  }
  return st;
}

// Calls f(o, off) for every element o of a tensor with dims `out` in row-major order, where
// off[k] is the offset of the matching element of operand k (given its broadcast strides).
template <size_t K, class F>
void broadcast_for_each(const Dims& out, const std::array<std::vector<int64_t>, K>& strides,
                        F&& f) {
  std::array<int64_t, K> off{};
  if (out.empty()) {
    f(int64_t{0}, off);
    return;
  }
  for (int64_t d : out) {
    if (d == 0) return;
  }
  const size_t r = out.size();
  const int64_t inner = out[r - 1];
  std::array<int64_t, K> inner_st;
  for (size_t k = 0; k < K; ++k) inner_st[k] = strides[k][r - 1];
  std::vector<int64_t> idx(r, 0);
  std::array<int64_t, K> base{};
  int64_t o = 0;
  while (true) {
    for (int64_t j = 0; j < inner; ++j) {
      for (size_t k = 0; k < K; ++k) off[k] = base[k] + j * inner_st[k];
      f(o++, off);
    }
    // Advance the odometer over the outer axes.
    size_t ax = r - 1;
    while (true) {
      if (ax == 0) return;
      --ax;
      ++idx[ax];
      for (size_t k = 0; k < K; ++k) base[k] += strides[k][ax];
      if (idx[ax] < out[ax]) break;
      for (size_t k = 0; k < K; ++k) base[k] -= strides[k][ax] * out[ax];
      idx[ax] = 0;
    }
  }
}

// Product of dims[begin, end).
inline int64_t dims_product(const Dims& d, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end && i < d.size(); ++i) p *= d[i];
  return p;
}

// Writes n doubles to t at element offset `at`, rounded to t's dtype.
inline void store_f64(Tensor& t, int64_t at, const double* v, int64_t n) {
  switch (t.dtype()) {
    case DType::kF32: {
      float* p = t.data<float>() + at;
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(v[i]);
      return;
    }
    case DType::kF64: {
      double* p = t.data<double>() + at;
      for (int64_t i = 0; i < n; ++i) p[i] = v[i];
      return;
    }
    default:
      for (int64_t i = 0; i < n; ++i) t.set_f64(at + i, v[i]);
  }
}

// Sliding-window geometry padded to exactly three spatial dims (D, H, W): 1-D and 2-D ops get
// leading unit dims, so one loop nest serves 1-D to 3-D.
struct Window3 {
  int64_t in[3], out[3], k[3], s[3], d[3], pb[3], pe[3];
};

inline Window3 to_window3(const ConvGeometry& g, const Node& n) {
  if (g.spatial > 3) {
    fail(ErrorCode::kUnsupported, "{}: {} spatial dims (at most 3 supported)", op_label(n),
         g.spatial);
  }
  Window3 w;
  const int64_t lead = 3 - g.spatial;
  for (int64_t i = 0; i < 3; ++i) {
    if (i < lead) {
      w.in[i] = w.out[i] = w.k[i] = w.s[i] = w.d[i] = 1;
      w.pb[i] = w.pe[i] = 0;
      continue;
    }
    size_t j = static_cast<size_t>(i - lead);
    w.in[i] = g.in[j];
    w.out[i] = g.out[j];
    w.k[i] = g.kernel[j];
    w.s[i] = g.stride[j];
    w.d[i] = g.dilation[j];
    w.pb[i] = g.pad_begin[j];
    w.pe[i] = g.pad_end[j];
  }
  return w;
}

// Floor division for possibly negative numerators (positive divisor).
inline int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

// Range [lo, hi) of output positions o with 0 <= o * s + off < in, clamped to [0, out).
inline void valid_range(int64_t off, int64_t s, int64_t in, int64_t out, int64_t* lo, int64_t* hi) {
  // o >= ceil(-off / s), o <= floor((in - 1 - off) / s)
  int64_t l = -floor_div(off, s);  // == ceil(-off / s)
  int64_t h = floor_div(in - 1 - off, s) + 1;
  *lo = std::max<int64_t>(0, l);
  *hi = std::min<int64_t>(out, h);
  if (*hi < *lo) *hi = *lo;
}

// Normalises a possibly negative axis against `rank`; throws naming the node if out of range.
inline int64_t norm_axis(const Node& n, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank) {
    fail(ErrorCode::kInvalidModel, "{}: axis {} out of range for rank {}", op_label(n), axis, rank);
  }
  return axis < 0 ? axis + rank : axis;
}

// Input i of a kernel; throws kInvalidModel naming the node when it is absent.
inline const Tensor& input(const RefArgs& a, size_t i) {
  if (i >= a.in.size() || !a.in[i].defined()) {
    fail(ErrorCode::kInvalidModel, "{}: required input {} is missing", op_label(a.node), i);
  }
  return a.in[i];
}

}  // namespace shoal::ref
