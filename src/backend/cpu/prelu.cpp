// PRelu (x, slope broadcast to x) on oneDNN's prelu primitive, plain or channel-blocked; a constant
// scalar slope runs as LeakyRelu on the eltwise primitive.
#include "backend/cpu/cpu_ops.h"
#include "core/error.h"

namespace shoal::cpu {

bool prelu_supported(const OpContext& c, std::string* why) {
  if (!all_f32(c, why)) return false;
  if (c.in.size() != 2 || !c.in[0].present() || !c.in[1].present() ||
      c.in[1].dims.size() > c.in[0].dims.size() || !c.node.post_ops.empty()) {
    *why = "slope of higher rank, or fused post-ops";
    return false;
  }
  return true;
}

// PRelu on oneDNN's prelu primitive: the slope broadcasts to x (shape inference checked it); a
// per-channel [1,C,1,1] slope (C a multiple of the channel block) is read as blocked, like a binary
// operand. One constant slope runs as LeakyRelu: oneDNN 2.6's prelu has only its reference
// implementation for a scalar slope. (After a conv, such a PRelu fuses into it as LeakyRelu:
// fuse_activations.)
KernelBuild build_prelu(const OpContext& c) {
  require_f32(c);
  const Dims& y = c.out[0].dims;
  const Layout l = c.out[0].layout;
  const ValueInfo& slope = c.in[1];
  dnnl::memory::desc src = make_md(c.precision, y, c.in[0].layout);
  const Dims sd = pad_rank(slope.dims, y.size());
  dnnl::memory::desc wmd = make_md(c.precision, sd, slope.layout);
  if (l == Layout::kBlocked && sd.size() == 4 && sd[0] == 1 && sd[1] == y[1] && sd[2] == 1 &&
      sd[3] == 1 && y[1] % channel_block() == 0) {
    wmd = make_md(c.precision, sd, Layout::kBlocked);
  }
  dnnl::memory::desc dst = make_md(c.precision, y, l);
  if (slope.constant && slope.constant->numel() == 1) {
    const float alpha = static_cast<float>(slope.constant->get_f64(0));
    dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::eltwise_relu,
                                  src, alpha, 0.f);
    dnnl::eltwise_forward::primitive_desc pd(d, user_scratchpad_attr(), dnnl_engine());
    auto k = std::make_unique<DnnlKernel>();
    KernelBuild kb;
    k->add(dnnl::eltwise_forward(pd), pd,
           {{DNNL_ARG_SRC, k->input(kb.use_input(0), src)}, {DNNL_ARG_DST, k->output(0, dst)}});
    kb.set_dnnl(std::move(k));
    kb.in_place = true;
    return kb;
  }
  dnnl::prelu_forward::desc d(dnnl::prop_kind::forward_inference, src, wmd);
  dnnl::prelu_forward::primitive_desc pd(d, user_scratchpad_attr(), dnnl_engine());
  auto k = std::make_unique<DnnlKernel>();
  KernelBuild kb;
  k->add(dnnl::prelu_forward(pd), pd,
         {{DNNL_ARG_SRC, k->input(kb.use_input(0), src)},
          {DNNL_ARG_WEIGHTS, k->input(kb.use_input(1), wmd)},
          {DNNL_ARG_DST, k->output(0, dst)}});
  kb.set_dnnl(std::move(k));
  return kb;
}

}  // namespace shoal::cpu
