// Reference Where: out = cond ? X : Y with three-way NumPy broadcasting. Copies elements bytewise,
// so every dtype is exact.
#include <cstring>
#include <vector>

#include "backend/reference/ref_util.h"

namespace shoal {

using namespace ref;

void ref_Where(RefArgs& a) {
  const Tensor& cond = input(a, 0);
  const Tensor& x = input(a, 1);
  const Tensor& y = input(a, 2);
  Tensor& out = a.out[0];
  if (cond.dtype() != DType::kBool) fail_dtype(a.node, cond.dtype(), "condition");
  if (x.dtype() != out.dtype() || y.dtype() != out.dtype()) fail_dtype(a.node, y.dtype());
  const size_t es = dtype_size(out.dtype());
  const std::array<std::vector<int64_t>, 3> st = {broadcast_strides(cond.dims(), out.dims()),
                                                  broadcast_strides(x.dims(), out.dims()),
                                                  broadcast_strides(y.dims(), out.dims())};
  const uint8_t* c = cond.data<uint8_t>();
  const char* xp = static_cast<const char*>(x.raw());
  const char* yp = static_cast<const char*>(y.raw());
  // Written to a staging buffer first: the output may share storage with an input.
  std::vector<char> r(static_cast<size_t>(out.numel()) * es);
  broadcast_for_each<3>(out.dims(), st, [&](int64_t o, const std::array<int64_t, 3>& off) {
    const char* src = c[off[0]] ? xp + off[1] * es : yp + off[2] * es;
    std::memcpy(r.data() + o * es, src, es);
  });
  if (!r.empty()) std::memcpy(out.raw(), r.data(), r.size());
}

}  // namespace shoal
