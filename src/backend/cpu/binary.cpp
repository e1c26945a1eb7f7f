// Add, Sub, Mul, Div, Max, Min with NumPy broadcasting on the oneDNN binary primitive. oneDNN
// broadcasts only its second operand, so when the first one is the broadcast one the operands are
// swapped (Sub then negates, Div then takes the reciprocal). Operands with the output's dims share
// its layout (plain or channel-blocked); broadcast operands are plain.
#include <cfloat>

#include "backend/cpu/cpu_ops.h"
#include "core/error.h"

namespace shoal::cpu {
namespace {

using alg = dnnl::algorithm;

alg binary_alg(const std::string& op) {
  if (op == "Add") return alg::binary_add;
  if (op == "Sub") return alg::binary_sub;
  if (op == "Mul") return alg::binary_mul;
  if (op == "Div") return alg::binary_div;
  if (op == "Max") return alg::binary_max;
  return alg::binary_min;
}

}  // namespace

bool binary_supported(const OpContext& c, std::string* why) {
  if (!all_f32(c, why)) return false;
  if (c.in.size() != 2 || !c.in[0].present() || !c.in[1].present()) {
    *why = "needs exactly two inputs";  // variadic Max/Min
    return false;
  }
  const Dims& y = c.out[0].dims;
  if (c.in[0].dims != y && c.in[1].dims != y) {
    *why = "both operands broadcast";
    return false;
  }
  return true;
}

KernelBuild build_binary(const OpContext& c) {
  require_f32(c);
  const Dims& y = c.out[0].dims;
  const std::string& op = c.node.op_type;
  // src0 must have the output's dims.
  const bool swap = c.in[0].dims != y;
  const int s0 = swap ? 1 : 0, s1 = swap ? 0 : 1;
  const Layout l = c.out[0].layout;
  const ValueInfo& a = c.in[static_cast<size_t>(s0)];
  const ValueInfo& b = c.in[static_cast<size_t>(s1)];
  dnnl::memory::desc md0 = make_md(c.precision, y, a.layout);
  Dims bd = pad_rank(b.dims, y.size());
  dnnl::memory::desc md1 = make_md(c.precision, bd, b.layout);
  // A per-channel operand [1,C,1,1] (C a multiple of the channel block) has the same bytes plain
  // and blocked; oneDNN only has a fast kernel when both operands are blocked.
  if (l == Layout::kBlocked && bd.size() == 4 && bd[0] == 1 && bd[1] == y[1] && bd[2] == 1 &&
      bd[3] == 1 && y[1] % channel_block() == 0) {
    md1 = make_md(c.precision, bd, Layout::kBlocked);
  }
  dnnl::memory::desc dst = make_md(c.precision, y, l);

  // A constant scalar operand turns the op into an eltwise one (fast in every layout).
  if (b.constant && b.constant->numel() == 1 && c.node.post_ops.empty()) {
    float v = static_cast<float>(b.constant->get_f64(0));
    struct {
      alg a;
      float alpha, beta;
    } e{alg::eltwise_linear, 1.f, 0.f};
    if (op == "Add")
      e.beta = v;
    else if (op == "Sub")
      e = swap ? decltype(e){alg::eltwise_linear, -1.f, v}
               : decltype(e){alg::eltwise_linear, 1.f, -v};
    else if (op == "Mul")
      e.alpha = v;
    else if (op == "Div" && !swap)
      e.alpha = 1.f / v;
    else if (op == "Max")
      e = {alg::eltwise_clip, v, FLT_MAX};
    else if (op == "Min")
      e = {alg::eltwise_clip, -FLT_MAX, v};
    else
      e.a = alg::undef;
    if (e.a != alg::undef) {
      dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_inference, e.a, md0, e.alpha, e.beta);
      dnnl::eltwise_forward::primitive_desc pd(d, user_scratchpad_attr(), dnnl_engine());
      auto k = std::make_unique<DnnlKernel>();
      KernelBuild kb;
      k->add(dnnl::eltwise_forward(pd), pd,
             {{DNNL_ARG_SRC, k->input(kb.use_input(s0), md0)}, {DNNL_ARG_DST, k->output(0, dst)}});
      kb.set_dnnl(std::move(k));
      kb.in_place = true;
      return kb;
    }
  }

  PostOpChain pre;
  if (swap && op == "Sub") pre.ops.append_eltwise(1.f, alg::eltwise_linear, -1.f, 0.f);
  if (swap && op == "Div") pre.ops.append_eltwise(1.f, alg::eltwise_pow, 1.f, -1.f);
  PostOpChain chain = make_post_ops(c, y, l, std::move(pre));
  dnnl::primitive_attr attr = user_scratchpad_attr();
  attr.set_post_ops(chain.ops);
  dnnl::binary::desc d(binary_alg(op), md0, md1, dst);
  dnnl::binary::primitive_desc pd(d, attr, dnnl_engine());

  auto k = std::make_unique<DnnlKernel>();
  KernelBuild kb;
  ArgSource in0 = k->input(kb.use_input(s0), md0);
  ArgSource in1 = k->input(kb.use_input(s1), md1);
  std::vector<std::pair<int, ArgSource>> args = {
      {DNNL_ARG_SRC_0, in0}, {DNNL_ARG_SRC_1, in1}, {DNNL_ARG_DST, k->output(0, dst)}};
  add_post_op_args(chain, c, kb, *k, args);
  k->add(dnnl::binary(pd), pd, std::move(args));
  kb.set_dnnl(std::move(k));
  kb.in_place = true;  // KernelIO input 0 is src0, with the output's dims and layout
  return kb;
}

}  // namespace shoal::cpu
