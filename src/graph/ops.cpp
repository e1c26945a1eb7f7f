#include "graph/ops.h"

#include "core/error.h"

namespace shoal {

const std::vector<OpInfo>& supported_ops() {
  static const std::vector<OpInfo> ops = {
#define SHOAL_OP(name, since, min_in, max_in, max_out) {#name, since, min_in, max_in, max_out},
#include "graph/ops.def"
#undef SHOAL_OP
  };
  return ops;
}

const OpInfo* find_op(std::string_view op_type) {
  for (const OpInfo& op : supported_ops()) {
    if (op_type == op.op_type) return &op;
  }
  return nullptr;
}

namespace {

// "1 input", "2 to 3 inputs", "at least 1 input".
std::string count_range(int lo, int hi, const char* noun) {
  std::string n = hi == kAny ? fmt::format("at least {}", lo)
                  : lo == hi ? std::to_string(lo)
                             : fmt::format("{} to {}", lo, hi);
  return fmt::format("{} {}{}", n, noun, hi == 1 ? "" : "s");
}

}  // namespace

void check_arity(const OpInfo& op, const std::string& label,
                 const std::vector<bool>& present_inputs,
                 const std::vector<bool>& present_outputs) {
  const int n_in = static_cast<int>(present_inputs.size());
  if (n_in < op.min_inputs || n_in > op.max_inputs) {
    fail(ErrorCode::kInvalidModel, "{}: {} takes {}, the node has {}", label, op.op_type,
         count_range(op.min_inputs, op.max_inputs, "input"), n_in);
  }
  for (int i = 0; i < op.min_inputs; ++i) {
    if (!present_inputs[static_cast<size_t>(i)]) {
      fail(ErrorCode::kInvalidModel, "{}: input {} of {} is required but the node leaves it empty",
           label, i, op.op_type);
    }
  }
  const int n_out = static_cast<int>(present_outputs.size());
  if (n_out < 1 || n_out > op.max_outputs) {
    fail(ErrorCode::kInvalidModel, "{}: {} gives {}, the node lists {}", label, op.op_type,
         count_range(1, op.max_outputs, "output"), n_out);
  }
  if (!present_outputs[0]) {
    fail(ErrorCode::kInvalidModel, "{}: output 0 of {} is required but the node leaves it empty",
         label, op.op_type);
  }
}

}  // namespace shoal
