// Concat along one axis. With nothing before the axis (batch 1 on channels: YOLO's C2f, SPPF and
// necks) each input is a contiguous byte range of the output: an input whose whole root buffer
// is tiled, in order, by its views is placed inside the Concat output (ProgramValue::alias_of), so
// its producers write straight into the Concat and the input costs nothing. The other inputs
// (graph inputs, constants, batch > 1, misaligned pieces) are strided copies in one step.
// Channel-blocked when every input is whole channel blocks.
#include <algorithm>
#include <map>

#include "backend/cpu/lowering.h"
#include "graph/shape_inference.h"

namespace shoal::cpu {

bool plan_concat(const OpContext& c, NodePlan& pl) {
  if (c.node.op_type != "Concat" || !c.node.post_ops.empty()) return false;
  const int64_t rank = static_cast<int64_t>(c.out[0].dims.size());
  pl.kind = NodeKind::kConcat;
  pl.axis = static_cast<int>(normalize_axis(c.node.attr_int("axis", 0), rank, c.label));
  pl.layout_class = LayoutClass::kUniform;
  bool ok = rank == 4 && pl.axis == 1;
  for (const ValueInfo& v : c.in) ok = ok && v.present() && v.dims[1] % channel_block() == 0;
  pl.blocked_ok = ok;
  return true;
}

void Lowering::emit_concat(NodeId n, const OpContext& c) {
  const Node& node = c.node;
  const NodePlan& pl = plan_[static_cast<size_t>(n)];
  ValueId out = node.outputs[0];
  const Value& ov = g_.value(out);
  const Dims& d = ov.dims;
  const size_t axis = static_cast<size_t>(pl.axis);
  const size_t esize = dtype_size(ov.dtype);
  const int64_t outer = dims_product(d, 0, axis);
  const size_t inner_bytes = static_cast<size_t>(dims_product(d, axis + 1, d.size())) * esize;
  Layout lay = layout_[static_cast<size_t>(out)];
  int dst = new_value(ov.name, ov.dtype, ov.dims, lay);
  pv_[static_cast<size_t>(out)] = dst;
  if (graph_io_[static_cast<size_t>(out)]) fixed_[static_cast<size_t>(dst)] = true;
  const size_t dst_bytes = p_.values[static_cast<size_t>(dst)].bytes;

  const size_t ni = node.inputs.size();
  std::vector<int> in_pv(ni, -1);
  std::vector<size_t> off(ni, 0), bytes(ni, 0);
  size_t pos = 0;
  for (size_t i = 0; i < ni; ++i) {
    ValueId v = node.inputs[i];
    int64_t len = g_.value(v).dims[axis];
    in_pv[i] = value_for(v, lay);
    off[i] = pos * inner_bytes;
    bytes[i] = static_cast<size_t>(len) * inner_bytes;
    pos += static_cast<size_t>(len);
  }
  std::vector<bool> placed(ni, false);
  for (size_t i = 0; i < ni; ++i) placed[i] = bytes[i] == 0;  // empty pieces: nothing to copy
  if (outer == 1) {
    // Group inputs by root buffer; place a root when its pieces tile it exactly and in order.
    std::map<int, std::vector<size_t>> groups;
    for (size_t i = 0; i < ni; ++i) {
      if (placed[i] || g_.value(node.inputs[i]).is_constant()) continue;
      groups[root(in_pv[i]).first].push_back(i);
    }
    for (auto& [r, members] : groups) {
      if (fixed(r) || r == dst) continue;
      std::sort(members.begin(), members.end(),
                [&](size_t a, size_t b) { return root(in_pv[a]).second < root(in_pv[b]).second; });
      size_t expect = 0;
      bool ok = true;
      size_t place = 0;
      for (size_t k = 0; k < members.size(); ++k) {
        size_t i = members[k];
        size_t o = root(in_pv[i]).second;
        if (o != expect || off[i] < o) {
          ok = false;
          break;
        }
        if (k == 0) place = off[i] - o;
        if (off[i] - o != place) {
          ok = false;
          break;
        }
        expect += bytes[i];
      }
      const size_t rbytes = p_.values[static_cast<size_t>(r)].bytes;
      if (!ok || expect != rbytes || place + rbytes > dst_bytes) continue;
      parent_[static_cast<size_t>(r)] = dst;
      parent_offset_[static_cast<size_t>(r)] = place;
      for (size_t i : members) placed[i] = true;
    }
  }
  std::vector<CopyPiece> pieces;
  for (size_t i = 0; i < ni; ++i) {
    if (placed[i]) continue;
    CopyPiece cp;
    cp.in_slot = static_cast<int>(i);
    cp.out_index = 0;
    cp.in_offset = 0;
    cp.in_stride = bytes[i];
    cp.out_offset = off[i];
    cp.out_stride = static_cast<size_t>(d[axis]) * inner_bytes;
    cp.chunk = bytes[i];
    cp.count = outer;
    pieces.push_back(cp);
  }
  if (pieces.empty()) return;
  KernelBuild kb = build_copy(std::move(pieces));
  Step s;
  s.label = c.label + " [copy]";
  s.op = node.op_type;
  s.kernel = std::move(kb.kernel);
  for (int slot : kb.inputs) s.inputs.push_back(in_pv[static_cast<size_t>(slot)]);
  s.outputs = {dst};
  p_.steps.push_back(std::move(s));
}

}  // namespace shoal::cpu
