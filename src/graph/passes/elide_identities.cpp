// elide_identities: Identity, inference Dropout and no-op Reshape/Cast/Squeeze/Unsqueeze/Flatten
// nodes removed by renaming, keeping graph output names.
#include "graph/passes.h"

namespace shoal {
namespace {

// Makes node `from_value`'s producer write `to_value` instead, and points all other uses of
// from_value at to_value. Used to drop a pass-through node without renaming graph outputs.
// Returns false when from_value has no producer (a graph input or constant).
bool retarget_producer(Graph& g, ValueId from_value, ValueId to_value) {
  NodeId p = g.value(from_value).producer;
  if (p < 0 || g.nodes[static_cast<size_t>(p)].dead) return false;
  if (g.is_graph_output(from_value)) return false;
  Node& prod = g.nodes[static_cast<size_t>(p)];
  for (ValueId& o : prod.outputs) {
    if (o == from_value) o = to_value;
  }
  g.value(to_value).producer = p;
  g.value(from_value).producer = -1;
  g.replace_uses(from_value, to_value);
  return true;
}

}  // namespace

bool is_inference_dropout(const Graph& g, const Node& n) {
  if (g.opset < 12) return true;
  auto const_value = [&](int slot, double* v) {
    ValueId id = n.input(slot);
    if (id == kNoValue) return false;
    const Value& val = g.value(id);
    if (!val.is_constant() || val.constant.numel() != 1) return false;
    *v = val.constant.get_f64(0);
    return true;
  };
  double training = 0, ratio = 0;
  if (n.input(2) == kNoValue) return true;
  if (const_value(2, &training) && training == 0) return true;
  return const_value(1, &ratio) && ratio == 0;
}

int elide_identities(Graph& g) {
  int count = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& n = g.nodes[i];
    if (n.dead || n.num_inputs() < 1 || n.outputs.empty() || n.outputs[0] == kNoValue) continue;
    bool pass_through = false;
    if (n.op_type == "Identity") pass_through = true;
    if (n.op_type == "Dropout" && (n.outputs.size() < 2 || n.outputs[1] == kNoValue) &&
        is_inference_dropout(g, n)) {
      pass_through = true;
    }
    ValueId in = n.inputs[0];
    ValueId out = n.outputs[0];
    const Value& vi = g.value(in);
    const Value& vo = g.value(out);
    if ((n.op_type == "Reshape" || n.op_type == "Cast" || n.op_type == "Squeeze" ||
         n.op_type == "Unsqueeze" || n.op_type == "Flatten") &&
        vi.has_shape && vo.has_shape && vi.dims == vo.dims && vi.dtype == vo.dtype) {
      pass_through = true;
    }
    if (!pass_through) continue;
    // Prefer keeping the output's name (it may be a graph output).
    n.dead = true;
    if (!g.is_graph_output(in) && retarget_producer(g, in, out)) {
      ++count;
      continue;
    }
    if (!g.is_graph_output(out)) {
      g.replace_uses(out, in);
      ++count;
      continue;
    }
    n.dead = false;  // input and output are both pinned by name: keep the copy
  }
  return count;
}

}  // namespace shoal
