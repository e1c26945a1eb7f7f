// Gather along any axis with int32/int64 indices (negative ones count from the end): one memcpy of
// the inner block per (outer index, index). GatherElements: one element per index. GatherND: one
// trailing slice per index tuple.
#include <cstring>

#include "backend/reference/kernel_util.h"
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
    if (v < -n_axis || v >= n_axis) {
      fail(ErrorCode::kInvalidArgument, "{}: index {} is out of range for axis {} of size {}",
           label, v, axis, n_axis);
    }
    pos[static_cast<size_t>(j)] = v < 0 ? v + n_axis : v;
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
  const Tensor& idx = a.in[1];
  Tensor& out = a.out[0];
  const std::string label = kernel_label(a.node);
  const int64_t r = data.rank();
  const int64_t axis = normalize_axis(a.node.attr_int("axis", 0), r, label);
  const Dims& dd = data.dims();
  const Dims& id = idx.dims();
  if (static_cast<int64_t>(id.size()) != r || out.dims() != id) {
    fail(ErrorCode::kInternal, "{}: indices {} and output {} do not match data {}", label,
         dims_str(id), dims_str(out.dims()), dims_str(dd));
  }
  const std::vector<int64_t> ds = dense_strides(dd);
  const int64_t n_axis = dd[static_cast<size_t>(axis)];
  const size_t es = dtype_size(data.dtype());
  const char* src = static_cast<const char*>(data.raw());
  char* dst = static_cast<char*>(out.raw());
  std::vector<int64_t> pos(static_cast<size_t>(r), 0);  // odometer over the indices' dims
  for (int64_t e = 0; e < idx.numel(); ++e) {
    int64_t v = idx.get_i64(e);
    if (v < -n_axis || v >= n_axis) {
      fail(ErrorCode::kInvalidArgument, "{}: index {} is out of range for axis {} of size {}",
           label, v, axis, n_axis);
    }
    if (v < 0) v += n_axis;
    int64_t off = 0;
    for (int64_t k = 0; k < r; ++k) {
      off += (k == axis ? v : pos[static_cast<size_t>(k)]) * ds[static_cast<size_t>(k)];
    }
    std::memcpy(dst + static_cast<size_t>(e) * es, src + static_cast<size_t>(off) * es, es);
    for (int64_t k = r - 1; k >= 0; --k) {
      if (++pos[static_cast<size_t>(k)] < id[static_cast<size_t>(k)]) break;
      pos[static_cast<size_t>(k)] = 0;
    }
  }
}

void ref_GatherND(RefArgs& a) {
  const Tensor& data = a.in[0];
  const Tensor& idx = a.in[1];
  Tensor& out = a.out[0];
  const std::string label = kernel_label(a.node);
  const Dims& dd = data.dims();
  const Dims& id = idx.dims();
  const size_t b = static_cast<size_t>(a.node.attr_int("batch_dims", 0));
  const int64_t k = id.back();
  // Per batch: `n` index tuples, each selecting a `slice` of data's trailing dims.
  int64_t batches = 1;
  for (size_t i = 0; i < b; ++i) batches *= dd[i];
  int64_t n = 1;
  for (size_t i = b; i + 1 < id.size(); ++i) n *= id[i];
  int64_t slice = 1;
  for (size_t i = b + static_cast<size_t>(k); i < dd.size(); ++i) slice *= dd[i];
  int64_t per_batch = 1;  // data elements per batch
  for (size_t i = b; i < dd.size(); ++i) per_batch *= dd[i];
  if (out.numel() != batches * n * slice) {
    fail(ErrorCode::kInternal, "{}: output {} does not match data {} and indices {}", label,
         dims_str(out.dims()), dims_str(dd), dims_str(id));
  }
  const std::vector<int64_t> ds = dense_strides(dd);
  const size_t es = dtype_size(data.dtype());
  const char* src = static_cast<const char*>(data.raw());
  char* dst = static_cast<char*>(out.raw());
  for (int64_t bi = 0; bi < batches; ++bi) {
    for (int64_t j = 0; j < n; ++j) {
      int64_t off = bi * per_batch;
      for (int64_t t = 0; t < k; ++t) {
        const size_t axis = b + static_cast<size_t>(t);
        int64_t v = idx.get_i64((bi * n + j) * k + t);
        if (v < -dd[axis] || v >= dd[axis]) {
          fail(ErrorCode::kInvalidArgument, "{}: index {} is out of range for axis {} of size {}",
               label, v, axis, dd[axis]);
        }
        if (v < 0) v += dd[axis];
        off += v * ds[axis];
      }
      const size_t bytes = static_cast<size_t>(slice) * es;
      if (bytes) std::memcpy(dst, src + static_cast<size_t>(off) * es, bytes);
      dst += bytes;
    }
  }
}

}  // namespace shoal
