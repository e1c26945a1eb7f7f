// Reference Gemm: Y = alpha * op(A) * op(B) + beta * C, op = optional transpose, C broadcast to
// [M, N] (optional from opset 11). Accumulates in double (integers in int64 when alpha and beta
// are 1, so integer Gemm stays exact).
#include <type_traits>
#include <vector>

#include "backend/reference/ref_util.h"

namespace shoal {

using namespace ref;

namespace {

template <typename T>
void gemm(const RefArgs& a, bool ta, bool tb, double alpha, double beta, std::vector<T>& yv,
          std::vector<T> (*read)(const Tensor&)) {
  const Tensor& A = input(a, 0);
  const Tensor& B = input(a, 1);
  const int64_t m = a.out[0].dims()[0], n = a.out[0].dims()[1];
  const int64_t k = ta ? A.dims()[0] : A.dims()[1];
  const std::vector<T> av = read(A), bv = read(B);
  // Strides of op(A)[i, j] and op(B)[i, j].
  const int64_t a_si = ta ? 1 : k, a_sj = ta ? m : 1;
  const int64_t b_si = tb ? 1 : n, b_sj = tb ? k : 1;
  std::vector<T> row(static_cast<size_t>(n));
  for (int64_t i = 0; i < m; ++i) {
    std::fill(row.begin(), row.end(), T{0});
    for (int64_t p = 0; p < k; ++p) {
      const T x = av[i * a_si + p * a_sj];
      for (int64_t j = 0; j < n; ++j) {
        if constexpr (std::is_integral_v<T>) {  // wrapping, as NumPy
          row[j] = static_cast<T>(static_cast<uint64_t>(row[j]) +
                                  static_cast<uint64_t>(x) *
                                      static_cast<uint64_t>(bv[p * b_si + j * b_sj]));
        } else {
          row[j] += x * bv[p * b_si + j * b_sj];
        }
      }
    }
    for (int64_t j = 0; j < n; ++j) {
      yv[i * n + j] = alpha == 1.0 ? row[j] : static_cast<T>(alpha * static_cast<double>(row[j]));
    }
  }
  if (a.in.size() > 2 && a.in[2].defined() && beta != 0) {
    const Tensor& C = a.in[2];
    const std::vector<T> cv = read(C);
    const Dims out = {m, n};
    const std::array<std::vector<int64_t>, 1> st = {broadcast_strides(C.dims(), out)};
    broadcast_for_each<1>(out, st, [&](int64_t o, const std::array<int64_t, 1>& off) {
      const T c = beta == 1.0 ? cv[off[0]] : static_cast<T>(beta * static_cast<double>(cv[off[0]]));
      if constexpr (std::is_integral_v<T>) {
        yv[o] = static_cast<T>(static_cast<uint64_t>(yv[o]) + static_cast<uint64_t>(c));
      } else {
        yv[o] += c;
      }
    });
  }
}

}  // namespace

void ref_Gemm(RefArgs& a) {
  const Node& node = a.node;
  const bool ta = node.attr_int("transA", 0) != 0;
  const bool tb = node.attr_int("transB", 0) != 0;
  const double alpha = node.attr_float("alpha", 1.0f);
  const double beta = node.attr_float("beta", 1.0f);
  const DType t = input(a, 0).dtype();
  Tensor& y = a.out[0];
  if (dtype_is_float(t)) {
    std::vector<double> yv(static_cast<size_t>(y.numel()));
    gemm<double>(a, ta, tb, alpha, beta, yv, read_f64);
    write_f64(y, yv);
  } else if (is_int_dtype(t) && alpha == 1.0 && beta == 1.0) {
    std::vector<int64_t> yv(static_cast<size_t>(y.numel()));
    gemm<int64_t>(a, ta, tb, alpha, beta, yv, read_i64);
    write_i64(y, yv);
  } else {
    fail_dtype(node, t);
  }
}

}  // namespace shoal
