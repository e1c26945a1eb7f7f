// Shape (opset 15 start/end): the input's dims as int64; Size: its element count as an int64
// scalar. Neither reads input data.
#include <algorithm>

#include "backend/reference/kernel_util.h"
#include "backend/reference/reference.h"
#include "core/error.h"

namespace shoal {

void ref_Shape(RefArgs& a) {
  const Dims& d = a.in[0].dims();
  const int64_t r = static_cast<int64_t>(d.size());
  int64_t start = a.opset >= 15 ? a.node.attr_int("start", 0) : 0;
  if (start < 0) start += r;
  start = std::clamp<int64_t>(start, 0, r);
  if (start + a.out[0].numel() > r) {
    fail(ErrorCode::kInternal, "{}: output {} does not fit rank {}", kernel_label(a.node),
         dims_str(a.out[0].dims()), r);
  }
  int64_t* out = a.out[0].data<int64_t>();
  for (int64_t i = 0; i < a.out[0].numel(); ++i) out[i] = d[static_cast<size_t>(start + i)];
}

void ref_Size(RefArgs& a) { a.out[0].data<int64_t>()[0] = num_elements(a.in[0].dims()); }

}  // namespace shoal
