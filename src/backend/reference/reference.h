// The reference backend's kernels: plain loops, double-precision accumulation. The oracle every
// other backend is checked against, and the evaluator used for constant folding.
// Knows nothing about layouts, memory planning or threads.
#pragma once

#include <vector>

#include "graph/ir.h"

namespace shoal {

// Evaluates `node` (opset `opset`): `in` parallels node.inputs (an undefined Tensor for an omitted
// optional input); `out` parallels node.outputs and is pre-allocated with the inferred dtype and
// dims (an omitted output is an undefined Tensor). Applies node.post_ops. Never allocates outputs.
// Throws kUnsupported naming the node for a dtype or attribute it does not implement.
void reference_eval(const Node& node, int opset, const std::vector<Tensor>& in,
                    std::vector<Tensor>& out);

// Per-op kernels, one per ops.def entry (backend/reference/<op or family>.cpp).
struct RefArgs {
  const Node& node;
  int opset;
  const std::vector<Tensor>& in;
  std::vector<Tensor>& out;
};
#define SHOAL_OP(name, ...) void ref_##name(RefArgs& a);
#include "graph/ops.def"
#undef SHOAL_OP

// Applies node.post_ops to a float output in place (kAdd/kMul read node inputs), in double.
void apply_post_ops(const Node& node, const std::vector<Tensor>& in, Tensor& out);

}  // namespace shoal
