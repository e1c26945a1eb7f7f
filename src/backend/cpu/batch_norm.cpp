// BatchNormalization (inference: running statistics) on the oneDNN batch-normalization primitive
// with global stats, scale and shift held by the kernel; plain or channel-blocked.
#include "backend/cpu/cpu_ops.h"
#include "core/error.h"

namespace shoal::cpu {

bool batch_norm_supported(const OpContext& c, std::string* why) {
  if (!all_f32(c, why)) return false;
  if (c.in.size() < 5) {
    *why = "needs scale, bias, mean and variance";
    return false;
  }
  for (size_t i = 1; i < 5; ++i) {
    if (!c.in[i].present() || !c.in[i].constant) {
      *why = "parameters computed at run time";
      return false;
    }
    if (c.in[i].constant->numel() != (c.in[0].dims.size() > 1 ? c.in[0].dims[1] : 1)) {
      *why = "parameter length differs from the channel count";
      return false;
    }
  }
  for (size_t i = 1; i < c.out.size(); ++i) {
    if (c.out[i].present()) {
      *why = "training-mode outputs";
      return false;
    }
  }
  if (c.node.attr_int("training_mode", 0) != 0) {
    *why = "training_mode";
    return false;
  }
  size_t r = c.in[0].dims.size();
  if (r < 2 || r > 5) {
    *why = "rank outside 2..5";
    return false;
  }
  return true;
}

KernelBuild build_batch_norm(const OpContext& c) {
  require_f32(c);
  const Layout l = c.out[0].layout;
  dnnl::memory::desc src = make_md(c.precision, c.in[0].dims, c.in[0].layout);
  dnnl::memory::desc dst = make_md(c.precision, c.out[0].dims, l);
  float eps = c.node.attr_float("epsilon", 1e-5f);
  dnnl::batch_normalization_forward::desc d(dnnl::prop_kind::forward_inference, src, eps,
                                            dnnl::normalization_flags::use_global_stats |
                                                dnnl::normalization_flags::use_scale |
                                                dnnl::normalization_flags::use_shift);
  dnnl::batch_normalization_forward::primitive_desc pd(d, user_scratchpad_attr(), dnnl_engine());
  auto k = std::make_unique<DnnlKernel>();
  KernelBuild kb;
  int64_t ch = c.in[0].dims[1];
  dnnl::memory::desc vec = make_md(DType::kF32, {ch}, Layout::kPlain);
  auto param = [&](size_t i) { return k->own(vec, vec, c.in[i].constant->raw()); };
  ArgSource out = k->output(0, dst);
  k->add(dnnl::batch_normalization_forward(pd), pd,
         {{DNNL_ARG_SRC, k->input(kb.use_input(0), src)},
          {DNNL_ARG_SCALE, param(1)},
          {DNNL_ARG_SHIFT, param(2)},
          {DNNL_ARG_MEAN, param(3)},
          {DNNL_ARG_VARIANCE, param(4)},
          {DNNL_ARG_DST, out}});
  append_post_op_calls(c, kb, *k, out, c.out[0].dims, l);
  kb.set_dnnl(std::move(k));
  kb.in_place = true;
  return kb;
}

}  // namespace shoal::cpu
