// fold_batch_norm: BatchNormalization with constant parameters folded into the weights and bias
// of the Conv it alone reads.
#include <algorithm>
#include <cmath>

#include "graph/passes.h"
#include "graph/passes/pass_util.h"

namespace shoal {

using passes_internal::sole_consumer;

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

}  // namespace shoal
