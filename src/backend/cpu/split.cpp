// Split along one axis (and Slice, which slice.cpp plans as a one-piece Split). With nothing
// before the axis (batch 1 on channels, YOLO's C2f) every piece is a contiguous byte range of the
// input: a view, no step. Otherwise, and for graph outputs or a constant input, the pieces are
// strided copies in one step. Channel-blocked when every piece is whole channel blocks.
#include "backend/cpu/lowering.h"
#include "graph/shape_inference.h"

namespace shoal::cpu {

bool plan_split(const OpContext& c, NodePlan& pl) {
  if (c.node.op_type != "Split" || !c.node.post_ops.empty()) return false;
  const int64_t rank = static_cast<int64_t>(c.in[0].dims.size());
  pl.kind = NodeKind::kSplit;
  pl.axis = static_cast<int>(normalize_axis(c.node.attr_int("axis", 0), rank, c.label));
  pl.layout_class = LayoutClass::kUniform;
  bool ok = rank == 4 && pl.axis == 1;
  for (const ValueInfo& v : c.out) ok = ok && v.present() && v.dims[1] % channel_block() == 0;
  pl.blocked_ok = ok;
  return true;
}

void Lowering::emit_split(NodeId n, const OpContext& c) {
  const Node& node = c.node;
  const NodePlan& pl = plan_[static_cast<size_t>(n)];
  const Dims& d = c.in[0].dims;
  const size_t axis = static_cast<size_t>(pl.axis);
  const size_t esize = dtype_size(c.in[0].dtype);
  const int64_t outer = dims_product(d, 0, axis);
  const size_t inner_bytes = static_cast<size_t>(dims_product(d, axis + 1, d.size())) * esize;
  Layout lay = required_layout(n, 0);
  ValueId in = node.inputs[0];
  bool view_ok = outer == 1 && !g_.value(in).is_constant();
  int src = value_for(in, lay);

  std::vector<int> out_pvs;
  std::vector<CopyPiece> pieces;
  int64_t start = pl.kind == NodeKind::kSlice ? pl.slice_start : 0;
  for (size_t k = 0; k < node.outputs.size(); ++k) {
    ValueId o = node.outputs[k];
    if (o == kNoValue) {
      out_pvs.push_back(-1);
      continue;
    }
    const Value& ov = g_.value(o);
    int64_t len = ov.dims[axis];
    int pv = new_value(ov.name, ov.dtype, ov.dims, layout_[static_cast<size_t>(o)]);
    pv_[static_cast<size_t>(o)] = pv;
    out_pvs.push_back(pv);
    size_t off = static_cast<size_t>(start) * inner_bytes;
    size_t chunk = static_cast<size_t>(len) * inner_bytes;
    if (view_ok && !graph_io_[static_cast<size_t>(o)]) {
      parent_[static_cast<size_t>(pv)] = src;
      parent_offset_[static_cast<size_t>(pv)] = off;
    } else {
      if (graph_io_[static_cast<size_t>(o)]) fixed_[static_cast<size_t>(pv)] = true;
      CopyPiece cp;
      cp.in_slot = 0;
      cp.out_index = static_cast<int>(k);
      cp.in_offset = off;
      cp.in_stride = static_cast<size_t>(d[axis]) * inner_bytes;
      cp.out_offset = 0;
      cp.out_stride = chunk;
      cp.chunk = chunk;
      cp.count = outer;
      pieces.push_back(cp);
    }
    start += len;
  }
  if (pieces.empty()) return;
  KernelBuild kb = build_copy(std::move(pieces));
  kb.inputs = {0};
  Step s;
  s.label = c.label + " [copy]";
  s.op = node.op_type;
  s.kernel = std::move(kb.kernel);
  s.inputs = {src};
  s.outputs = out_pvs;
  p_.steps.push_back(std::move(s));
}

}  // namespace shoal::cpu
