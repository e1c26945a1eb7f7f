// Reference DepthToSpace (DCR and CRD modes) and SpaceToDepth on NCHW tensors of any dtype: each is
// one strided copy, the 6-D transpose ONNX defines them by.
#include <string>

#include "backend/reference/kernel_util.h"
#include "backend/reference/reference.h"
#include "core/error.h"

namespace shoal {

void ref_DepthToSpace(RefArgs& a) {
  const Tensor& x = a.in[0];
  Tensor& out = a.out[0];
  const Dims& d = x.dims();
  const int64_t b = a.node.attr_int("blocksize", 0);
  if (d.size() != 4 || b <= 0 || d[1] % (b * b) != 0) {
    fail(ErrorCode::kInvalidModel, "{}: blocksize {} does not divide input {}",
         kernel_label(a.node), b, dims_str(d));
  }
  const int64_t n = d[0], c = d[1] / (b * b), h = d[2], w = d[3];
  const bool crd = a.node.attr_string("mode", "DCR") == "CRD";
  // Output (N, C', H, b, W, b) from input channel (i*b + j)*C' + c (DCR) or c*b*b + i*b + j (CRD).
  const Dims dims = {n, c, h, b, w, b};
  const int64_t plane = h * w;
  const std::vector<int64_t> src =
      crd ? std::vector<int64_t>{d[1] * plane, b * b * plane, w, b * plane, 1, plane}
          : std::vector<int64_t>{d[1] * plane, plane, w, b * c * plane, 1, c * plane};
  copy_strided(out.raw(), dense_strides(dims), x.raw(), src, dims, dtype_size(x.dtype()));
}

void ref_SpaceToDepth(RefArgs& a) {
  const Tensor& x = a.in[0];
  Tensor& out = a.out[0];
  const Dims& d = x.dims();
  const int64_t b = a.node.attr_int("blocksize", 0);
  if (d.size() != 4 || b <= 0 || d[2] % b != 0 || d[3] % b != 0) {
    fail(ErrorCode::kInvalidModel, "{}: blocksize {} does not divide input {}",
         kernel_label(a.node), b, dims_str(d));
  }
  const int64_t n = d[0], c = d[1], h = d[2] / b, w = d[3] / b;
  // Output (N, b, b, C, H', W'): channel (i*b + j)*C + c holds input (c, h'*b + i, w'*b + j).
  const Dims dims = {n, b, b, c, h, w};
  const std::vector<int64_t> src = {c * d[2] * d[3], d[3], 1, d[2] * d[3], b * d[3], b};
  copy_strided(out.raw(), dense_strides(dims), x.raw(), src, dims, dtype_size(x.dtype()));
}

}  // namespace shoal
