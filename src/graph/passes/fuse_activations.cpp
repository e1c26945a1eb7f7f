// fuse_activations: element-wise activations (and the SiLU/Mish Mul patterns) appended as
// post-ops to the Conv/ConvTranspose/Gemm/MatMul that produces their input.
#include <cmath>
#include <string>
#include <vector>

#include "graph/passes.h"
#include "graph/passes/pass_util.h"

namespace shoal {

using passes_internal::is_f32;
using passes_internal::sole_consumer;

namespace {

// Producers that can take fused element-wise post-ops.
bool accepts_post_ops(const Node& n) {
  return n.op_type == "Conv" || n.op_type == "ConvInteger" || n.op_type == "ConvTranspose" ||
         n.op_type == "Gemm" || n.op_type == "MatMul";
}

}  // namespace

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
      if (x == kNoValue || g.is_graph_output(x) || !is_f32(g.value(x))) continue;
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

}  // namespace shoal
