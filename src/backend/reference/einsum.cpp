// Reference Einsum: every output element sums, over the labels absent from the output, the
// product of one element per operand (a label repeated within an operand walks its diagonal;
// broadcast ellipsis dims of size 1 stay at index 0). In double; O(product of all label sizes).
#include "graph/einsum.h"

#include <vector>

#include "backend/reference/kernel_util.h"
#include "backend/reference/ref_util.h"

namespace shoal {

using namespace ref;

void ref_Einsum(RefArgs& a) {
  const Node& node = a.node;
  std::vector<Dims> dims;
  std::vector<std::vector<double>> vals;
  for (size_t i = 0; i < a.in.size(); ++i) {
    const Tensor& t = input(a, i);
    if (!dtype_is_float(t.dtype())) fail_dtype(node, t.dtype());
    dims.push_back(t.dims());
    vals.push_back(read_f64(t));
  }
  const EinsumSpec s = parse_einsum(node.attr_string("equation", ""), dims, op_label(node));
  const size_t n_labels = s.sizes.size();
  // Per operand and label: the element stride that label moves (0 where absent or broadcast).
  std::vector<std::vector<int64_t>> stride(vals.size(), std::vector<int64_t>(n_labels, 0));
  for (size_t i = 0; i < vals.size(); ++i) {
    const std::vector<int64_t> ds = dense_strides(dims[i]);
    for (size_t ax = 0; ax < dims[i].size(); ++ax) {
      const size_t l = static_cast<size_t>(s.operand_labels[i][ax]);
      if (dims[i][ax] != 1 || s.sizes[l] == 1) stride[i][l] += ds[ax];
    }
  }
  std::vector<bool> in_output(n_labels, false);
  for (int l : s.output_labels) in_output[static_cast<size_t>(l)] = true;
  std::vector<int> summed;
  for (size_t l = 0; l < n_labels; ++l) {
    if (!in_output[l]) summed.push_back(static_cast<int>(l));
  }
  std::vector<int64_t> pos(n_labels, 0);
  // Odometer over `labels`; false once it wraps.
  auto next = [&](const std::vector<int>& labels) {
    for (size_t k = labels.size(); k-- > 0;) {
      const size_t l = static_cast<size_t>(labels[k]);
      if (++pos[l] < s.sizes[l]) return true;
      pos[l] = 0;
    }
    return false;
  };
  int64_t total = 1;
  for (int64_t d : s.sizes) total *= d;
  std::vector<double> out(static_cast<size_t>(a.out[0].numel()), 0.0);
  if (total > 0) {
    for (size_t o = 0; o < out.size(); ++o) {
      double acc = 0;
      do {
        double prod = 1;
        for (size_t i = 0; i < vals.size(); ++i) {
          int64_t off = 0;
          for (size_t l = 0; l < n_labels; ++l) off += pos[l] * stride[i][l];
          prod *= vals[i][static_cast<size_t>(off)];
        }
        acc += prod;
      } while (next(summed));
      out[o] = acc;
      next(s.output_labels);
    }
  }
  write_f64(a.out[0], out);
}

}  // namespace shoal
