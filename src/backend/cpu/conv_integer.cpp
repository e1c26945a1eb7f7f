// ConvInteger: uint8/int8 data less its zero point times int8 weights (zero point 0). The fused
// form fuse_quantized_conv writes (float32 output, post-ops Mul(scale), Add(bias), activations)
// is a QDQ model's convolution. Two forms:
//   int8: oneDNN's int8 convolution, exact int32 sums; the zero point is the primitive's source
//     zero point, the scale its output scales, the bias its bias, activations its post-ops. Its
//     int8 kernels work in nhwc: the data is reordered into it, the output out of it. Used where
//     the CPU has VNNI: without it oneDNN halves the weights (scale_adjust 0.5, so that u8 x s8
//     pairs fit int16), which rounds every odd weight.
//   float: the data converted to float32 less its zero point, the weights times their scales,
//     one fp32 convolution: the dequantized model's arithmetic, at fp32 speed (int8 without VNNI
//     is not faster).
// SHOAL_INT8_CONV=int8|float overrides the choice (tests check both forms on any CPU).
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "backend/cpu/cpu_ops.h"
#include "core/error.h"

namespace shoal::cpu {
namespace {

using tag = dnnl::memory::format_tag;

// The constant operand of post-op `k` as one value per output channel, or empty.
std::vector<float> per_channel(const OpContext& c, size_t k, int64_t oc) {
  const PostOp& po = c.node.post_ops[k];
  if (po.input < 0 || po.input >= static_cast<int>(c.in.size())) return {};
  const Tensor* t = c.in[static_cast<size_t>(po.input)].constant;
  if (!t || (t->numel() != 1 && t->numel() != oc)) return {};
  std::vector<float> v(static_cast<size_t>(oc));
  for (int64_t i = 0; i < oc; ++i) v[i] = static_cast<float>(t->get_f64(t->numel() == 1 ? 0 : i));
  return v;
}

bool is_binary(const PostOp& po) {
  return po.kind == PostOp::Kind::kAdd || po.kind == PostOp::Kind::kMul;
}

std::atomic<int> g_int8_override{-1};

bool cpu_has_vnni() {
  using i = dnnl::cpu_isa;
  switch (dnnl::get_effective_cpu_isa()) {
    case i::avx2_vnni:
    case i::avx512_core_vnni:
    case i::avx512_core_bf16:
    case i::avx512_core_amx:
      return true;
    default:
      return false;
  }
}

bool use_int8_primitive() {
  const int o = g_int8_override.load(std::memory_order_relaxed);
  if (o >= 0) return o == 1;
  static const bool by_env_or_cpu = [] {
    const char* e = std::getenv("SHOAL_INT8_CONV");
    if (e && std::strcmp(e, "int8") == 0) return true;
    if (e && std::strcmp(e, "float") == 0) return false;
    return cpu_has_vnni();
  }();
  return by_env_or_cpu;
}

// How many leading post-ops the primitive's output scales and bias take (Mul, then maybe Add).
size_t dequantize_post_ops(const OpContext& c) {
  const auto& ops = c.node.post_ops;
  if (ops.empty() || ops[0].kind != PostOp::Kind::kMul) return 0;
  return ops.size() > 1 && ops[1].kind == PostOp::Kind::kAdd ? 2 : 1;
}

}  // namespace

void set_int8_conv_mode(int mode) { g_int8_override.store(mode, std::memory_order_relaxed); }

bool conv_integer_supported(const OpContext& c, std::string* why) {
  if (c.in.size() < 2 || c.in[0].dims.size() != 4) {
    *why = "not a 2-D convolution";
    return false;
  }
  if (!c.in[1].constant || c.in[1].dtype != DType::kI8) {
    *why = "weights are not constant int8";
    return false;
  }
  if (c.in.size() > 2 && c.in[2].present() && !c.in[2].constant) {
    *why = "input zero point computed at run time";
    return false;
  }
  if (c.in.size() > 3 && c.in[3].present()) {
    const Tensor* z = c.in[3].constant;
    bool zero = z != nullptr;
    for (int64_t i = 0; zero && i < z->numel(); ++i) zero = z->get_i64(i) == 0;
    if (!zero) {
      *why = "weight zero point is not 0";
      return false;
    }
  }
  const DType out = c.out[0].dtype;
  if (out == DType::kI32) {
    if (!use_int8_primitive()) {
      *why = "exact int32 sums need oneDNN's int8 convolution, which this CPU runs without VNNI";
      return false;
    }
    if (!c.node.post_ops.empty()) *why = "post-ops on int32 sums";
    return c.node.post_ops.empty();
  }
  if (out != DType::kF32) {
    *why = "output is neither int32 nor float32";
    return false;
  }
  const int64_t oc = c.out[0].dims[1];
  const size_t first = dequantize_post_ops(c);
  if (first == 0 || per_channel(c, 0, oc).empty() ||
      (first == 2 && per_channel(c, 1, oc).empty())) {
    *why = "the scale or bias is not constant per channel";
    return false;
  }
  for (size_t k = first; k < c.node.post_ops.size(); ++k) {
    if (is_binary(c.node.post_ops[k])) {
      *why = "a fused Add/Mul after the dequantization";
      return false;
    }
  }
  return true;
}

namespace {

int64_t input_zero_point(const OpContext& c) {
  return c.in.size() > 2 && c.in[2].present() ? c.in[2].constant->get_i64(0) : 0;
}

KernelBuild build_int8(const OpContext& c) {
  const ConvParams p = conv_params(c);
  const Dims& x = c.in[0].dims;
  const Dims& y = c.out[0].dims;
  const int64_t oc = y[1];
  const bool float_out = c.out[0].dtype == DType::kF32;
  using dt = dnnl::memory::data_type;

  const dnnl::memory::desc src_md(dnnl_dims(x), dnnl_dtype(c.in[0].dtype), tag::nhwc);
  const dnnl::memory::desc w_user = user_weights_md(c, p, dt::s8);
  const dnnl::memory::desc w_any(w_user.dims(), dt::s8, tag::any);
  const dnnl::memory::desc dst_any(dnnl_dims(y), float_out ? dt::f32 : dt::s32, tag::any);

  dnnl::primitive_attr attr = user_scratchpad_attr();
  const int64_t zx = input_zero_point(c);
  if (zx != 0) attr.set_zero_points(DNNL_ARG_SRC, 0, {static_cast<int32_t>(zx)});
  const size_t first = float_out ? dequantize_post_ops(c) : 0;
  std::vector<float> scales(static_cast<size_t>(oc), 1.f), bias;
  if (float_out) scales = per_channel(c, 0, oc);
  if (first == 2) bias = per_channel(c, 1, oc);
  attr.set_post_ops(make_post_ops(c, y, Layout::kPlain, {}, first).ops);

  // The primitive's weights descriptor says whether oneDNN halves the weights on this CPU
  // (scale_adjust); the output scales undo it.
  const dnnl::memory::desc bias_md =
      bias.empty() ? dnnl::memory::desc() : make_md(DType::kF32, {oc}, Layout::kPlain);
  const auto desc = conv_fwd_desc(dnnl::algorithm::convolution_direct, src_md, w_any, bias_md,
                                  dst_any, p.strides, p.dilates, p.pad_l, p.pad_r);
  float adjust = 1.f;
  {
    const dnnl::memory::desc wd =
        dnnl::convolution_forward::primitive_desc(desc, attr, dnnl_engine()).weights_desc();
    if (wd.data.extra.flags & dnnl_memory_extra_flag_scale_adjust) {
      adjust = wd.data.extra.scale_adjust;
    }
  }
  // oneDNN 2.x adds the bias to the (adjusted) sums before the output scales:
  // dst = scale' * (adjust * sum + bias') with scale' = scale / adjust, bias' = bias / scale'.
  for (float& v : scales) v /= adjust;
  for (size_t i = 0; i < bias.size(); ++i) bias[i] /= scales[i];
  attr.set_output_scales(1 << 1, scales);

  const dnnl::convolution_forward::primitive_desc pd(desc, attr, dnnl_engine());

  auto k = std::make_unique<DnnlKernel>();
  KernelBuild kb;
  const ArgSource in = k->input(kb.use_input(0), make_md(c.in[0].dtype, x, c.in[0].layout));
  ArgSource src = in;
  if (in.md != src_md) {
    src = k->scratch(src_md);
    k->add_reorder(in, src);
  }
  std::vector<std::pair<int, ArgSource>> args = {
      {DNNL_ARG_SRC, src},
      {DNNL_ARG_WEIGHTS, k->own(pd.weights_desc(), w_user, c.in[1].constant->raw())}};
  if (!bias.empty()) args.emplace_back(DNNL_ARG_BIAS, k->own(bias_md, bias_md, bias.data()));
  const ArgSource out = k->output(0, make_md(c.out[0].dtype, y, c.out[0].layout));
  const bool direct_out = pd.dst_desc() == out.md;
  const ArgSource dst = direct_out ? out : k->scratch(pd.dst_desc());
  args.emplace_back(DNNL_ARG_DST, dst);
  k->add(dnnl::primitive(pd), pd, std::move(args));
  if (!direct_out) k->add_reorder(dst, out);
  kb.set_dnnl(std::move(k));
  kb.flops = conv_flops(p, x, y);
  return kb;
}

KernelBuild build_float(const OpContext& c) {
  const ConvParams p = conv_params(c);
  const Dims& x = c.in[0].dims;
  const Dims& y = c.out[0].dims;
  const int64_t oc = y[1];
  const size_t first = dequantize_post_ops(c);
  const std::vector<float> scales = per_channel(c, 0, oc);
  std::vector<float> bias;
  if (first == 2) bias = per_channel(c, 1, oc);
  // Weights times their output channel's scale.
  const Tensor& wq = *c.in[1].constant;
  const int64_t per_oc = wq.numel() / oc;
  std::vector<float> wf(static_cast<size_t>(wq.numel()));
  for (int64_t i = 0; i < wq.numel(); ++i) {
    wf[static_cast<size_t>(i)] = static_cast<float>(wq.data<int8_t>()[i]) * scales[i / per_oc];
  }
  using dt = dnnl::memory::data_type;
  const dnnl::memory::desc w_user = user_weights_md(c, p);
  const dnnl::memory::desc src_any(dnnl_dims(x), dt::f32, tag::any);
  const dnnl::memory::desc w_any(w_user.dims(), dt::f32, tag::any);
  const dnnl::memory::desc bias_md =
      bias.empty() ? dnnl::memory::desc() : make_md(DType::kF32, {oc}, Layout::kPlain);
  // Layouts left to oneDNN (its blocked kernels; plain data would take its slow GEMM form), with
  // reorders around when they differ from the values'.
  const dnnl::memory::desc dst_any(dnnl_dims(y), dt::f32, tag::any);
  dnnl::primitive_attr attr = user_scratchpad_attr();
  attr.set_post_ops(make_post_ops(c, y, c.out[0].layout, {}, first).ops);
  const auto inference = dnnl::prop_kind::forward_inference;
  const dnnl::convolution_forward::primitive_desc pd(
      conv_fwd_desc(dnnl::algorithm::convolution_direct, src_any, w_any, bias_md, dst_any,
                    p.strides, p.dilates, p.pad_l, p.pad_r),
      attr, dnnl_engine());

  auto k = std::make_unique<DnnlKernel>();
  KernelBuild kb;
  // The data as float32 less its zero point: a converting reorder into the primitive's layout
  // and a shift in place; through a plain buffer first when that layout pads the channels (the
  // shift would make the padding non-zero).
  const ArgSource in = k->input(kb.use_input(0), make_md(c.in[0].dtype, x, c.in[0].layout));
  const dnnl::memory::desc plain_f32 = make_md(DType::kF32, x, Layout::kPlain);
  const int64_t zx = input_zero_point(c);
  const bool padded = pd.src_desc() != plain_f32 && x[1] % channel_block() != 0;
  ArgSource xf = k->scratch(padded ? plain_f32 : pd.src_desc());
  k->add_reorder(in, xf);
  if (zx != 0) {
    const dnnl::eltwise_forward::primitive_desc shift(
        dnnl::eltwise_forward::desc(inference, dnnl::algorithm::eltwise_linear, xf.md, 1.f,
                                    static_cast<float>(-zx)),
        user_scratchpad_attr(), dnnl_engine());
    k->add(dnnl::primitive(shift), shift, {{DNNL_ARG_SRC, xf}, {DNNL_ARG_DST, xf}}, false);
  }
  ArgSource src = xf;
  if (padded) {
    src = k->scratch(pd.src_desc());
    k->add_reorder(xf, src);
  }
  std::vector<std::pair<int, ArgSource>> args = {
      {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, k->own(pd.weights_desc(), w_user, wf.data())}};
  if (!bias.empty()) args.emplace_back(DNNL_ARG_BIAS, k->own(bias_md, bias_md, bias.data()));
  const ArgSource out = k->output(0, make_md(DType::kF32, y, c.out[0].layout));
  const bool direct_out = pd.dst_desc() == out.md;
  const ArgSource dst = direct_out ? out : k->scratch(pd.dst_desc());
  args.emplace_back(DNNL_ARG_DST, dst);
  k->add(dnnl::primitive(pd), pd, std::move(args));
  if (!direct_out) k->add_reorder(dst, out);
  kb.set_dnnl(std::move(k));
  kb.flops = conv_flops(p, x, y);
  return kb;
}

}  // namespace

KernelBuild build_conv_integer(const OpContext& c) {
  // The int32 form has no float equivalent here: it always takes the int8 primitive.
  if (c.out[0].dtype == DType::kI32 || use_int8_primitive()) return build_int8(c);
  return build_float(c);
}

}  // namespace shoal::cpu
