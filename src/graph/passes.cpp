#include "graph/passes.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "graph/einsum.h"
#include "graph/shape_op_params.h"

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

// Producers that can take fused element-wise post-ops.
bool accepts_post_ops(const Node& n) {
  return n.op_type == "Conv" || n.op_type == "ConvTranspose" || n.op_type == "Gemm" ||
         n.op_type == "MatMul";
}

bool is_float(const Value& v) { return v.dtype == DType::kF32; }

bool is_identity(const std::vector<int64_t>& perm) {
  for (size_t k = 0; k < perm.size(); ++k) {
    if (perm[k] != static_cast<int64_t>(k)) return false;
  }
  return true;
}

// A 1-D int64 constant (Reshape shapes).
Tensor i64_vector(const std::vector<int64_t>& v) {
  Tensor t(DType::kI64, {static_cast<int64_t>(v.size())});
  std::copy(v.begin(), v.end(), t.data<int64_t>());
  return t;
}

// The single live consumer of v, or -1.
NodeId sole_consumer(const std::vector<std::vector<NodeId>>& cons, ValueId v) {
  const auto& c = cons[static_cast<size_t>(v)];
  if (c.size() != 1) return -1;
  return c[0];
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

int eliminate_dead_code(Graph& g) {
  int count = 0;
  bool changed = true;
  while (changed) {
    changed = false;
    auto cons = g.consumers();
    for (size_t i = g.nodes.size(); i-- > 0;) {
      Node& n = g.nodes[i];
      if (n.dead) continue;
      bool used = false;
      for (ValueId o : n.outputs) {
        if (o == kNoValue) continue;
        if (g.is_graph_output(o) || !cons[static_cast<size_t>(o)].empty()) used = true;
      }
      if (!used) {
        n.dead = true;
        ++count;
        changed = true;
        for (ValueId v : n.inputs) {
          if (v == kNoValue) continue;
          auto& c = cons[static_cast<size_t>(v)];
          c.erase(std::remove(c.begin(), c.end(), static_cast<NodeId>(i)), c.end());
        }
      }
    }
  }
  return count;
}

int fold_batch_norm(Graph& g) {
  int count = 0;
  auto cons = g.consumers();
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& bn = g.nodes[i];
    if (bn.dead || bn.op_type != "BatchNormalization" || bn.num_inputs() < 5) continue;
    if (bn.outputs.size() > 1 && std::any_of(bn.outputs.begin() + 1, bn.outputs.end(),
                                             [](ValueId v) { return v != kNoValue; })) {
      continue;
    }
    ValueId x = bn.inputs[0];
    NodeId p = g.value(x).producer;
    if (p < 0) continue;
    Node& conv = g.nodes[static_cast<size_t>(p)];
    if (conv.dead || conv.op_type != "Conv" || !conv.post_ops.empty()) continue;
    if (sole_consumer(cons, x) != static_cast<NodeId>(i) || g.is_graph_output(x)) continue;
    const Value& w = g.value(conv.inputs[1]);
    if (!w.is_constant() || w.dtype != DType::kF32 || w.dims.empty()) continue;
    bool params_const = true;
    for (int k = 1; k < 5; ++k)
      params_const &= g.value(bn.inputs[static_cast<size_t>(k)]).is_constant();
    if (!params_const) continue;
    ValueId bias_id = conv.input(2);
    if (bias_id != kNoValue && !g.value(bias_id).is_constant()) continue;
    int64_t oc = w.dims[0];
    const Tensor& scale = g.value(bn.inputs[1]).constant;
    const Tensor& beta = g.value(bn.inputs[2]).constant;
    const Tensor& mean = g.value(bn.inputs[3]).constant;
    const Tensor& var = g.value(bn.inputs[4]).constant;
    if (scale.numel() != oc || beta.numel() != oc || mean.numel() != oc || var.numel() != oc)
      continue;
    double eps = bn.attr_float("epsilon", 1e-5f);
    Tensor nw = w.constant.clone();
    Tensor nb(DType::kF32, {oc});
    int64_t per = nw.numel() / oc;
    for (int64_t o = 0; o < oc; ++o) {
      double s = scale.get_f64(o) / std::sqrt(var.get_f64(o) + eps);
      float* wp = nw.data<float>() + o * per;
      for (int64_t k = 0; k < per; ++k) wp[k] = static_cast<float>(wp[k] * s);
      double b0 = bias_id != kNoValue ? g.value(bias_id).constant.get_f64(o) : 0.0;
      nb.data<float>()[o] = static_cast<float>((b0 - mean.get_f64(o)) * s + beta.get_f64(o));
    }
    ValueId nwid = g.add_constant(g.value(conv.inputs[1]).name + "_bnfolded", nw);
    ValueId nbid = g.add_constant(bn.name + "_bias_bnfolded", nb);
    Node& conv2 = g.nodes[static_cast<size_t>(p)];  // add_constant may not move nodes, but be safe
    conv2.inputs.resize(3, kNoValue);
    conv2.inputs[1] = nwid;
    conv2.inputs[2] = nbid;
    ValueId y = bn.outputs[0];
    bn.dead = true;
    conv2.outputs[0] = y;
    g.value(y).producer = p;
    ++count;
    cons = g.consumers();
  }
  return count;
}

namespace {

// Slice node `s` resolved (per input dim: start, step, output length), when its parameters are
// constants.
bool constant_slice(const Graph& g, const Node& s, SliceParams* out) {
  const Value& in = g.value(s.inputs[0]);
  if (!in.has_shape) return false;
  std::vector<int64_t> params[4];  // starts, ends, axes, steps
  if (g.opset < 10) {
    params[0] = s.attr_ints("starts");
    params[1] = s.attr_ints("ends");
    params[2] = s.attr_ints("axes");
  } else {
    for (int i = 1; i <= 4; ++i) {
      const ValueId id = s.input(i);
      if (id == kNoValue) continue;
      if (!g.value(id).is_constant()) return false;
      params[i - 1] = g.value(id).constant.to_i64_vector();
    }
  }
  *out = slice_params(in.dims, params[0], params[1], params[2], params[3], s.name);
  return true;
}

// One input of a space-to-depth ("Focus") Concat: x[:, :, dh::2, dw::2] written as one Slice
// over both spatial axes or a chain of two one-axis Slices.
struct FocusPart {
  ValueId source = kNoValue;
  int64_t offset[2] = {-1, -1};  // start on H and W (0 or 1)
};

bool focus_part(const Graph& g, ValueId v, FocusPart* part) {
  for (int depth = 0; depth < 2 && (part->offset[0] < 0 || part->offset[1] < 0); ++depth) {
    const NodeId pid = g.value(v).producer;
    if (pid < 0) return false;
    const Node& s = g.nodes[static_cast<size_t>(pid)];
    SliceParams sp;
    if (s.dead || s.op_type != "Slice" || !constant_slice(g, s, &sp)) return false;
    const Dims& in = g.value(s.inputs[0]).dims;
    if (in.size() != 4) return false;
    for (size_t a = 0; a < 4; ++a) {
      if (sp.steps[a] == 1 && sp.starts[a] == 0 && sp.out_dims[a] == in[a]) continue;  // whole
      // Every second row (column) from 0 or 1, to the end of an even-sized dim.
      if (a < 2 || sp.steps[a] != 2 || sp.starts[a] > 1 || in[a] % 2 != 0 ||
          sp.out_dims[a] != in[a] / 2 || part->offset[a - 2] >= 0) {
        return false;
      }
      part->offset[a - 2] = sp.starts[a];
    }
    v = s.inputs[0];
  }
  if (part->offset[0] < 0 || part->offset[1] < 0) return false;
  part->source = v;
  return true;
}

}  // namespace

int fold_space_to_depth_conv(Graph& g) {
  int count = 0;
  auto cons = g.consumers();
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& conv = g.nodes[i];
    if (conv.dead || conv.op_type != "Conv" || conv.num_inputs() < 2) continue;
    const ValueId z = conv.inputs[0];
    const NodeId cat_id = g.value(z).producer;
    if (cat_id < 0 || g.is_graph_output(z) || sole_consumer(cons, z) != static_cast<NodeId>(i))
      continue;
    const Node& cat = g.nodes[static_cast<size_t>(cat_id)];
    const Value& zv = g.value(z);
    if (cat.dead || cat.op_type != "Concat" || !zv.has_shape || zv.dims.size() != 4) continue;
    if (cat.attr_int("axis", 0) != 1 && cat.attr_int("axis", 0) != -3) continue;
    const Value& wv = g.value(conv.inputs[1]);
    if (!wv.is_constant() || wv.dtype != DType::kF32 || wv.dims.size() != 4) continue;
    if (conv.attr_int("group", 1) != 1 || conv.attr_string("auto_pad", "NOTSET") != "NOTSET")
      continue;
    std::vector<int64_t> dil = conv.attr_ints("dilations", {1, 1});
    if (dil.size() != 2 || dil[0] != 1 || dil[1] != 1) continue;
    // Every Concat input: the same source, its own (dh, dw), the same channel count.
    std::vector<FocusPart> parts;
    bool ok = !cat.inputs.empty();
    int64_t c_part = -1;
    for (ValueId in : cat.inputs) {
      FocusPart fp;
      const Value& iv = g.value(in);
      if (!ok || !iv.has_shape || iv.dims.size() != 4 || !focus_part(g, in, &fp)) {
        ok = false;
        break;
      }
      for (const FocusPart& q : parts) {
        ok &= q.source == fp.source && (q.offset[0] != fp.offset[0] || q.offset[1] != fp.offset[1]);
      }
      if (c_part < 0) c_part = iv.dims[1];
      ok &= iv.dims[1] == c_part;
      parts.push_back(fp);
    }
    if (!ok) continue;
    const Value& xv = g.value(parts[0].source);
    if (!xv.has_shape || xv.dims.size() != 4 || xv.dims[1] != c_part || xv.dims[2] % 2 != 0 ||
        xv.dims[3] % 2 != 0 || zv.dims[2] * 2 != xv.dims[2] || zv.dims[3] * 2 != xv.dims[3]) {
      continue;
    }
    const Dims& wd = wv.dims;  // [O, parts * C, kh, kw]
    if (wd[1] != c_part * static_cast<int64_t>(parts.size())) continue;
    // Conv(k, stride s, pads p) over the Concat = Conv(2k, stride 2s, pads 2p) over the source:
    // channel c of part (dh, dw), tap (ky, kx) reads source row 2(s i + ky - p) + dh.
    const int64_t oc = wd[0], kh = wd[2], kw = wd[3];
    Tensor nw(DType::kF32, {oc, c_part, 2 * kh, 2 * kw});
    std::fill(nw.data<float>(), nw.data<float>() + nw.numel(), 0.f);
    const float* src = wv.constant.data<float>();
    float* dst = nw.data<float>();
    for (int64_t o = 0; o < oc; ++o)
      for (size_t pi = 0; pi < parts.size(); ++pi)
        for (int64_t c = 0; c < c_part; ++c)
          for (int64_t ky = 0; ky < kh; ++ky)
            for (int64_t kx = 0; kx < kw; ++kx) {
              const int64_t u = 2 * ky + parts[pi].offset[0], v = 2 * kx + parts[pi].offset[1];
              dst[((o * c_part + c) * 2 * kh + u) * 2 * kw + v] =
                  src[((o * wd[1] + static_cast<int64_t>(pi) * c_part + c) * kh + ky) * kw + kx];
            }
    std::vector<int64_t> strides = conv.attr_ints("strides", {1, 1});
    std::vector<int64_t> pads = conv.attr_ints("pads", {0, 0, 0, 0});
    if (strides.size() != 2 || pads.size() != 4) continue;
    for (int64_t& st : strides) st *= 2;
    for (int64_t& pd : pads) pd *= 2;
    const ValueId nwid = g.add_constant(wv.name + "_space_to_depth", std::move(nw));
    Node& c2 = g.nodes[i];
    c2.inputs[0] = parts[0].source;
    c2.inputs[1] = nwid;
    c2.attrs["kernel_shape"] = Attribute::make_ints({2 * kh, 2 * kw});
    c2.attrs["strides"] = Attribute::make_ints(strides);
    c2.attrs["pads"] = Attribute::make_ints(pads);
    c2.attrs["dilations"] = Attribute::make_ints({1, 1});
    ++count;
    cons = g.consumers();
  }
  if (count) eliminate_dead_code(g);
  return count;
}

int fuse_activations(Graph& g) {
  int count = 0;
  bool changed = true;
  while (changed) {
    changed = false;
    auto cons = g.consumers();
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      Node& prod = g.nodes[i];
      if (prod.dead || !accepts_post_ops(prod) || prod.outputs.empty()) continue;
      ValueId x = prod.outputs[0];
      if (x == kNoValue || g.is_graph_output(x) || !is_float(g.value(x))) continue;
      const auto& users = cons[static_cast<size_t>(x)];
      PostOp po;
      ValueId y = kNoValue;
      std::vector<NodeId> consumed;
      if (users.size() == 1) {
        Node& act = g.nodes[static_cast<size_t>(users[0])];
        if (act.inputs.empty() || act.inputs[0] != x) continue;
        const std::string& t = act.op_type;
        if (t == "Relu") {
          po.kind = PostOp::Kind::kRelu;
        } else if (t == "LeakyRelu") {
          po.kind = PostOp::Kind::kLeakyRelu;
          po.alpha = act.attr_float("alpha", 0.01f);
        } else if (t == "PRelu") {  // one constant slope: LeakyRelu
          const ValueId slope = act.input(1);
          if (slope == kNoValue || !g.value(slope).is_constant() ||
              g.value(slope).constant.numel() != 1) {
            continue;
          }
          po.kind = PostOp::Kind::kLeakyRelu;
          po.alpha = static_cast<float>(g.value(slope).constant.get_f64(0));
        } else if (t == "Sigmoid") {
          po.kind = PostOp::Kind::kSigmoid;
        } else if (t == "Tanh") {
          po.kind = PostOp::Kind::kTanh;
        } else if (t == "HardSigmoid") {
          po.kind = PostOp::Kind::kHardSigmoid;
          po.alpha = act.attr_float("alpha", 0.2f);
          po.beta = act.attr_float("beta", 0.5f);
        } else if (t == "HardSwish") {
          po.kind = PostOp::Kind::kHardSwish;
        } else if (t == "Mish") {
          po.kind = PostOp::Kind::kMish;
        } else if (t == "Elu") {
          po.kind = PostOp::Kind::kElu;
          po.alpha = act.attr_float("alpha", 1.f);
        } else if (t == "Clip") {
          po.kind = PostOp::Kind::kClip;
          float lo = -INFINITY, hi = INFINITY;
          if (g.opset < 11) {
            lo = act.attr_float("min", -INFINITY);
            hi = act.attr_float("max", INFINITY);
          } else {
            ValueId mn = act.input(1), mx = act.input(2);
            if (mn != kNoValue) {
              if (!g.value(mn).is_constant()) continue;
              lo = static_cast<float>(g.value(mn).constant.get_f64(0));
            }
            if (mx != kNoValue) {
              if (!g.value(mx).is_constant()) continue;
              hi = static_cast<float>(g.value(mx).constant.get_f64(0));
            }
          }
          po.alpha = lo;
          po.beta = hi;
        } else {
          continue;
        }
        y = act.outputs.empty() ? kNoValue : act.outputs[0];
        consumed = {users[0]};
      } else if (users.size() == 2) {
        // SiLU: s = Sigmoid(x); y = Mul(x, s). Mish as written before opset 18:
        // s = Tanh(Softplus(x)); y = Mul(x, s). Either Mul operand order.
        NodeId gate = -1, mul = -1;
        for (NodeId u : users) {
          const Node& un = g.nodes[static_cast<size_t>(u)];
          if (un.op_type == "Sigmoid" || un.op_type == "Softplus") gate = u;
          if (un.op_type == "Mul") mul = u;
        }
        if (gate < 0 || mul < 0) continue;
        const Node& gn = g.nodes[static_cast<size_t>(gate)];
        consumed = {gate};
        ValueId s = gn.outputs.empty() ? kNoValue : gn.outputs[0];
        po.kind = PostOp::Kind::kSilu;
        if (gn.op_type == "Softplus") {
          const NodeId th = s == kNoValue || g.is_graph_output(s) ? -1 : sole_consumer(cons, s);
          if (th < 0 || g.nodes[static_cast<size_t>(th)].op_type != "Tanh") continue;
          const Node& tn = g.nodes[static_cast<size_t>(th)];
          if (tn.inputs.empty() || tn.inputs[0] != s || tn.outputs.empty()) continue;
          s = tn.outputs[0];
          consumed.push_back(th);
          po.kind = PostOp::Kind::kMish;
        }
        const Node& mn = g.nodes[static_cast<size_t>(mul)];
        if (s == kNoValue || g.is_graph_output(s) || sole_consumer(cons, s) != mul ||
            mn.num_inputs() != 2) {
          continue;
        }
        if (!((mn.inputs[0] == x && mn.inputs[1] == s) ||
              (mn.inputs[0] == s && mn.inputs[1] == x))) {
          continue;
        }
        y = mn.outputs[0];
        consumed.push_back(mul);
      } else {
        continue;
      }
      if (y == kNoValue || g.value(y).dims != g.value(x).dims) continue;
      for (NodeId c : consumed) g.nodes[static_cast<size_t>(c)].dead = true;
      Node& p2 = g.nodes[i];
      p2.post_ops.push_back(po);
      p2.outputs[0] = y;
      g.value(y).producer = static_cast<NodeId>(i);
      g.value(x).producer = -1;
      ++count;
      changed = true;
      cons = g.consumers();
    }
  }
  return count;
}

int fuse_residual_add(Graph& g) {
  int count = 0;
  auto cons = g.consumers();
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& prod = g.nodes[i];
    if (prod.dead || prod.op_type != "Conv" || prod.outputs.empty()) continue;
    ValueId x = prod.outputs[0];
    if (x == kNoValue || g.is_graph_output(x) || !is_float(g.value(x))) continue;
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

int einsum_to_matmul(Graph& g) {
  int count = 0;
  const size_t n_nodes = g.nodes.size();
  for (size_t i = 0; i < n_nodes; ++i) {
    const Node& e = g.nodes[i];
    if (e.dead || e.op_type != "Einsum" || e.inputs.size() != 2 || e.outputs.size() != 1 ||
        !e.post_ops.empty()) {
      continue;
    }
    const std::string eq = e.attr_string("equation", "");
    if (eq.find('.') != std::string::npos) continue;
    const ValueId ia = e.inputs[0], ib = e.inputs[1], io = e.outputs[0];
    if (ia == kNoValue || ib == kNoValue || io == kNoValue) continue;
    const Value &va = g.value(ia), &vb = g.value(ib);
    if (!is_float(va) || !is_float(vb) || !is_float(g.value(io))) continue;
    bool fixed = true;
    for (const Dims* d : {&va.dims, &vb.dims}) {
      for (int64_t x : *d) fixed = fixed && x > 0;  // fixed and non-empty
    }
    if (!fixed) continue;
    EinsumSpec s;
    try {
      s = parse_einsum(eq, {va.dims, vb.dims}, e.name);
    } catch (const Error&) {
      continue;  // shape inference reports it
    }
    const size_t nl = s.sizes.size();
    std::vector<int> in_a(nl, 0), in_b(nl, 0), in_o(nl, 0);
    for (int l : s.operand_labels[0]) ++in_a[static_cast<size_t>(l)];
    for (int l : s.operand_labels[1]) ++in_b[static_cast<size_t>(l)];
    for (int l : s.output_labels) ++in_o[static_cast<size_t>(l)];
    // Label groups, each in output order (k in A's order): batch, rows (m), columns (n),
    // contracted.
    std::vector<int> batch, rows, cols, red;
    bool ok = true;
    for (size_t l = 0; l < nl; ++l) {
      if (in_a[l] > 1 || in_b[l] > 1) ok = false;         // a diagonal
      if (!in_o[l] && !(in_a[l] && in_b[l])) ok = false;  // summed within one operand
    }
    if (!ok) continue;
    for (int l : s.output_labels) {
      const size_t u = static_cast<size_t>(l);
      (in_a[u] && in_b[u] ? batch : in_a[u] ? rows : cols).push_back(l);
    }
    for (int l : s.operand_labels[0]) {
      const size_t u = static_cast<size_t>(l);
      if (in_b[u] && !in_o[u]) red.push_back(l);
    }
    auto product = [&](const std::vector<int>& ls) {
      int64_t p = 1;
      for (int l : ls) p *= s.sizes[static_cast<size_t>(l)];
      return p;
    };
    const std::string base = e.name + "/matmul";
    auto value = [&](const std::string& name, Dims dims) {
      ValueId v = g.add_value(name, DType::kF32);
      g.value(v).dims = std::move(dims);
      g.value(v).has_shape = true;
      return v;
    };
    auto add = [&](const std::string& op, const std::string& name, std::vector<ValueId> in,
                   ValueId out, std::map<std::string, Attribute> attrs = {}) {
      Node n;
      n.op_type = op;
      n.name = name;
      n.inputs = std::move(in);
      n.outputs = {out};
      n.attrs = std::move(attrs);
      g.add_node(std::move(n));
    };
    // Operand x (labels `have`) transposed to `order`, then viewed as 3-D `shape3`.
    auto arrange = [&](ValueId x, const std::vector<int>& have, std::vector<int> order, Dims shape3,
                       const std::string& tag) {
      std::vector<int64_t> perm;
      Dims td;
      for (int l : order) {
        const auto at = std::find(have.begin(), have.end(), l) - have.begin();
        perm.push_back(at);
        td.push_back(s.sizes[static_cast<size_t>(l)]);
      }
      if (!is_identity(perm)) {
        ValueId t = value(base + "/" + tag + "_t", td);
        add("Transpose", base + "/" + tag + "_transpose", {x}, t,
            {{"perm", Attribute::make_ints(perm)}});
        x = t;
      }
      ValueId r = value(base + "/" + tag + "_3d", shape3);
      add("Reshape", base + "/" + tag + "_reshape",
          {x, g.add_constant(base + "/" + tag + "_shape", i64_vector(shape3))}, r);
      return r;
    };
    const int64_t bt = product(batch), m = product(rows), n = product(cols), k = product(red);
    std::vector<int> order_a = batch, order_b = batch;
    order_a.insert(order_a.end(), rows.begin(), rows.end());
    order_a.insert(order_a.end(), red.begin(), red.end());
    order_b.insert(order_b.end(), red.begin(), red.end());
    order_b.insert(order_b.end(), cols.begin(), cols.end());
    const ValueId a3 = arrange(ia, s.operand_labels[0], order_a, {bt, m, k}, "a");
    const ValueId b3 = arrange(ib, s.operand_labels[1], order_b, {bt, k, n}, "b");
    const ValueId mm = value(base + "/product", {bt, m, n});
    add("MatMul", base, {a3, b3}, mm);
    // Back to the output's labels: [batch..., rows..., cols...], then the output order.
    std::vector<int> grouped = batch;
    grouped.insert(grouped.end(), rows.begin(), rows.end());
    grouped.insert(grouped.end(), cols.begin(), cols.end());
    std::vector<int64_t> perm;
    Dims gd;
    for (int l : grouped) gd.push_back(s.sizes[static_cast<size_t>(l)]);
    for (int l : s.output_labels) {
      perm.push_back(std::find(grouped.begin(), grouped.end(), l) - grouped.begin());
    }
    const ValueId shape_c = g.add_constant(base + "/out_shape", i64_vector(gd));
    g.nodes[i].dead = true;
    if (is_identity(perm)) {
      add("Reshape", base + "/out_reshape", {mm, shape_c}, io);
    } else {
      const ValueId r = value(base + "/grouped", gd);
      add("Reshape", base + "/out_reshape", {mm, shape_c}, r);
      add("Transpose", base + "/out_transpose", {r}, io, {{"perm", Attribute::make_ints(perm)}});
    }
    ++count;
  }
  if (count) g.topo_sort();
  return count;
}

PassStats optimize(Graph& g, const OptimizeOptions& opts) {
  PassStats s;
  s["elide_identities"] = elide_identities(g);
  if (opts.einsum_to_matmul) s["einsum_to_matmul"] = einsum_to_matmul(g);
  s["dce"] = eliminate_dead_code(g);
  if (opts.fold_space_to_depth) s["fold_space_to_depth_conv"] = fold_space_to_depth_conv(g);
  if (opts.fold_batch_norm) s["fold_batch_norm"] = fold_batch_norm(g);
  if (opts.fuse_activations) s["fuse_activations"] = fuse_activations(g);
  if (opts.fuse_residual_add) {
    s["fuse_residual_add"] = fuse_residual_add(g);
    if (opts.fuse_activations) s["fuse_activations"] += fuse_activations(g);
  }
  s["dce"] += eliminate_dead_code(g);
  return s;
}

}  // namespace shoal
