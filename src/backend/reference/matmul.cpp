// Reference MatMul: NumPy matmul semantics (1-D operands promoted and the unit dim dropped, batch
// dims broadcast). Floats accumulate in double, integers in int64 (exact, wrapping on output).
#include <type_traits>
#include <vector>

#include "backend/reference/ref_util.h"

namespace shoal {

using namespace ref;

namespace {

// C[m, n] = sum_k A[m, k] * B[k, n] for every broadcast batch index.
template <typename T>
void batched_matmul(const std::vector<T>& av, const Dims& ad, const std::vector<T>& bv,
                    const Dims& bd, std::vector<T>& cv) {
  const int64_t m = ad[ad.size() - 2], k = ad.back(), n = bd.back();
  const Dims a_batch(ad.begin(), ad.end() - 2), b_batch(bd.begin(), bd.end() - 2);
  const size_t rank = std::max(a_batch.size(), b_batch.size());
  Dims out_batch(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t x = i + a_batch.size() >= rank ? a_batch[i + a_batch.size() - rank] : 1;
    const int64_t y = i + b_batch.size() >= rank ? b_batch[i + b_batch.size() - rank] : 1;
    out_batch[i] = x == 1 ? y : x;
  }
  const std::array<std::vector<int64_t>, 2> st = {broadcast_strides(a_batch, out_batch),
                                                  broadcast_strides(b_batch, out_batch)};
  std::vector<T> row(static_cast<size_t>(n));
  broadcast_for_each<2>(out_batch, st, [&](int64_t o, const std::array<int64_t, 2>& off) {
    const T* ap = av.data() + off[0] * m * k;
    const T* bp = bv.data() + off[1] * k * n;
    T* cp = cv.data() + o * m * n;
    for (int64_t i = 0; i < m; ++i) {
      std::fill(row.begin(), row.end(), T{0});
      for (int64_t j = 0; j < k; ++j) {
        const T x = ap[i * k + j];
        const T* brow = bp + j * n;
        for (int64_t c = 0; c < n; ++c) {
          if constexpr (std::is_integral_v<T>) {
            row[c] = static_cast<T>(static_cast<uint64_t>(row[c]) +
                                    static_cast<uint64_t>(x) * static_cast<uint64_t>(brow[c]));
          } else {
            row[c] += x * brow[c];
          }
        }
      }
      std::copy(row.begin(), row.end(), cp + i * n);
    }
  });
}

}  // namespace

void ref_MatMul(RefArgs& a) {
  const Node& node = a.node;
  const Tensor& A = input(a, 0);
  const Tensor& B = input(a, 1);
  Tensor& y = a.out[0];
  Dims ad = A.dims(), bd = B.dims();
  if (ad.size() == 1) ad.insert(ad.begin(), 1);
  if (bd.size() == 1) bd.push_back(1);
  if (is_int_dtype(A.dtype()) && is_int_dtype(B.dtype())) {
    std::vector<int64_t> cv(static_cast<size_t>(y.numel()));
    batched_matmul(read_i64(A), ad, read_i64(B), bd, cv);
    write_i64(y, cv);
  } else if (dtype_is_float(A.dtype()) && dtype_is_float(B.dtype())) {
    std::vector<double> cv(static_cast<size_t>(y.numel()));
    batched_matmul(read_f64(A), ad, read_f64(B), bd, cv);
    write_f64(y, cv);
  } else {
    fail_dtype(node, dtype_is_float(A.dtype()) ? B.dtype() : A.dtype());
  }
}

// MatMulInteger: A and B less their zero points (A's per row, B's per column), exact int64 sums
// written as int32.
void ref_MatMulInteger(RefArgs& a) {
  const Tensor& A = input(a, 0);
  const Tensor& B = input(a, 1);
  Dims ad = A.dims(), bd = B.dims();
  if (ad.size() == 1) ad.insert(ad.begin(), 1);
  if (bd.size() == 1) bd.push_back(1);
  std::vector<int64_t> av = read_i64(A), bv = read_i64(B);
  const int64_t rows = ad[ad.size() - 2], k = ad.back(), cols = bd.back();
  if (a.in.size() > 2 && a.in[2].defined()) {
    const std::vector<int64_t> z = read_i64(a.in[2]);
    for (size_t i = 0; i < av.size(); ++i) {
      av[i] -= z.size() == 1 ? z[0] : z[static_cast<size_t>((static_cast<int64_t>(i) / k) % rows)];
    }
  }
  if (a.in.size() > 3 && a.in[3].defined()) {
    const std::vector<int64_t> z = read_i64(a.in[3]);
    for (size_t i = 0; i < bv.size(); ++i) {
      bv[i] -= z.size() == 1 ? z[0] : z[static_cast<size_t>(static_cast<int64_t>(i) % cols)];
    }
  }
  std::vector<int64_t> cv(static_cast<size_t>(a.out[0].numel()));
  batched_matmul(av, ad, bv, bd, cv);
  write_i64(a.out[0], cv);
}

}  // namespace shoal
