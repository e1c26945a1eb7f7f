// Lookup into the one op list (ops.def): is an op supported, from which opset, with how many
// inputs and outputs.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace shoal {

// A variadic input or output count.
inline constexpr int kAny = 1 << 30;

struct OpInfo {
  const char* op_type;
  int first_opset;
  int min_inputs;   // inputs 0..min_inputs-1 are required
  int max_inputs;   // kAny: variadic
  int max_outputs;  // output 0 is always required
};

// Every supported op, in ops.def order.
const std::vector<OpInfo>& supported_ops();
// nullptr when `op_type` (domain ai.onnx) is not supported.
const OpInfo* find_op(std::string_view op_type);

// Throws kInvalidModel, naming the node by `label`, when a node of `op` has an input or output
// count outside ops.def's range, or leaves a required input or output 0 empty. present_inputs[i]
// and present_outputs[i]: whether the node gives input / output i (ONNX marks absent optional
// ones with an empty name).
void check_arity(const OpInfo& op, const std::string& label,
                 const std::vector<bool>& present_inputs, const std::vector<bool>& present_outputs);

}  // namespace shoal
