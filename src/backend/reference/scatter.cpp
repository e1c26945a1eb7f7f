// Reference ScatterND, ScatterElements (reduction none/add/mul/max/min; negative indices count from
// the end; an index out of range is an error), CumSum, OneHot and TopK (largest or smallest k along
// an axis; ties keep the lower index first, as ONNX specifies). Values are combined in double
// (int64 for integers); data movement is by element bytes.
#include <algorithm>
#include <cstring>
#include <numeric>
#include <string>
#include <type_traits>
#include <vector>

#include "backend/reference/kernel_util.h"
#include "backend/reference/ref_util.h"

namespace shoal {

using namespace ref;

namespace {

enum class Reduction { kNone, kAdd, kMul, kMax, kMin };

Reduction reduction(const RefArgs& a) {
  const std::string r = a.node.attr_string("reduction", "none");
  if (r == "none") return Reduction::kNone;
  if (r == "add") return Reduction::kAdd;
  if (r == "mul") return Reduction::kMul;
  if (r == "max") return Reduction::kMax;
  if (r == "min") return Reduction::kMin;
  fail(ErrorCode::kInvalidModel, "{}: unknown reduction '{}'", op_label(a.node), r);
}

// The combination of an existing value x with an update y; integers wrap like NumPy.
template <class T>
T combine(Reduction kind, T x, T y) {
  switch (kind) {
    case Reduction::kAdd:
      if constexpr (std::is_integral_v<T>) {
        return static_cast<T>(static_cast<uint64_t>(x) + static_cast<uint64_t>(y));
      }
      return x + y;
    case Reduction::kMul:
      if constexpr (std::is_integral_v<T>) {
        return static_cast<T>(static_cast<uint64_t>(x) * static_cast<uint64_t>(y));
      }
      return x * y;
    case Reduction::kMax:
      return std::max(x, y);
    case Reduction::kMin:
      return std::min(x, y);
    default:
      return y;
  }
}

// out = data, then updates element `e` (in a slice of `slice` elements from index tuple e /
// slice) goes to out[offsets[e / slice] + e % slice], combined by the node's reduction.
void scatter(RefArgs& a, const std::vector<int64_t>& offsets, int64_t slice) {
  const Tensor& data = input(a, 0);
  const Tensor& upd = input(a, 2);
  Tensor& out = a.out[0];
  if (upd.dtype() != data.dtype()) fail_dtype(a.node, upd.dtype(), "updates");
  if (upd.numel() != static_cast<int64_t>(offsets.size()) * slice) {
    fail(ErrorCode::kInvalidModel, "{}: updates {} do not match indices {} and data {}",
         op_label(a.node), dims_str(upd.dims()), dims_str(a.in[1].dims()), dims_str(data.dims()));
  }
  const Reduction kind = reduction(a);
  auto run = [&](auto v, const auto& u, auto write) {
    for (int64_t e = 0; e < upd.numel(); ++e) {
      auto& dst = v[static_cast<size_t>(offsets[static_cast<size_t>(e / slice)] + e % slice)];
      dst = combine(kind, dst, u[static_cast<size_t>(e)]);
    }
    write(v);
  };
  if (kind == Reduction::kNone) {  // any dtype, by bytes
    const size_t es = dtype_size(data.dtype());
    if (data.nbytes()) std::memcpy(out.raw(), data.raw(), data.nbytes());
    char* dst = static_cast<char*>(out.raw());
    const char* src = static_cast<const char*>(upd.raw());
    for (int64_t e = 0; e < upd.numel(); ++e) {
      const int64_t at = offsets[static_cast<size_t>(e / slice)] + e % slice;
      std::memcpy(dst + static_cast<size_t>(at) * es, src + static_cast<size_t>(e) * es, es);
    }
  } else if (dtype_is_float(data.dtype())) {
    run(read_f64(data), read_f64(upd), [&](const std::vector<double>& v) { write_f64(out, v); });
  } else if (is_int_dtype(data.dtype())) {
    run(read_i64(data), read_i64(upd), [&](const std::vector<int64_t>& v) { write_i64(out, v); });
  } else {
    fail_dtype(a.node, data.dtype());
  }
}

}  // namespace

// indices [..., k] address data's first k dims; each addresses a slice of data.shape[k:].
void ref_ScatterND(RefArgs& a) {
  const Dims& dd = input(a, 0).dims();
  const Tensor& idx = input(a, 1);
  const std::vector<int64_t> off = tuple_offsets(a.node, dd, idx, 0);
  scatter(a, off, dims_product(dd, static_cast<size_t>(idx.dims().back()), dd.size()));
}

// updates[i] goes to data[i with its `axis` coordinate replaced by indices[i]].
void ref_ScatterElements(RefArgs& a) {
  const Dims& dd = input(a, 0).dims();
  const Tensor& idx = input(a, 1);
  const int64_t axis =
      norm_axis(a.node, a.node.attr_int("axis", 0), static_cast<int64_t>(dd.size()));
  if (input(a, 2).dims() != idx.dims()) {
    fail(ErrorCode::kInvalidModel, "{}: updates {} must have the indices' dims {}",
         op_label(a.node), dims_str(input(a, 2).dims()), dims_str(idx.dims()));
  }
  scatter(a, element_offsets(a.node, dd, idx, axis), 1);
}

// Outputs values and int64 indices of the k largest (or smallest) along `axis`; `sorted`=0 is
// allowed any order by ONNX, so they are sorted too.
void ref_TopK(RefArgs& a) {
  const Node& node = a.node;
  const Tensor& x = input(a, 0);
  const Dims& d = x.dims();
  const int64_t axis = norm_axis(node, node.attr_int("axis", -1), static_cast<int64_t>(d.size()));
  const bool largest = node.attr_int("largest", 1) != 0;
  const size_t ax = static_cast<size_t>(axis);
  const int64_t outer = dims_product(d, 0, ax), len = d[ax];
  const int64_t inner = dims_product(d, ax + 1, d.size());
  const int64_t k = a.out[0].dims()[ax];
  if (k < 0 || k > len) {
    fail(ErrorCode::kInvalidModel, "{}: k = {} is beyond axis {} of size {}", op_label(node), k,
         axis, len);
  }
  const bool is_float = dtype_is_float(x.dtype());
  if (!is_float && !is_int_dtype(x.dtype())) fail_dtype(node, x.dtype());
  const std::vector<double> xv = is_float ? read_f64(x) : std::vector<double>{};
  const std::vector<int64_t> xi = is_float ? std::vector<int64_t>{} : read_i64(x);
  std::vector<double> vals(static_cast<size_t>(outer * k * inner));
  std::vector<int64_t> ivals(is_float ? 0 : vals.size());
  std::vector<int64_t> inds(vals.size());
  std::vector<int64_t> order(static_cast<size_t>(len));
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t base = o * len * inner + i;
      auto before = [&](int64_t p, int64_t q) {  // p ranks before q
        if (is_float) {
          const double u = xv[base + p * inner], v = xv[base + q * inner];
          if (std::isnan(u) || std::isnan(v)) return !std::isnan(v) && largest;  // NaN largest
          return largest ? u > v : u < v;
        }
        const int64_t u = xi[base + p * inner], v = xi[base + q * inner];
        return largest ? u > v : u < v;
      };
      std::iota(order.begin(), order.end(), int64_t{0});
      std::stable_sort(order.begin(), order.end(), before);
      for (int64_t j = 0; j < k; ++j) {
        const size_t at = static_cast<size_t>((o * k + j) * inner + i);
        const int64_t src = base + order[static_cast<size_t>(j)] * inner;
        if (is_float) {
          vals[at] = xv[static_cast<size_t>(src)];
        } else {
          ivals[at] = xi[static_cast<size_t>(src)];
        }
        inds[at] = order[static_cast<size_t>(j)];
      }
    }
  }
  if (is_float) {
    write_f64(a.out[0], vals);
  } else {
    write_i64(a.out[0], ivals);
  }
  if (a.out.size() > 1 && a.out[1].defined()) write_i64(a.out[1], inds);
}

void ref_CumSum(RefArgs& a) {
  const Node& node = a.node;
  const Tensor& x = input(a, 0);
  const Dims& d = x.dims();
  const Tensor& at = input(a, 1);
  if (at.numel() != 1) {
    fail(ErrorCode::kInvalidModel, "{}: axis must be a scalar", op_label(node));
  }
  const int64_t axis = norm_axis(node, at.get_i64(0), static_cast<int64_t>(d.size()));
  const bool exclusive = node.attr_int("exclusive", 0) != 0;
  const bool reverse = node.attr_int("reverse", 0) != 0;
  const size_t ax = static_cast<size_t>(axis);
  const int64_t outer = dims_product(d, 0, ax), len = d[ax];
  const int64_t inner = dims_product(d, ax + 1, d.size());
  // Integers wrap on overflow, as NumPy's cumsum does.
  auto add = [](auto x, auto y) {
    if constexpr (std::is_integral_v<decltype(x)>) {
      return static_cast<decltype(x)>(static_cast<uint64_t>(x) + static_cast<uint64_t>(y));
    } else {
      return x + y;
    }
  };
  auto run = [&](auto v, auto write) {
    auto r = v;
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        typename decltype(v)::value_type acc = 0;
        for (int64_t step = 0; step < len; ++step) {
          const int64_t k = reverse ? len - 1 - step : step;
          const size_t at_k = static_cast<size_t>((o * len + k) * inner + i);
          if (exclusive) {
            r[at_k] = acc;
            acc = add(acc, v[at_k]);
          } else {
            acc = add(acc, v[at_k]);
            r[at_k] = acc;
          }
        }
      }
    }
    write(r);
  };
  if (dtype_is_float(x.dtype())) {
    run(read_f64(x), [&](const std::vector<double>& r) { write_f64(a.out[0], r); });
  } else if (is_int_dtype(x.dtype())) {
    run(read_i64(x), [&](const std::vector<int64_t>& r) { write_i64(a.out[0], r); });
  } else {
    fail_dtype(node, x.dtype());
  }
}

// Negative indices count from the end of the depth; indices outside [-depth, depth) give a row of
// off values.
void ref_OneHot(RefArgs& a) {
  const Node& node = a.node;
  const Tensor& idx = input(a, 0);
  const Tensor& values = input(a, 2);
  Tensor& out = a.out[0];
  const Dims& od = out.dims();
  const int64_t axis = norm_axis(node, node.attr_int("axis", -1), static_cast<int64_t>(od.size()));
  const size_t ax = static_cast<size_t>(axis);
  const int64_t depth = od[ax];
  const int64_t outer = dims_product(od, 0, ax), inner = dims_product(od, ax + 1, od.size());
  const size_t es = dtype_size(out.dtype());
  const char* off_v = static_cast<const char*>(values.raw());
  const char* on_v = off_v + es;
  char* dst = static_cast<char*>(out.raw());
  fill_pattern(dst, out.numel(), off_v, es);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const double raw = idx.get_f64(o * inner + i);
      if (!(raw >= -static_cast<double>(depth) && raw < static_cast<double>(depth))) continue;
      int64_t k = static_cast<int64_t>(raw);
      if (k < 0) k += depth;
      std::memcpy(dst + static_cast<size_t>((o * depth + k) * inner + i) * es, on_v, es);
    }
  }
}

}  // namespace shoal
