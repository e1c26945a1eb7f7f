// Lookup into the one op list (ops.def): is an op supported, from which opset.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace shoal {

struct OpInfo {
  const char* op_type;
  int first_opset;
};

// Every supported op, in ops.def order.
const std::vector<OpInfo>& supported_ops();
// nullptr when `op_type` (domain ai.onnx) is not supported.
const OpInfo* find_op(std::string_view op_type);

}  // namespace shoal
