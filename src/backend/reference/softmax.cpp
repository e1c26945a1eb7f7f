// Reference Softmax, LogSoftmax and Hardmax. Before opset 13 the input is coerced to 2-D at `axis`
// (default 1) and normalised over the flattened trailing block; from opset 13 over the one axis
// (default -1). Max-subtracted, in double.
#include <cmath>
#include <vector>

#include "backend/reference/ref_util.h"

namespace shoal {

using namespace ref;

namespace {

enum class Kind { kSoftmax, kLogSoftmax, kHardmax };

void softmax(RefArgs& a, Kind kind) {
  const Node& node = a.node;
  const Tensor& x = input(a, 0);
  if (!dtype_is_float(x.dtype())) fail_dtype(node, x.dtype());
  const Dims& d = x.dims();
  const int64_t rank = static_cast<int64_t>(d.size());
  const int64_t axis = norm_axis(node, node.attr_int("axis", a.opset >= 13 ? -1 : 1), rank);
  const size_t ax = static_cast<size_t>(axis);
  // Normalise over `len` elements spaced `inner` apart, for each of outer * inner positions.
  int64_t outer = dims_product(d, 0, ax), len, inner;
  if (a.opset >= 13) {
    len = d[ax];
    inner = dims_product(d, ax + 1, d.size());
  } else {
    len = dims_product(d, ax, d.size());
    inner = 1;
  }
  std::vector<double> v = read_f64(x);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      double* p = v.data() + o * len * inner + i;
      if (kind == Kind::kHardmax) {  // 1 at the first maximum, 0 elsewhere
        int64_t best = 0;
        for (int64_t k = 1; k < len; ++k) {
          if (p[k * inner] > p[best * inner]) best = k;
        }
        for (int64_t k = 0; k < len; ++k) p[k * inner] = k == best ? 1.0 : 0.0;
        continue;
      }
      double mx = -INFINITY;
      for (int64_t k = 0; k < len; ++k) mx = std::fmax(mx, p[k * inner]);
      double sum = 0;
      for (int64_t k = 0; k < len; ++k) sum += std::exp(p[k * inner] - mx);
      const double lsum = std::log(sum);
      for (int64_t k = 0; k < len; ++k) {
        const double z = p[k * inner] - mx;
        p[k * inner] = kind == Kind::kLogSoftmax ? z - lsum : std::exp(z) / sum;
      }
    }
  }
  write_f64(a.out[0], v);
}

}  // namespace

void ref_Softmax(RefArgs& a) { softmax(a, Kind::kSoftmax); }
void ref_LogSoftmax(RefArgs& a) { softmax(a, Kind::kLogSoftmax); }
void ref_Hardmax(RefArgs& a) { softmax(a, Kind::kHardmax); }

}  // namespace shoal
