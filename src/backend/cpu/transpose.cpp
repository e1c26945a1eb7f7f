// Transpose. When the innermost axes stay in place and form rows of >= 256 bytes (YOLO's DFL:
// [1,4,16,8400] -> [1,16,4,8400]) it is a parallel copy of whole rows; otherwise a oneDNN reorder
// whose destination is described with the input's dims and permuted strides.
#include <omp.h>

#include <cstring>

#include "backend/cpu/cpu_ops.h"
#include "core/error.h"

namespace shoal::cpu {
namespace {

// Copies rows of `row_bytes`: output row r (in output order over the permuted outer axes) comes
// from input row src_row[r].
class RowTransposeKernel final : public Kernel {
 public:
  RowTransposeKernel(std::vector<int64_t> src_row, size_t row_bytes)
      : src_row_(std::move(src_row)), row_bytes_(row_bytes) {}
  void run(const KernelIO& io) override {
    sync_threads();
    const char* src = static_cast<const char*>(io.in[0]);
    char* dst = static_cast<char*>(io.out[0]);
    const int64_t n = static_cast<int64_t>(src_row_.size());
#pragma omp parallel for schedule(static) if (n * static_cast <int64_t>(row_bytes_) > (64 << 10))
    for (int64_t r = 0; r < n; ++r) {
      std::memcpy(dst + static_cast<size_t>(r) * row_bytes_,
                  src + static_cast<size_t>(src_row_[static_cast<size_t>(r)]) * row_bytes_,
                  row_bytes_);
    }
  }

 private:
  std::vector<int64_t> src_row_;
  size_t row_bytes_;
};

std::vector<int64_t> transpose_perm(const OpContext& c) {
  size_t r = c.in[0].dims.size();
  std::vector<int64_t> perm = c.node.attr_ints("perm");
  if (perm.empty()) {
    for (size_t i = 0; i < r; ++i) perm.push_back(static_cast<int64_t>(r - 1 - i));
  }
  return perm;
}

}  // namespace

bool transpose_supported(const OpContext& c, std::string* why) {
  if (!all_f32(c, why)) return false;
  if (!c.node.post_ops.empty()) {
    *why = "fused post-ops";
    return false;
  }
  std::vector<int64_t> perm = transpose_perm(c);
  size_t r = c.in[0].dims.size();
  std::vector<bool> seen(r, false);
  if (perm.size() != r || r == 0 || r > 6) {
    *why = "perm does not match the rank (or rank 0 or > 6)";
    return false;
  }
  for (int64_t p : perm) {
    if (p < 0 || p >= static_cast<int64_t>(r) || seen[static_cast<size_t>(p)]) {
      *why = "perm is not a permutation";
      return false;
    }
    seen[static_cast<size_t>(p)] = true;
  }
  return true;
}

KernelBuild build_transpose(const OpContext& c) {
  require_f32(c);
  const Dims& x = c.in[0].dims;
  const Dims& y = c.out[0].dims;
  std::vector<int64_t> perm = transpose_perm(c);
  // Trailing axes that stay in place form contiguous rows.
  size_t keep = perm.size();
  while (keep > 0 && perm[keep - 1] == static_cast<int64_t>(keep - 1)) --keep;
  size_t row_bytes = dtype_size(c.in[0].dtype);
  for (size_t i = keep; i < x.size(); ++i) row_bytes *= static_cast<size_t>(x[i]);
  if (keep < perm.size() && row_bytes >= 256) {
    // Input row strides over the outer axes, then the input row of every output row.
    std::vector<int64_t> in_stride(keep, 1);
    for (size_t i = keep; i-- > 1;) in_stride[i - 1] = in_stride[i] * x[i];
    int64_t rows = 1;
    for (size_t i = 0; i < keep; ++i) rows *= y[i];
    std::vector<int64_t> src_row(static_cast<size_t>(rows));
    std::vector<int64_t> idx(keep, 0);
    for (int64_t r = 0; r < rows; ++r) {
      int64_t off = 0;
      for (size_t j = 0; j < keep; ++j) off += idx[j] * in_stride[static_cast<size_t>(perm[j])];
      src_row[static_cast<size_t>(r)] = off;
      for (size_t j = keep; j-- > 0;) {
        if (++idx[j] < y[j]) break;
        idx[j] = 0;
      }
    }
    KernelBuild kb;
    kb.inputs = {0};
    kb.kernel = std::make_unique<RowTransposeKernel>(std::move(src_row), row_bytes);
    kb.impl = "shoal:rows";
    return kb;
  }
  // Output dense strides, assigned to the input axis each output axis reads.
  dnnl::memory::dims ys(y.size(), 1), strides(x.size(), 1);
  for (size_t i = y.size(); i-- > 1;) ys[i - 1] = ys[i] * y[i];
  for (size_t j = 0; j < perm.size(); ++j) strides[static_cast<size_t>(perm[j])] = ys[j];
  dnnl::memory::desc src = make_md(c.precision, x, Layout::kPlain);
  dnnl::memory::desc dst(dnnl_dims(x), dnnl_dtype(c.precision), strides);
  auto k = std::make_unique<DnnlKernel>();
  KernelBuild kb;
  k->add_reorder(k->input(kb.use_input(0), src), k->output(0, dst));
  kb.set_dnnl(std::move(k));
  return kb;
}

}  // namespace shoal::cpu
