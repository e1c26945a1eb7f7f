#include "graph/ops.h"

namespace shoal {

const std::vector<OpInfo>& supported_ops() {
  static const std::vector<OpInfo> ops = {
#define SHOAL_OP(name, since) {#name, since},
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

}  // namespace shoal
