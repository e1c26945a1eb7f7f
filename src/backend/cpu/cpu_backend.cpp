// The oneDNN CPU backend's compile driver. Lowers a specialised graph into a Program in four
// passes:
//  1. classify: each live node becomes a view (Reshape & co., reshape.cpp), a Concat/Split/Slice
//     (view or copy: concat.cpp, split.cpp, slice.cpp), a native kernel (a row of cpu_ops.def)
//     or the generic reference kernel (generic.cpp);
//  2. layouts: a 4-D float value whose channels are whole blocks (channel_block(): 16 with
//     AVX-512, else 8), produced by a blocked-capable op and read by at least one consumer that
//     benefits, is stored channel-blocked (nChw16c / nChw8c); the rest plain.
//     Fixpoint over two monotone rules (a uniform op with any plain operand runs plain; a value no
//     consumer wants blocked becomes plain), O(iterations * edges);
//  3. emit steps in node order, inserting one reorder per (value, layout) where a consumer needs
//     the other layout;
//  4. views: Reshape-like outputs, batch-1 Split/Slice pieces and elided Concat inputs are stored
//     inside another value's buffer (ProgramValue::alias_of); a Concat input's whole root buffer
//     is placed in the Concat output when its views tile the input's range exactly, so producers
//     write straight into the Concat. Graph inputs, outputs and constants are never placed.
// The Lowering class (lowering.h) holds the state; the data-movement ops' emit functions live in
// their own files.
#include "backend/cpu/cpu_backend.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/dnnl_util.h"
#include "backend/cpu/lowering.h"
#include "core/error.h"

namespace shoal {
namespace cpu {

int64_t dims_product(const Dims& d, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to && i < d.size(); ++i) p = checked_mul(p, d[i]);
  return p;
}

OpContext Lowering::context(NodeId n, bool with_layouts) const {
  const Node& node = g_.nodes[static_cast<size_t>(n)];
  OpContext c{node, g_.node_label(n), static_cast<int>(g_.opset), opts_.precision, {},
              {},   graph_flops_};
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
    if (plan_view(g_, c, pl) || plan_concat(c, pl) || plan_split(c, pl) || plan_slice(c, pl)) {
      continue;
    }
    const std::string& op = node.op_type;
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
          val.dims[1] % channel_block() == 0 && !graph_io_[static_cast<size_t>(v)] &&
          !val.is_constant()) {
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
    if (blocked[v]) layout_[v] = Layout::kBlocked;
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
      return emit_split(n, c);
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

namespace {

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
    if (v.layout != "plain") {
      ++s.blocked_values;
      s.blocked_layout = v.layout;
    }
  }
  return s;
}

std::string format_cpu_summary(const CpuProgramSummary& s) {
  std::string r = fmt::format(
      "{} steps: {} native, {} generic, {} copies, {} reorders; {} views; {} {} values", s.steps,
      s.native, s.generic, s.copies, s.reorders, s.views, s.blocked_values, s.blocked_layout);
  if (s.slow) r += fmt::format("; {} steps on oneDNN reference implementations", s.slow);
  if (!s.generic_ops.empty()) {
    r += "; generic:";
    for (const auto& [op, n] : s.generic_ops) r += fmt::format(" {}x{}", op, n);
  }
  return r;
}

bool cpu_blocked_layouts_native() { return cpu::channel_block_native(cpu::channel_block()); }

int64_t cpu_channel_block() { return cpu::channel_block(); }

void set_cpu_channel_block(int64_t block) { cpu::set_channel_block(block); }

void set_cpu_stem_conv_mode(int mode) { cpu::set_stem_conv_mode(mode); }
void set_cpu_int8_conv_mode(int mode) { cpu::set_int8_conv_mode(mode); }

}  // namespace shoal
