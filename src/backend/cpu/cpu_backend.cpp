// The oneDNN CPU backend's compile driver. Lowers a specialised graph into a Program in four
// passes:
//  1. classify: each live node becomes a view (Reshape & co.), a Concat/Split/Slice (view or
//     copy), a native kernel (a row of cpu_ops.def) or the generic reference kernel;
//  2. layouts: a 4-D float value with a multiple of 16 channels, produced by a blocked-capable
//     op and read by at least one consumer that benefits, is stored as nChw16c; the rest plain.
//     Fixpoint over two monotone rules (a uniform op with any plain operand runs plain; a value no
//     consumer wants blocked becomes plain), O(iterations * edges);
//  3. emit steps in node order, inserting one reorder per (value, layout) where a consumer needs
//     the other layout;
//  4. views: Reshape-like outputs, batch-1 Split/Slice pieces and elided Concat inputs are stored
//     inside another value's buffer (ProgramValue::alias_of); a Concat input's whole root buffer
//     is placed in the Concat output when its views tile the input's range exactly, so producers
//     write straight into the Concat. Graph inputs, outputs and constants are never placed.
#include "backend/cpu/cpu_backend.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/dnnl_util.h"
#include "core/error.h"
#include "graph/passes.h"
#include "graph/shape_inference.h"
#include "graph/shape_op_params.h"

namespace shoal {
namespace cpu {
namespace {

enum class NodeKind : uint8_t { kView, kConcat, kSplit, kSlice, kNative, kGeneric };

struct NodePlan {
  NodeKind kind = NodeKind::kGeneric;
  const NativeOp* op = nullptr;
  LayoutClass layout_class = LayoutClass::kPlain;
  bool blocked_ok = false;  // kUniform: may run on nChw16c
  int axis = 0;             // Concat/Split/Slice
  int64_t slice_start = 0;  // Slice: first element on `axis`
  std::string why;          // kGeneric: why not native
};

bool is_view_op(const std::string& op) {
  return op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze" ||
         op == "Identity" || op == "Dropout";
}

int64_t prod(const Dims& d, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to && i < d.size(); ++i) p = checked_mul(p, d[i]);
  return p;
}

class Lowering {
 public:
  Lowering(const Graph& g, const CompileOptions& o) : g_(g), opts_(o) {}
  Program run();

 private:
  OpContext context(NodeId n, bool with_layouts) const;
  void classify();
  void assign_layouts();
  Layout required_layout(NodeId n, int slot) const;
  bool carrying_slot(NodeId n, int slot) const;

  int new_value(const std::string& name, DType t, const Dims& d, Layout l);
  int value_for(ValueId v, Layout l);  // emits a reorder on first use of a variant
  void emit(NodeId n);
  void emit_step(NodeId n, const OpContext& c, KernelBuild kb, const std::vector<int>& out_pvs);
  void emit_view(NodeId n, const OpContext& c);
  void emit_concat(NodeId n, const OpContext& c);
  void emit_split_or_slice(NodeId n, const OpContext& c);
  std::pair<int, size_t> root(int pv) const;
  bool fixed(int pv) const { return fixed_[static_cast<size_t>(pv)]; }
  void finish();

  const Graph& g_;
  CompileOptions opts_;
  double graph_flops_ = 0;
  std::vector<NodeId> order_;
  std::vector<std::vector<NodeId>> consumers_;
  std::vector<NodePlan> plan_;  // per node id
  std::vector<Layout> layout_;  // per graph value
  std::vector<bool> graph_io_;  // per graph value: graph input or output
  Program p_;
  std::vector<int> pv_;  // graph value -> program value in layout_[v]
  std::map<std::pair<ValueId, Layout>, int> variant_;
  std::vector<int> parent_;  // per program value: the value it is stored in, or -1
  std::vector<size_t> parent_offset_;
  std::vector<bool> fixed_;  // graph I/O or constant: never placed inside another value
};

OpContext Lowering::context(NodeId n, bool with_layouts) const {
  const Node& node = g_.nodes[static_cast<size_t>(n)];
  OpContext c{node, g_.node_label(n), static_cast<int>(g_.opset), opts_.precision, {}, {},
              graph_flops_};
  auto info = [&](ValueId v) {
    ValueInfo i;
    if (v == kNoValue) return i;
    const Value& val = g_.value(v);
    i.dtype = val.dtype;
    i.dims = val.dims;
    if (val.is_constant()) i.constant = &val.constant;
    if (with_layouts) i.layout = layout_[static_cast<size_t>(v)];
    return i;
  };
  for (ValueId v : node.inputs) c.in.push_back(info(v));
  for (ValueId v : node.outputs) c.out.push_back(info(v));
  return c;
}

void Lowering::classify() {
  plan_.assign(g_.nodes.size(), NodePlan{});
  for (NodeId n : order_) {
    const Node& node = g_.nodes[static_cast<size_t>(n)];
    NodePlan& pl = plan_[static_cast<size_t>(n)];
    OpContext c = context(n, false);
    bool empty = false;
    for (const ValueInfo& o : c.out) {
      if (o.present() && num_elements(o.dims) == 0) empty = true;
    }
    if (!node.domain.empty() && node.domain != "ai.onnx") {
      pl.why = "domain " + node.domain;
      continue;
    }
    if (empty) {
      pl.why = "empty output";
      continue;
    }
    const std::string& op = node.op_type;
    if (is_view_op(op) && (op != "Dropout" || is_inference_dropout(g_, node)) &&
        node.post_ops.empty() && c.in.size() >= 1 && c.in[0].present() && c.out.size() >= 1 &&
        c.out[0].present() && (c.out.size() == 1 || !c.out[1].present()) &&
        num_elements(c.in[0].dims) == num_elements(c.out[0].dims) &&
        c.in[0].dtype == c.out[0].dtype) {
      pl.kind = NodeKind::kView;
      continue;
    }
    if ((op == "Concat" || op == "Split") && node.post_ops.empty()) {
      const Dims& d = op == "Concat" ? c.out[0].dims : c.in[0].dims;
      int64_t rank = static_cast<int64_t>(d.size());
      pl.kind = op == "Concat" ? NodeKind::kConcat : NodeKind::kSplit;
      pl.axis = static_cast<int>(normalize_axis(node.attr_int("axis", 0), rank, c.label));
      pl.layout_class = LayoutClass::kUniform;
      bool ok = rank == 4 && pl.axis == 1;
      const std::vector<ValueInfo>& pieces = op == "Concat" ? c.in : c.out;
      for (const ValueInfo& v : pieces) ok = ok && v.present() && v.dims[1] % 16 == 0;
      pl.blocked_ok = ok;
      continue;
    }
    if (op == "Slice" && node.post_ops.empty()) {
      // A step-1 slice along one axis is a Split with one piece.
      bool const_params = true;
      std::vector<int64_t> starts, ends, axes, steps;
      if (c.opset >= 10 && c.in.size() < 3) {
        const_params = false;
      } else if (c.opset >= 10) {
        for (int i = 1; i < static_cast<int>(c.in.size()); ++i) {
          if (c.in[static_cast<size_t>(i)].present() && !c.in[static_cast<size_t>(i)].constant) {
            const_params = false;
          }
        }
        if (const_params) {
          starts = c.in[1].constant->to_i64_vector();
          ends = c.in[2].constant->to_i64_vector();
          if (c.in.size() > 3 && c.in[3].present()) axes = c.in[3].constant->to_i64_vector();
          if (c.in.size() > 4 && c.in[4].present()) steps = c.in[4].constant->to_i64_vector();
        }
      } else {
        starts = node.attr_ints("starts");
        ends = node.attr_ints("ends");
        axes = node.attr_ints("axes");
      }
      if (const_params) {
        SliceParams sp = slice_params(c.in[0].dims, starts, ends, axes, steps, c.label);
        int differing = 0, axis = 0;
        bool unit = true;
        for (size_t i = 0; i < sp.steps.size(); ++i) {
          if (sp.steps[i] != 1) unit = false;
          if (sp.out_dims[i] != c.in[0].dims[i]) {
            ++differing;
            axis = static_cast<int>(i);
          }
        }
        if (unit && differing <= 1 && sp.out_dims == c.out[0].dims) {
          pl.kind = NodeKind::kSlice;
          pl.axis = axis;
          pl.slice_start = sp.starts[static_cast<size_t>(axis)];
          pl.layout_class = LayoutClass::kUniform;
          pl.blocked_ok = c.in[0].dims.size() == 4 && axis == 1 && pl.slice_start % 16 == 0 &&
                          c.out[0].dims[1] % 16 == 0;
          continue;
        }
      }
      pl.why = "Slice with steps, several axes or run-time parameters";
      continue;
    }
    const NativeOp* nat = find_native_op(op);
    std::string why;
    if (!nat) {
      pl.why = "no native kernel for " + op;
      continue;
    }
    if (!nat->supported(c, &why)) {
      pl.why = why;
      continue;
    }
    pl.kind = NodeKind::kNative;
    pl.op = nat;
    pl.layout_class = nat->layout_class;
    pl.blocked_ok = c.out.size() >= 1 && c.out[0].present() && c.out[0].dims.size() == 4;
  }
}

bool Lowering::carrying_slot(NodeId n, int slot) const {
  const Node& node = g_.nodes[static_cast<size_t>(n)];
  const NodePlan& pl = plan_[static_cast<size_t>(n)];
  if (pl.layout_class != LayoutClass::kUniform) return false;
  ValueId v = node.input(slot);
  if (v == kNoValue) return false;
  if (pl.kind == NodeKind::kConcat) return true;
  if (pl.kind == NodeKind::kSplit || pl.kind == NodeKind::kSlice) return slot == 0;
  if (slot == 0 && pl.op && !pl.op->broadcasting) return true;
  ValueId o = node.outputs.empty() ? kNoValue : node.outputs[0];
  return o != kNoValue && g_.value(v).dims == g_.value(o).dims;
}

void Lowering::assign_layouts() {
  const size_t nv = g_.values.size();
  std::vector<bool> blocked(nv, false);
  for (NodeId n : order_) {
    const NodePlan& pl = plan_[static_cast<size_t>(n)];
    bool capable = (pl.layout_class == LayoutClass::kFree && pl.kind == NodeKind::kNative) ||
                   (pl.layout_class == LayoutClass::kUniform && pl.blocked_ok);
    if (!capable) continue;
    for (ValueId v : g_.nodes[static_cast<size_t>(n)].outputs) {
      if (v == kNoValue) continue;
      const Value& val = g_.value(v);
      if (val.dtype == DType::kF32 && val.dims.size() == 4 && val.dims[1] > 0 &&
          val.dims[1] % 16 == 0 && !graph_io_[static_cast<size_t>(v)] && !val.is_constant()) {
        blocked[static_cast<size_t>(v)] = true;
      }
    }
  }
  for (bool changed = true; changed;) {
    changed = false;
    // A uniform op runs blocked only when all its carried operands are blocked.
    for (NodeId n : order_) {
      const Node& node = g_.nodes[static_cast<size_t>(n)];
      if (plan_[static_cast<size_t>(n)].layout_class != LayoutClass::kUniform) continue;
      bool all = true;
      for (int s = 0; s < static_cast<int>(node.inputs.size()); ++s) {
        if (carrying_slot(n, s) &&
            !blocked[static_cast<size_t>(node.inputs[static_cast<size_t>(s)])]) {
          all = false;
        }
      }
      for (ValueId o : node.outputs) {
        if (o != kNoValue && !blocked[static_cast<size_t>(o)]) all = false;
      }
      if (all) continue;
      for (ValueId o : node.outputs) {
        if (o != kNoValue && blocked[static_cast<size_t>(o)]) {
          blocked[static_cast<size_t>(o)] = false;
          changed = true;
        }
      }
    }
    // A value stays blocked only if some consumer takes it blocked without a conversion.
    for (size_t v = 0; v < nv; ++v) {
      if (!blocked[v]) continue;
      bool wanted = false;
      for (NodeId n : consumers_[v]) {
        const Node& node = g_.nodes[static_cast<size_t>(n)];
        const NodePlan& pl = plan_[static_cast<size_t>(n)];
        for (int s = 0; s < static_cast<int>(node.inputs.size()); ++s) {
          if (node.inputs[static_cast<size_t>(s)] != static_cast<ValueId>(v)) continue;
          ValueId o = node.outputs.empty() ? kNoValue : node.outputs[0];
          bool out_blocked = o != kNoValue && blocked[static_cast<size_t>(o)];
          if (pl.layout_class == LayoutClass::kFree) {
            if (s == 0)
              wanted = true;
            else if (out_blocked && g_.value(static_cast<ValueId>(v)).dims == g_.value(o).dims)
              wanted = true;
          } else if (pl.layout_class == LayoutClass::kUniform && carrying_slot(n, s) &&
                     out_blocked) {
            wanted = true;
          }
        }
      }
      if (!wanted) {
        blocked[v] = false;
        changed = true;
      }
    }
  }
  layout_.assign(nv, Layout::kPlain);
  for (size_t v = 0; v < nv; ++v) {
    if (blocked[v]) layout_[v] = Layout::kBlocked16;
  }
}

Layout Lowering::required_layout(NodeId n, int slot) const {
  const Node& node = g_.nodes[static_cast<size_t>(n)];
  const NodePlan& pl = plan_[static_cast<size_t>(n)];
  ValueId v = node.input(slot);
  ValueId o = node.outputs.empty() ? kNoValue : node.outputs[0];
  Layout out = o == kNoValue ? Layout::kPlain : layout_[static_cast<size_t>(o)];
  if (pl.kind == NodeKind::kSplit || pl.kind == NodeKind::kSlice) {
    return slot == 0 ? out : Layout::kPlain;
  }
  if (pl.layout_class == LayoutClass::kFree) {
    if (slot == 0) return layout_[static_cast<size_t>(v)];
    return operand_layout(g_.value(v).dims, g_.value(o).dims, out);
  }
  if (pl.layout_class == LayoutClass::kUniform && carrying_slot(n, slot)) return out;
  return Layout::kPlain;
}

int Lowering::new_value(const std::string& name, DType t, const Dims& d, Layout l) {
  ProgramValue pv;
  pv.name = name;
  pv.dtype = t;
  pv.dims = d;
  pv.layout = layout_name(l);
  pv.bytes = storage_bytes(t, d, l);
  p_.values.push_back(std::move(pv));
  parent_.push_back(-1);
  parent_offset_.push_back(0);
  fixed_.push_back(false);
  return static_cast<int>(p_.values.size() - 1);
}

int Lowering::value_for(ValueId v, Layout l) {
  if (v == kNoValue) return -1;
  const Value& val = g_.value(v);
  int& base = pv_[static_cast<size_t>(v)];
  if (base < 0) {
    if (!val.is_constant()) {
      fail(ErrorCode::kInternal, "cpu backend: value '{}' is read before it is produced", val.name);
    }
    base = new_value(val.name, val.dtype, val.dims, Layout::kPlain);
    ProgramValue& pv = p_.values.back();
    pv.constant = val.constant;
    pv.bytes = 0;
    fixed_.back() = true;
  }
  Layout have = val.is_constant() ? Layout::kPlain : layout_[static_cast<size_t>(v)];
  if (have == l) return base;
  auto key = std::make_pair(v, l);
  auto it = variant_.find(key);
  if (it != variant_.end()) return it->second;
  int var = new_value(val.name + "#" + layout_name(l), val.dtype, val.dims, l);
  variant_[key] = var;
  KernelBuild kb = build_reorder(val.dtype, val.dims, have, l);
  Step s;
  s.label =
      fmt::format("Reorder '{}' {}->{} [{}]", val.name, layout_name(have), layout_name(l), kb.impl);
  s.op = "Reorder";
  s.kernel = std::move(kb.kernel);
  s.inputs = {base};
  s.outputs = {var};
  s.scratch_bytes = kb.scratch_bytes;
  p_.steps.push_back(std::move(s));
  return var;
}

void Lowering::emit_step(NodeId n, const OpContext& c, KernelBuild kb,
                         const std::vector<int>& out_pvs) {
  const Node& node = c.node;
  Step s;
  s.label = c.label;
  for (const PostOp& po : node.post_ops) s.label += std::string(" + ") + post_op_name(po.kind);
  s.label += " [" + kb.impl + "]";
  s.op = node.op_type;
  for (int slot : kb.inputs) {
    s.inputs.push_back(
        slot < 0 ? -1 : value_for(node.input(slot), c.in[static_cast<size_t>(slot)].layout));
  }
  s.outputs = out_pvs;
  s.kernel = std::move(kb.kernel);
  s.scratch_bytes = kb.scratch_bytes;
  s.flops = kb.flops;
  if (kb.in_place && !s.inputs.empty() && s.inputs[0] >= 0) s.in_place = {0};
  p_.packed_weight_bytes += kb.packed_bytes;
  // Reorders emitted by value_for precede this step.
  p_.steps.push_back(std::move(s));
}

std::pair<int, size_t> Lowering::root(int pv) const {
  size_t off = 0;
  while (parent_[static_cast<size_t>(pv)] >= 0) {
    off += parent_offset_[static_cast<size_t>(pv)];
    pv = parent_[static_cast<size_t>(pv)];
  }
  return {pv, off};
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

void Lowering::emit_split_or_slice(NodeId n, const OpContext& c) {
  const Node& node = c.node;
  const NodePlan& pl = plan_[static_cast<size_t>(n)];
  const Dims& d = c.in[0].dims;
  const size_t axis = static_cast<size_t>(pl.axis);
  const size_t esize = dtype_size(c.in[0].dtype);
  const int64_t outer = prod(d, 0, axis);
  const size_t inner_bytes = static_cast<size_t>(prod(d, axis + 1, d.size())) * esize;
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

void Lowering::emit_concat(NodeId n, const OpContext& c) {
  const Node& node = c.node;
  const NodePlan& pl = plan_[static_cast<size_t>(n)];
  ValueId out = node.outputs[0];
  const Value& ov = g_.value(out);
  const Dims& d = ov.dims;
  const size_t axis = static_cast<size_t>(pl.axis);
  const size_t esize = dtype_size(ov.dtype);
  const int64_t outer = prod(d, 0, axis);
  const size_t inner_bytes = static_cast<size_t>(prod(d, axis + 1, d.size())) * esize;
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

void Lowering::emit(NodeId n) {
  const Node& node = g_.nodes[static_cast<size_t>(n)];
  const NodePlan& pl = plan_[static_cast<size_t>(n)];
  OpContext c = context(n, true);
  for (size_t s = 0; s < c.in.size(); ++s) {
    if (c.in[s].present()) {
      c.in[s].layout = c.in[s].constant ? Layout::kPlain : required_layout(n, static_cast<int>(s));
    }
  }
  switch (pl.kind) {
    case NodeKind::kView:
      return emit_view(n, c);
    case NodeKind::kConcat:
      return emit_concat(n, c);
    case NodeKind::kSplit:
    case NodeKind::kSlice:
      return emit_split_or_slice(n, c);
    default:
      break;
  }
  KernelBuild kb;
  std::string why = pl.why;
  bool native = pl.kind == NodeKind::kNative;
  if (native) {
    try {
      kb = pl.op->build(c);
    } catch (const dnnl::error& e) {
      // oneDNN rejected this shape; run it generic when its outputs are plain anyway.
      bool plain_out = true;
      for (const ValueInfo& o : c.out) plain_out = plain_out && o.layout == Layout::kPlain;
      if (!plain_out) {
        fail(ErrorCode::kUnsupported, "{}: oneDNN rejected it: {}", c.label, e.what());
      }
      native = false;
      why = std::string("oneDNN rejected it: ") + e.what();
    }
  }
  if (!native) {
    for (auto& i : c.in) i.layout = Layout::kPlain;
    kb = build_generic(c);
    kb.impl = "generic: " + why;
    std::replace(kb.impl.begin(), kb.impl.end(), '[', '(');  // keep the label's [impl] parseable
    std::replace(kb.impl.begin(), kb.impl.end(), ']', ')');
  }
  // Constant inputs a kernel reads at run time are given in plain layout.
  for (int slot : kb.inputs) {
    if (slot >= 0 && c.in[static_cast<size_t>(slot)].constant) {
      c.in[static_cast<size_t>(slot)].layout = Layout::kPlain;
    }
  }
  std::vector<int> outs;
  for (ValueId o : node.outputs) {
    if (o == kNoValue) {
      outs.push_back(-1);
      continue;
    }
    const Value& ov = g_.value(o);
    int pv = new_value(ov.name, ov.dtype, ov.dims, layout_[static_cast<size_t>(o)]);
    if (graph_io_[static_cast<size_t>(o)]) fixed_[static_cast<size_t>(pv)] = true;
    pv_[static_cast<size_t>(o)] = pv;
    outs.push_back(pv);
  }
  emit_step(n, c, std::move(kb), outs);
}

void Lowering::finish() {
  for (size_t v = 0; v < p_.values.size(); ++v) {
    auto [r, off] = root(static_cast<int>(v));
    if (r != static_cast<int>(v)) {
      p_.values[v].alias_of = r;
      p_.values[v].alias_offset = off;
    }
  }
  for (ValueId v : g_.outputs) {
    int pv = pv_[static_cast<size_t>(v)];
    if (pv < 0) {
      pv = value_for(v, Layout::kPlain);  // a constant output
    }
    p_.outputs.push_back(pv);
  }
}

Program Lowering::run() {
  order_ = g_.live_nodes();
  graph_flops_ = graph_flops(g_);
  consumers_ = g_.consumers();
  graph_io_.assign(g_.values.size(), false);
  for (ValueId v : g_.inputs) graph_io_[static_cast<size_t>(v)] = true;
  for (ValueId v : g_.outputs) graph_io_[static_cast<size_t>(v)] = true;
  for (const Value& v : g_.values) {
    if (!v.is_constant() && !v.has_shape && v.producer >= 0 &&
        !g_.nodes[static_cast<size_t>(v.producer)].dead) {
      fail(ErrorCode::kInvalidArgument,
           "cpu backend: value '{}' has no shape; specialise the "
           "graph to fixed input dims first",
           v.name);
    }
  }
  classify();
  assign_layouts();
  pv_.assign(g_.values.size(), -1);
  for (ValueId v : g_.inputs) {
    const Value& val = g_.value(v);
    int pv = new_value(val.name, val.dtype, val.dims, Layout::kPlain);
    fixed_[static_cast<size_t>(pv)] = true;
    pv_[static_cast<size_t>(v)] = pv;
    p_.inputs.push_back(pv);
  }
  for (NodeId n : order_) emit(n);
  finish();
  // SHOAL_VERBOSE=1: the summary on stderr; 2: also every step with its outputs' layouts.
  if (const char* e = std::getenv("SHOAL_VERBOSE"); e && *e && *e != '0') {
    std::fprintf(stderr, "cpu backend: %s\n",
                 format_cpu_summary(summarize_cpu_program(p_)).c_str());
    if (std::atoi(e) >= 2) {
      for (const Step& st : p_.steps) {
        std::string outs;
        for (int o : st.outputs) {
          if (o < 0) continue;
          const ProgramValue& v = p_.values[static_cast<size_t>(o)];
          outs += fmt::format(" {}{}", v.layout, dims_str(v.dims));
          if (v.alias_of >= 0) outs += fmt::format("@{}+{}", v.alias_of, v.alias_offset);
        }
        std::fprintf(stderr, "  %s ->%s\n", st.label.c_str(), outs.c_str());
      }
    }
  }
  return std::move(p_);
}

class CpuBackend final : public Backend {
 public:
  const char* name() const override { return "cpu"; }
  Program compile(const Graph& g, const CompileOptions& opts) override {
    if (opts.precision != DType::kF32) {
      fail(ErrorCode::kUnsupported,
           "cpu backend: precision {} is not implemented yet (fp32 only; bf16 and int8 are "
           "planned)",
           dtype_name(opts.precision));
    }
    sync_threads();
    WeightScope scope(opts.weights);
    try {
      Program p = Lowering(g, opts).run();
      p.blobs = scope.take_blobs();
      return p;
    } catch (const dnnl::error& e) {
      fail(ErrorCode::kInternal, "cpu backend: oneDNN error: {}", e.what());
    }
  }
};

}  // namespace
}  // namespace cpu

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<cpu::CpuBackend>(); }

CpuProgramSummary summarize_cpu_program(const Program& p) {
  CpuProgramSummary s;
  s.steps = static_cast<int>(p.steps.size());
  for (const Step& st : p.steps) {
    std::string impl;
    size_t lb = st.label.rfind(" [");
    if (lb != std::string::npos && st.label.back() == ']') {
      impl = st.label.substr(lb + 2, st.label.size() - lb - 3);
    }
    if (st.op == "Reorder") {
      ++s.reorders;
    } else if (impl.rfind("generic", 0) == 0) {
      ++s.generic;
      ++s.generic_ops[st.op];
    } else if (impl == "copy") {
      ++s.copies;
    } else {
      ++s.native;
      if (cpu::is_reference_impl(impl) || impl.find("ref:") != std::string::npos) ++s.slow;
    }
    ++s.impls[impl];
  }
  for (const ProgramValue& v : p.values) {
    if (v.alias_of >= 0) ++s.views;
    if (v.layout == "nChw16c") ++s.blocked_values;
  }
  return s;
}

std::string format_cpu_summary(const CpuProgramSummary& s) {
  std::string r = fmt::format(
      "{} steps: {} native, {} generic, {} copies, {} reorders; {} views; {} nChw16c values",
      s.steps, s.native, s.generic, s.copies, s.reorders, s.views, s.blocked_values);
  if (s.slow) r += fmt::format("; {} steps on oneDNN reference implementations", s.slow);
  if (!s.generic_ops.empty()) {
    r += "; generic:";
    for (const auto& [op, n] : s.generic_ops) r += fmt::format(" {}x{}", op, n);
  }
  return r;
}

}  // namespace shoal
