// Concat: for each index over the dims before `axis`, one memcpy per input of its whole block.
#include <cstring>

#include "backend/reference/kernel_util.h"
#include "backend/reference/reference.h"
#include "core/error.h"
#include "graph/shape_inference.h"

namespace shoal {

void ref_Concat(RefArgs& a) {
  Tensor& out = a.out[0];
  const Dims& od = out.dims();
  const int64_t axis = normalize_axis(a.node.attr_int("axis", 1), out.rank(), kernel_label(a.node));
  const size_t es = dtype_size(out.dtype());
  int64_t outer = 1;
  int64_t inner = 1;
  for (int64_t k = 0; k < out.rank(); ++k) {
    if (k < axis) outer *= od[static_cast<size_t>(k)];
    if (k > axis) inner *= od[static_cast<size_t>(k)];
  }
  std::vector<const char*> src;
  std::vector<size_t> block;  // bytes per outer index, per input
  size_t total = 0;
  for (const Tensor& t : a.in) {
    if (!t.defined()) continue;
    if (t.rank() != out.rank() || t.dtype() != out.dtype()) {
      fail(ErrorCode::kInvalidModel, "{}: input {} does not match output {}", kernel_label(a.node),
           dims_str(t.dims()), dims_str(od));
    }
    src.push_back(static_cast<const char*>(t.raw()));
    block.push_back(static_cast<size_t>(t.dims()[static_cast<size_t>(axis)] * inner) * es);
    total += block.back();
  }
  if (total != static_cast<size_t>(od[static_cast<size_t>(axis)] * inner) * es) {
    fail(ErrorCode::kInternal, "{}: inputs do not add up to output {}", kernel_label(a.node),
         dims_str(od));
  }
  char* dst = static_cast<char*>(out.raw());
  for (int64_t o = 0; o < outer; ++o) {
    for (size_t i = 0; i < src.size(); ++i) {
      if (block[i]) std::memcpy(dst, src[i] + static_cast<size_t>(o) * block[i], block[i]);
      dst += block[i];
    }
  }
}

}  // namespace shoal
