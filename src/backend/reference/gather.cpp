// Gather along any axis with int32/int64 indices (negative ones count from the end): one memcpy of
// the inner block per (outer index, index). GatherElements: one element per index. GatherND: one
// trailing slice per index tuple.
#include <cstring>

#include "backend/reference/kernel_util.h"
#include "backend/reference/ref_util.h"
#include "backend/reference/reference.h"
#include "core/error.h"
#include "graph/shape_inference.h"

namespace shoal {

void ref_Gather(RefArgs& a) {
  const Tensor& data = a.in[0];
  const Tensor& idx = a.in[1];
  Tensor& out = a.out[0];
  const std::string label = kernel_label(a.node);
  const int64_t axis = normalize_axis(a.node.attr_int("axis", 0), data.rank(), label);
  const Dims& dd = data.dims();
  const int64_t n_axis = dd[static_cast<size_t>(axis)];
  int64_t outer = 1;
  int64_t inner = 1;
  for (int64_t k = 0; k < data.rank(); ++k) {
    if (k < axis) outer *= dd[static_cast<size_t>(k)];
    if (k > axis) inner *= dd[static_cast<size_t>(k)];
  }
  const int64_t n_idx = idx.numel();
  if (out.numel() != outer * n_idx * inner) {
    fail(ErrorCode::kInternal, "{}: output {} does not match data {} and indices {}", label,
         dims_str(out.dims()), dims_str(dd), dims_str(idx.dims()));
  }
  std::vector<int64_t> pos(static_cast<size_t>(n_idx));
  for (int64_t j = 0; j < n_idx; ++j) {
    int64_t v = idx.dtype() == DType::kI32   ? idx.data<int32_t>()[j]
                : idx.dtype() == DType::kI64 ? idx.data<int64_t>()[j]
                                             : idx.get_i64(j);
    pos[static_cast<size_t>(j)] = checked_index(a.node, v, n_axis, axis);
  }
  const size_t es = dtype_size(data.dtype());
  const size_t block = static_cast<size_t>(inner) * es;
  const char* src = static_cast<const char*>(data.raw());
  char* dst = static_cast<char*>(out.raw());
  if (block == 0) return;
  for (int64_t o = 0; o < outer; ++o) {
    const char* row = src + static_cast<size_t>(o * n_axis) * block;
    for (int64_t j = 0; j < n_idx; ++j) {
      std::memcpy(dst, row + static_cast<size_t>(pos[static_cast<size_t>(j)]) * block, block);
      dst += block;
    }
  }
}

// out[i] = data[i with its `axis` coordinate replaced by indices[i]]; indices has data's rank.
void ref_GatherElements(RefArgs& a) {
  const Tensor& data = a.in[0];
  Tensor& out = a.out[0];
  const int64_t axis =
      normalize_axis(a.node.attr_int("axis", 0), data.rank(), kernel_label(a.node));
  const std::vector<int64_t> off = element_offsets(a.node, data.dims(), a.in[1], axis);
  if (out.numel() != static_cast<int64_t>(off.size())) {
    fail(ErrorCode::kInternal, "{}: output {} does not match indices {}", kernel_label(a.node),
         dims_str(out.dims()), dims_str(a.in[1].dims()));
  }
  const size_t es = dtype_size(data.dtype());
  const char* src = static_cast<const char*>(data.raw());
  char* dst = static_cast<char*>(out.raw());
  for (size_t e = 0; e < off.size(); ++e) {
    std::memcpy(dst + e * es, src + static_cast<size_t>(off[e]) * es, es);
  }
}

// Each index tuple copies the data slice it selects.
void ref_GatherND(RefArgs& a) {
  const Tensor& data = a.in[0];
  const Dims& dd = data.dims();
  Tensor& out = a.out[0];
  const size_t b = static_cast<size_t>(a.node.attr_int("batch_dims", 0));
  const std::vector<int64_t> off = tuple_offsets(a.node, dd, a.in[1], b);
  const int64_t slice =
      ref::dims_product(dd, b + static_cast<size_t>(a.in[1].dims().back()), dd.size());
  if (out.numel() != static_cast<int64_t>(off.size()) * slice) {
    fail(ErrorCode::kInternal, "{}: output {} does not match data {} and indices {}",
         kernel_label(a.node), dims_str(out.dims()), dims_str(dd), dims_str(a.in[1].dims()));
  }
  const size_t es = dtype_size(data.dtype());
  const size_t bytes = static_cast<size_t>(slice) * es;
  if (bytes == 0) return;
  const char* src = static_cast<const char*>(data.raw());
  char* dst = static_cast<char*>(out.raw());
  for (size_t t = 0; t < off.size(); ++t) {
    std::memcpy(dst + t * bytes, src + static_cast<size_t>(off[t]) * es, bytes);
  }
}

}  // namespace shoal
