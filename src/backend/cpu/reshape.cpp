// Reshape, Flatten, Squeeze, Unsqueeze, Identity and inference-mode Dropout: the same bytes under
// new dims, so the output is a view (stored at offset 0 of the input's buffer; no step), a
// reshaped constant, or, when the output is a graph output, a copy (graph outputs own their
// buffers).
#include "backend/cpu/lowering.h"
#include "graph/passes.h"

namespace shoal::cpu {

bool plan_view(const Graph& g, const OpContext& c, NodePlan& pl) {
  const Node& node = c.node;
  const std::string& op = node.op_type;
  const bool view_op = op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze" ||
                       op == "Identity" || op == "Dropout";
  if (!view_op || (op == "Dropout" && !is_inference_dropout(g, node)) || !node.post_ops.empty() ||
      c.in.empty() || !c.in[0].present() || c.out.empty() || !c.out[0].present() ||
      (c.out.size() > 1 && c.out[1].present()) ||
      num_elements(c.in[0].dims) != num_elements(c.out[0].dims) ||
      c.in[0].dtype != c.out[0].dtype) {
    return false;
  }
  pl.kind = NodeKind::kView;
  return true;
}

void Lowering::emit_view(NodeId n, const OpContext& c) {
  const Node& node = c.node;
  ValueId in = node.inputs[0], out = node.outputs[0];
  const Value& iv = g_.value(in);
  const Value& ov = g_.value(out);
  if (iv.is_constant()) {
    int pv = new_value(ov.name, ov.dtype, ov.dims, Layout::kPlain);
    p_.values[static_cast<size_t>(pv)].constant = iv.constant.reshaped(ov.dims);
    p_.values[static_cast<size_t>(pv)].bytes = 0;
    fixed_[static_cast<size_t>(pv)] = true;
    pv_[static_cast<size_t>(out)] = pv;
    return;
  }
  int src = value_for(in, Layout::kPlain);
  int dst = new_value(ov.name, ov.dtype, ov.dims, Layout::kPlain);
  pv_[static_cast<size_t>(out)] = dst;
  if (graph_io_[static_cast<size_t>(out)]) {
    fixed_[static_cast<size_t>(dst)] = true;
    size_t bytes = p_.values[static_cast<size_t>(dst)].bytes;
    KernelBuild kb = build_copy({{0, 0, 0, bytes, 0, bytes, bytes, 1}});
    kb.inputs = {0};
    Step s;
    s.label = c.label + " [copy]";
    s.op = node.op_type;
    s.kernel = std::move(kb.kernel);
    s.inputs = {src};
    s.outputs = {dst};
    p_.steps.push_back(std::move(s));
    return;
  }
  parent_[static_cast<size_t>(dst)] = src;
  parent_offset_[static_cast<size_t>(dst)] = 0;
}

}  // namespace shoal::cpu
