// Constant (value / value_float(s) / value_int(s) attributes) and ConstantOfShape.
#include <cstring>

#include "backend/reference/kernel_util.h"
#include "backend/reference/reference.h"
#include "core/error.h"

namespace shoal {

void ref_Constant(RefArgs& a) {
  const Node& n = a.node;
  Tensor& out = a.out[0];
  if (n.has_attr("value")) {
    const Tensor& t = n.attrs.at("value").t;
    if (t.dtype() != out.dtype() || t.numel() != out.numel()) {
      fail(ErrorCode::kInternal, "{}: output {} does not match its value {}", kernel_label(n),
           dims_str(out.dims()), dims_str(t.dims()));
    }
    if (t.nbytes()) std::memcpy(out.raw(), t.raw(), t.nbytes());
  } else if (n.has_attr("value_float") || n.has_attr("value_floats")) {
    std::vector<float> v =
        n.attr_floats(n.has_attr("value_float") ? "value_float" : "value_floats");
    if (static_cast<int64_t>(v.size()) != out.numel() || out.dtype() != DType::kF32) {
      fail(ErrorCode::kInternal, "{}: output does not match its value", kernel_label(n));
    }
    if (!v.empty()) std::memcpy(out.raw(), v.data(), v.size() * sizeof(float));
  } else if (n.has_attr("value_int") || n.has_attr("value_ints")) {
    std::vector<int64_t> v = n.attr_ints(n.has_attr("value_int") ? "value_int" : "value_ints");
    if (static_cast<int64_t>(v.size()) != out.numel() || out.dtype() != DType::kI64) {
      fail(ErrorCode::kInternal, "{}: output does not match its value", kernel_label(n));
    }
    if (!v.empty()) std::memcpy(out.raw(), v.data(), v.size() * sizeof(int64_t));
  } else if (n.has_attr("sparse_value")) {
    fail(ErrorCode::kUnsupported, "{}: sparse_value constants are not supported", kernel_label(n));
  } else {
    fail(ErrorCode::kUnsupported, "{}: only tensor, float and int constants are supported",
         kernel_label(n));
  }
}

void ref_ConstantOfShape(RefArgs& a) {
  Tensor& out = a.out[0];
  const size_t es = dtype_size(out.dtype());
  if (a.node.has_attr("value")) {
    const Tensor& v = a.node.attrs.at("value").t;
    if (v.dtype() != out.dtype() || v.numel() != 1) {
      fail(ErrorCode::kInvalidModel, "{}: attribute 'value' must be one {} element",
           kernel_label(a.node), dtype_name(out.dtype()));
    }
    fill_pattern(out.raw(), out.numel(), v.raw(), es);
  } else {
    if (out.nbytes()) std::memset(out.raw(), 0, out.nbytes());
  }
}

}  // namespace shoal
