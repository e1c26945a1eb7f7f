// Split: sizes come from the inferred output dims; one memcpy per output per outer index.
#include <cstring>

#include "backend/reference/kernel_util.h"
#include "backend/reference/reference.h"
#include "core/error.h"
#include "graph/shape_inference.h"

namespace shoal {

void ref_Split(RefArgs& a) {
  const Tensor& in = a.in[0];
  const Dims& id = in.dims();
  const int64_t axis = normalize_axis(a.node.attr_int("axis", 0), in.rank(), kernel_label(a.node));
  const size_t es = dtype_size(in.dtype());
  int64_t outer = 1;
  int64_t inner = 1;
  for (int64_t k = 0; k < in.rank(); ++k) {
    if (k < axis) outer *= id[static_cast<size_t>(k)];
    if (k > axis) inner *= id[static_cast<size_t>(k)];
  }
  const size_t row = static_cast<size_t>(id[static_cast<size_t>(axis)] * inner) * es;
  size_t offset = 0;  // bytes into an input row where the current output starts
  for (Tensor& t : a.out) {
    if (!t.defined()) {
      fail(ErrorCode::kInternal, "{}: an output is not allocated", kernel_label(a.node));
    }
    const size_t block = static_cast<size_t>(t.dims()[static_cast<size_t>(axis)] * inner) * es;
    if (offset + block > row ||
        t.numel() != outer * (t.dims()[static_cast<size_t>(axis)] * inner)) {
      fail(ErrorCode::kInternal, "{}: outputs do not fit input {}", kernel_label(a.node),
           dims_str(id));
    }
    const char* src = static_cast<const char*>(in.raw()) + offset;
    char* dst = static_cast<char*>(t.raw());
    if (block) {
      for (int64_t o = 0; o < outer; ++o) {
        std::memcpy(dst + static_cast<size_t>(o) * block, src + static_cast<size_t>(o) * row,
                    block);
      }
    }
    offset += block;
  }
}

}  // namespace shoal
