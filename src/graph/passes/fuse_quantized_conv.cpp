// fuse_quantized_conv: a QDQ-quantized convolution, Conv(DequantizeLinear(xq), W) whose weights
// were folded from DequantizeLinear(int8 Wq), becomes ConvInteger(xq, Wq, x_zero_point) with
// float32 output and the dequantization as post-ops: Mul by x_scale x w_scale (per output channel)
// and Add of the bias. The products are summed exactly in int32 (as ONNX Runtime's int8 kernels
// do), and backends with int8 convolutions run it as one. Activations fuse after it as after a
// Conv.
#include <cmath>
#include <string>

#include "graph/passes.h"

namespace shoal {
namespace {

const Tensor* constant_input(const Graph& g, const Node& n, int i) {
  const ValueId v = n.input(i);
  return v != kNoValue && g.value(v).is_constant() ? &g.value(v).constant : nullptr;
}

// The DequantizeLinear node (live or folded) that produced `v`, or nullptr.
const Node* dequantize_producer(const Graph& g, ValueId v) {
  const NodeId p = g.value(v).producer;
  if (p < 0) return nullptr;
  const Node& n = g.nodes[static_cast<size_t>(p)];
  return n.op_type == "DequantizeLinear" && n.domain.empty() ? &n : nullptr;
}

bool all_zero(const Tensor* t) {
  if (!t) return true;
  for (int64_t i = 0; i < t->numel(); ++i) {
    if (t->get_i64(i) != 0) return false;
  }
  return true;
}

bool positive_finite(const Tensor& s) {
  for (int64_t i = 0; i < s.numel(); ++i) {
    const double v = s.get_f64(i);
    if (!(v > 0) || !std::isfinite(v)) return false;
  }
  return true;
}

}  // namespace

int fuse_quantized_conv(Graph& g) {
  int count = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& conv = g.nodes[i];
    if (conv.dead || conv.op_type != "Conv" || !conv.domain.empty() || !conv.post_ops.empty()) {
      continue;
    }
    const ValueId xf = conv.input(0), wf = conv.input(1), bf = conv.input(2);
    if (xf == kNoValue || wf == kNoValue || !g.value(wf).is_constant()) continue;
    if (g.value(conv.outputs[0]).dtype != DType::kF32) continue;
    const Node* dx = dequantize_producer(g, xf);
    const Node* dw = dequantize_producer(g, wf);
    if (!dx || dx->dead || !dw || !dw->dead) continue;  // activations live, weights folded
    const ValueId xq = dx->input(0), wq = dw->input(0);
    if (wq == kNoValue || !g.value(wq).is_constant() || g.value(wq).dtype != DType::kI8) continue;
    const DType xt = g.value(xq).dtype;
    if (xt != DType::kU8 && xt != DType::kI8) continue;
    const Tensor* sx = constant_input(g, *dx, 1);
    const Tensor* sw = constant_input(g, *dw, 1);
    const Tensor* zw = constant_input(g, *dw, 2);
    if (!sx || sx->numel() != 1 || !sw || !positive_finite(*sx) || !positive_finite(*sw)) continue;
    const Tensor* zx = constant_input(g, *dx, 2);
    if (dx->input(2) != kNoValue && (!zx || zx->numel() != 1)) continue;  // one zero point
    if (dw->input(2) != kNoValue && (!zw || !all_zero(zw))) continue;     // symmetric weights only
    const Dims& wd = g.value(wq).dims;
    const int64_t oc = wd[0];
    if (sw->numel() != 1 &&
        (sw->numel() != oc || dw->attr_int("axis", 1) != 0)) {  // per output channel only
      continue;
    }
    const Tensor* bias = bf != kNoValue ? &g.value(bf).constant : nullptr;
    if (bf != kNoValue && (!g.value(bf).is_constant() || bias->numel() != oc)) continue;

    const size_t rank = g.value(conv.outputs[0]).dims.size();
    Dims pd(rank, 1);
    pd[1] = oc;
    Tensor scale(DType::kF32, pd), shift(DType::kF32, pd);
    for (int64_t c = 0; c < oc; ++c) {
      scale.data<float>()[c] =
          static_cast<float>(sx->get_f64(0) * sw->get_f64(sw->numel() == 1 ? 0 : c));
      shift.data<float>()[c] = bias ? static_cast<float>(bias->get_f64(c)) : 0.f;
    }
    const std::string base = conv.name.empty() ? g.value(conv.outputs[0]).name : conv.name;
    const ValueId scale_v = g.add_constant(base + "/dequantize_scale", std::move(scale));
    ValueId shift_v = kNoValue;
    if (bias) shift_v = g.add_constant(base + "/bias", std::move(shift));
    const ValueId xz = dx->input(2);
    Node& n = conv;
    n.op_type = "ConvInteger";
    n.inputs = {xq, wq, xz, kNoValue, scale_v};
    PostOp mul;
    mul.kind = PostOp::Kind::kMul;
    mul.input = 4;
    n.post_ops = {mul};
    if (shift_v != kNoValue) {
      n.inputs.push_back(shift_v);
      PostOp add;
      add.kind = PostOp::Kind::kAdd;
      add.input = 5;
      n.post_ops.push_back(add);
    }
    ++count;
  }
  return count;
}

}  // namespace shoal
