// Dtype-generic data-movement primitives shared by the reference data-movement kernels (Transpose,
// Slice, Expand, Tile, Pad, ...): strided block copies and pattern fills over raw bytes.
// Knows element sizes only, never dtypes' meaning.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "graph/ir.h"

namespace shoal {

// Row-major element strides of `dims`.
std::vector<int64_t> dense_strides(const Dims& dims);

// Copies a `dims`-shaped block of `esize`-byte elements: the element at multi-index i moves from
// src + sum(i_k * src_strides[k]) to dst + sum(i_k * dst_strides[k]) (strides in elements; source
// strides may be 0 (broadcast) or negative). Adjacent dims that are contiguous on both sides are
// merged first, so inner runs become memcpy; a transposed innermost dim is copied in cache tiles.
// Odometer iteration: no division per element. O(elements).
void copy_strided(void* dst, const std::vector<int64_t>& dst_strides, const void* src,
                  const std::vector<int64_t>& src_strides, const Dims& dims, size_t esize);

// Writes `n` copies of the `esize`-byte `value` to dst.
void fill_pattern(void* dst, int64_t n, const void* value, size_t esize);

// "Op 'name'" for messages.
std::string kernel_label(const Node& n);

// An index into an axis of `size` (negative ones count from the end); throws kInvalidArgument
// naming the node when it is outside [-size, size).
int64_t checked_index(const Node& n, int64_t v, int64_t size, int64_t axis);

// GatherElements / ScatterElements addressing: for each element of `idx` (data's rank), the
// element offset into a dense tensor of `data` dims whose `axis` coordinate is the index value.
std::vector<int64_t> element_offsets(const Node& n, const Dims& data, const Tensor& idx,
                                     int64_t axis);

// GatherND / ScatterND addressing: `idx` [..., k] after `batch_dims` leading dims shared with
// data; for each index tuple, the element offset of the data slice it selects (data dims from
// batch_dims + k on).
std::vector<int64_t> tuple_offsets(const Node& n, const Dims& data, const Tensor& idx,
                                   size_t batch_dims);

}  // namespace shoal
