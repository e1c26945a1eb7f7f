// Element-wise unary ops (Relu, LeakyRelu, Sigmoid, HardSigmoid, HardSwish, Tanh, Exp, Sqrt, Abs,
// Neg, Clip, Elu, Selu, Softplus, Mish) on the oneDNN eltwise primitive (plain or channel-blocked,
// in place allowed). HardSigmoid is linear followed by clip; Neg is linear(-1); Selu is elu then
// linear(gamma). Log has no row in cpu_ops.def (generic kernel): oneDNN 2.6's eltwise_log is off by
// ~1.4e-6 absolute near 1 (log(1) = -1.43e-6, beyond ONNX's atol 1e-7).
#include <cfloat>

#include "backend/cpu/cpu_ops.h"
#include "core/error.h"

namespace shoal::cpu {
namespace {

using alg = dnnl::algorithm;

struct Spec {
  alg a;
  float alpha;
  float beta;
};

// False when the op's parameters are not compile-time constants.
bool eltwise_specs(const OpContext& c, std::vector<Spec>* out) {
  const Node& n = c.node;
  const std::string& op = n.op_type;
  if (op == "Relu")
    *out = {{alg::eltwise_relu, 0.f, 0.f}};
  else if (op == "LeakyRelu")
    *out = {{alg::eltwise_relu, n.attr_float("alpha", 0.01f), 0.f}};
  else if (op == "Sigmoid")
    *out = {{alg::eltwise_logistic, 0.f, 0.f}};
  else if (op == "HardSigmoid") {
    *out = {{alg::eltwise_linear, n.attr_float("alpha", 0.2f), n.attr_float("beta", 0.5f)},
            {alg::eltwise_clip, 0.f, 1.f}};
  } else if (op == "HardSwish")
    *out = {{alg::eltwise_hardswish, 0.f, 0.f}};
  else if (op == "Tanh")
    *out = {{alg::eltwise_tanh, 0.f, 0.f}};
  else if (op == "Exp")
    *out = {{alg::eltwise_exp, 0.f, 0.f}};
  else if (op == "Sqrt")
    *out = {{alg::eltwise_sqrt, 0.f, 0.f}};
  else if (op == "Abs")
    *out = {{alg::eltwise_abs, 0.f, 0.f}};
  else if (op == "Neg")
    *out = {{alg::eltwise_linear, -1.f, 0.f}};
  else if (op == "Elu")
    *out = {{alg::eltwise_elu, n.attr_float("alpha", 1.f), 0.f}};
  else if (op == "Selu") {
    *out = {{alg::eltwise_elu, n.attr_float("alpha", 1.67326319217681884765625f), 0.f},
            {alg::eltwise_linear, n.attr_float("gamma", 1.05070102214813232421875f), 0.f}};
  } else if (op == "Softplus")
    *out = {{alg::eltwise_soft_relu, 0.f, 0.f}};
  else if (op == "Mish")
    *out = {{alg::eltwise_mish, 0.f, 0.f}};
  else if (op == "Clip") {
    float lo = -FLT_MAX, hi = FLT_MAX;
    if (c.opset < 11) {
      lo = n.attr_float("min", lo);
      hi = n.attr_float("max", hi);
    } else {
      for (size_t i = 1; i < 3 && i < c.in.size(); ++i) {
        if (!c.in[i].present()) continue;
        if (!c.in[i].constant || c.in[i].constant->numel() != 1) return false;
        float v = static_cast<float>(c.in[i].constant->get_f64(0));
        (i == 1 ? lo : hi) = v;
      }
    }
    *out = {{alg::eltwise_clip, lo, hi}};
  } else {
    return false;
  }
  return true;
}

}  // namespace

bool unary_supported(const OpContext& c, std::string* why) {
  if (c.in.empty() || !c.in[0].present() || c.in[0].dtype != DType::kF32 ||
      c.out[0].dtype != DType::kF32) {
    *why = "non-float32 data";
    return false;
  }
  std::vector<Spec> specs;
  if (!eltwise_specs(c, &specs)) {
    *why = "parameters computed at run time";
    return false;
  }
  return true;
}

KernelBuild build_unary(const OpContext& c) {
  require_f32(c);
  std::vector<Spec> specs;
  eltwise_specs(c, &specs);
  const Layout l = c.out[0].layout;
  dnnl::memory::desc src = make_md(c.precision, c.in[0].dims, c.in[0].layout);
  dnnl::memory::desc dst = make_md(c.precision, c.out[0].dims, l);
  auto k = std::make_unique<DnnlKernel>();
  KernelBuild kb;
  ArgSource in = k->input(kb.use_input(0), src);
  ArgSource out = k->output(0, dst);
  for (size_t i = 0; i < specs.size(); ++i) {
    dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_inference, specs[i].a, src,
                                  specs[i].alpha, specs[i].beta);
    dnnl::eltwise_forward::primitive_desc pd(d, user_scratchpad_attr(), dnnl_engine());
    k->add(dnnl::eltwise_forward(pd), pd, {{DNNL_ARG_SRC, i == 0 ? in : out}, {DNNL_ARG_DST, out}});
  }
  append_post_op_calls(c, kb, *k, out, c.out[0].dims, l);
  kb.set_dnnl(std::move(k));
  kb.in_place = true;
  return kb;
}

}  // namespace shoal::cpu
