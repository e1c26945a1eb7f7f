// fuse_residual_add: Add(Conv(...), other of the same shape) becomes a sum post-op of the Conv.
#include <algorithm>

#include "graph/passes.h"
#include "graph/passes/pass_util.h"

namespace shoal {

using passes_internal::is_f32;
using passes_internal::sole_consumer;

int fuse_residual_add(Graph& g) {
  int count = 0;
  auto cons = g.consumers();
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& prod = g.nodes[i];
    if (prod.dead || prod.op_type != "Conv" || prod.outputs.empty()) continue;
    ValueId x = prod.outputs[0];
    if (x == kNoValue || g.is_graph_output(x) || !is_f32(g.value(x))) continue;
    NodeId a = sole_consumer(cons, x);
    if (a < 0) continue;
    Node& add = g.nodes[static_cast<size_t>(a)];
    if (add.op_type != "Add" || add.num_inputs() != 2) continue;
    ValueId other = add.inputs[0] == x ? add.inputs[1] : add.inputs[0];
    if (other == x) continue;
    const Value& ov = g.value(other);
    if (ov.dims != g.value(x).dims || ov.dtype != g.value(x).dtype) continue;
    ValueId y = add.outputs[0];
    add.dead = true;
    prod.inputs.resize(std::max<size_t>(prod.inputs.size(), 3), kNoValue);
    prod.inputs.push_back(other);
    PostOp po;
    po.kind = PostOp::Kind::kAdd;
    po.input = static_cast<int>(prod.inputs.size() - 1);
    prod.post_ops.push_back(po);
    prod.outputs[0] = y;
    g.value(y).producer = static_cast<NodeId>(i);
    g.value(x).producer = -1;
    ++count;
    cons = g.consumers();
  }
  if (count) g.topo_sort();
  return count;
}

}  // namespace shoal
