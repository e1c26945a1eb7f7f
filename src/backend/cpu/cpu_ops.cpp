// The native op table, generated from cpu_ops.def, and its lookup.
#include "backend/cpu/cpu_ops.h"

#include "graph/shape_inference.h"

namespace shoal::cpu {
namespace {

const NativeOp kNativeOps[] = {
#define SHOAL_CPU_OP(op, layout_class, broadcasting, supported, build) \
  {#op, LayoutClass::layout_class, broadcasting, supported, build},
#include "backend/cpu/cpu_ops.def"
#undef SHOAL_CPU_OP
};

// Every row names an op of the one op list (graph/ops.def, whose ops each have a shape function
// infer_<op>): a row for an unknown op fails to compile here.
#define SHOAL_CPU_OP(op, ...) &infer_##op,
[[maybe_unused]] void (*const kRowsAreListedOps[])(InferContext&) = {
#include "backend/cpu/cpu_ops.def"
};
#undef SHOAL_CPU_OP

}  // namespace

const NativeOp* find_native_op(const std::string& op_type) {
  for (const NativeOp& op : kNativeOps) {
    if (op_type == op.op_type) return &op;
  }
  return nullptr;
}

}  // namespace shoal::cpu
