// Conv and ConvTranspose on oneDNN convolution / deconvolution primitives, with fused post-ops
// (activations as eltwise post-ops, residual Add/Mul as binary post-ops). Weights are reordered
// once into the primitive's preferred blocked format and owned by the kernel.
//
// Layout: src and dst come in the layouts the layout pass chose. oneDNN only has fast kernels for
// matching families (blocked -> blocked, plain -> plain, and plain -> blocked for few input
// channels; blocked is nChw16c or nChw8c, see channel_block); for other combinations the kernel
// converts src or dst through scratch around a fast primitive instead of accepting a reference
// implementation.
//
// Winograd: a 3x3 stride-1 conv on blocked data with a large output plane runs as oneDNN's
// F(2x2,3x3) Winograd kernel (jit_fp32_wino_2x3, AVX-512 only), about 2x faster than the direct
// kernel at yolov8n's shapes, with a norm-wise error of ~3e-7 against direct. Its weights take 16/9
// of the direct bytes, so it is only used where the output plane amortises them
// (winograd_min_pixels); the F(4x4,3x3) variant (wino_4x3: ~1e-6 error, 4x weights, up to 20 MiB
// scratch) is never used. Post-ops the Winograd kernel rejects (SiLU, binary) run as in-place
// primitives after it. oneDNN offers the kernel only while ic x oc is small; a larger conv (batch
// 1) runs as one Winograd conv per slice of output channels. SHOAL_CONV_WINOGRAD=0 disables it (for
// A/B measurements).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>

#include "backend/cpu/cpu_ops.h"
#include "core/error.h"
#include "graph/op_geometry.h"

namespace shoal::cpu {
namespace {

using tag = dnnl::memory::format_tag;

}  // namespace

ConvParams conv_params(const OpContext& c) {
  ConvParams p;
  p.transpose = c.node.op_type == "ConvTranspose";
  const Dims& x = c.in[0].dims;
  const Dims& w = c.in[1].dims;
  const Dims& y = c.out[0].dims;
  if (w.size() != x.size()) {
    fail(ErrorCode::kInvalidModel, "{}: weight {} and input {} ranks differ", c.label, dims_str(w),
         dims_str(x));
  }
  std::vector<int64_t> kernel(w.begin() + 2, w.end());
  p.geo = p.transpose ? compute_conv_transpose_geometry(c.node, x, kernel, c.label)
                      : compute_conv_geometry(c.node, x, kernel, false, c.label);
  p.group = c.node.attr_int("group", 1);
  for (int64_t i = 0; i < p.geo.spatial; ++i) {
    size_t s = static_cast<size_t>(i);
    int64_t range = (p.geo.kernel[s] - 1) * p.geo.dilation[s] + 1;
    int64_t ys = y[s + 2], xs = x[s + 2];
    p.strides.push_back(p.geo.stride[s]);
    p.dilates.push_back(p.geo.dilation[s] - 1);  // oneDNN counts dilation from 0
    p.pad_l.push_back(p.geo.pad_begin[s]);
    // Right padding: ONNX's, unless oneDNN's output-size formula needs another value.
    if (p.transpose) {
      p.pad_r.push_back((xs - 1) * p.geo.stride[s] + range - p.geo.pad_begin[s] - ys);
    } else {
      int64_t pr = p.geo.pad_end[s];
      if ((xs - range + p.geo.pad_begin[s] + pr) / p.geo.stride[s] + 1 != ys) {
        pr = (ys - 1) * p.geo.stride[s] + range - xs - p.geo.pad_begin[s];
      }
      p.pad_r.push_back(pr);
    }
  }
  return p;
}

dnnl::memory::desc user_weights_md(const OpContext& c, const ConvParams& p,
                                   dnnl::memory::data_type t) {
  const Dims& w = c.in[1].dims;
  const int64_t g = p.group;
  int64_t ks = 1;
  for (size_t i = 2; i < w.size(); ++i) ks *= w[i];
  dnnl::memory::dims dims, strides;
  std::vector<int64_t> kstrides;
  for (size_t i = 2; i < w.size(); ++i) {
    int64_t s = 1;
    for (size_t j = i + 1; j < w.size(); ++j) s *= w[j];
    kstrides.push_back(s);
  }
  if (!p.transpose) {
    int64_t oc = w[0], icg = w[1];
    if (g == 1) {
      dims = {oc, icg};
      strides = {icg * ks, ks};
    } else {
      dims = {g, oc / g, icg};
      strides = {oc / g * icg * ks, icg * ks, ks};
    }
  } else {
    int64_t ic = w[0], ocg = w[1], icg = ic / g;
    if (g == 1) {
      dims = {ocg, ic};
      strides = {ks, ocg * ks};
    } else {
      dims = {g, ocg, icg};
      strides = {icg * ocg * ks, ks, ocg * ks};
    }
  }
  for (size_t i = 2; i < w.size(); ++i) dims.push_back(w[i]);
  strides.insert(strides.end(), kstrides.begin(), kstrides.end());
  return dnnl::memory::desc(dims, t, strides);
}

dnnl::convolution_forward::desc conv_fwd_desc(
    dnnl::algorithm a, const dnnl::memory::desc& src, const dnnl::memory::desc& weights,
    const dnnl::memory::desc& bias, const dnnl::memory::desc& dst,
    const dnnl::memory::dims& strides, const dnnl::memory::dims& dilates,
    const dnnl::memory::dims& pad_l, const dnnl::memory::dims& pad_r) {
  using d = dnnl::convolution_forward::desc;
  const auto inference = dnnl::prop_kind::forward_inference;
  return bias.is_zero() ? d(inference, a, src, weights, dst, strides, dilates, pad_l, pad_r)
                        : d(inference, a, src, weights, bias, dst, strides, dilates, pad_l, pad_r);
}

double conv_flops(const ConvParams& p, const Dims& x, const Dims& y) {
  double ksize = 1;
  for (int64_t kdim : p.geo.kernel) ksize *= static_cast<double>(kdim);
  const Dims& counted = p.transpose ? x : y;
  const int64_t channels = p.transpose ? y[1] / p.group : x[1] / p.group;
  return 2.0 * static_cast<double>(num_elements(counted)) * static_cast<double>(channels) * ksize;
}

namespace {

dnnl::memory::desc any_md(const dnnl::memory::desc& like) {
  return dnnl::memory::desc(like.dims(), like.data_type(), tag::any);
}

struct Candidate {
  Layout src, dst;
};

// Output pixels from which a conv takes its Winograd form, whose packed weights are 16/9 of the
// direct ones. Default 40x40 (yolov8n at 640: the 40x40, 80x80 and 160x160 planes);
// SHOAL_CONV_WINOGRAD=large keeps it to >= 80x80 planes (the 20x20 and 40x40 convs hold most of
// the 3x3 weights), =0 turns it off. BENCHMARKS.md has the latency and weight bytes of each.
int64_t winograd_min_pixels() {
  static const int64_t v = [] {
    const char* e = std::getenv("SHOAL_CONV_WINOGRAD");
    if (e && (std::strcmp(e, "0") == 0 || std::strcmp(e, "off") == 0)) return int64_t{-1};
    if (e && std::strcmp(e, "large") == 0) return int64_t{80 * 80};
    return int64_t{40 * 40};
  }();
  return v;
}

bool winograd_enabled() { return winograd_min_pixels() > 0; }

bool winograd_shape(const ConvParams& p, const Dims& x, const Dims& y, const Candidate& cd) {
  if (!winograd_enabled() || p.transpose || p.group != 1 || x.size() != 4) return false;
  if (cd.src != Layout::kBlocked || cd.dst != Layout::kBlocked) return false;
  if (x[1] % channel_block() != 0 || y[1] % channel_block() != 0) return false;
  for (size_t i = 0; i < 2; ++i) {
    if (p.geo.kernel[i] != 3 || p.geo.stride[i] != 1 || p.geo.dilation[i] != 1) return false;
  }
  return y[2] * y[3] >= winograd_min_pixels();
}

// The F(2x2,3x3) implementation of `d` under `attr`, if oneDNN has one.
bool find_winograd(const dnnl::convolution_forward::desc& d, const dnnl::primitive_attr& attr,
                   dnnl::primitive_desc* out) {
  try {
    dnnl::convolution_forward::primitive_desc pd(d, attr, dnnl_engine());
    do {
      if (impl_name(pd).find("wino_2x3") != std::string::npos) {
        *out = pd;
        return true;
      }
    } while (pd.next_impl());
  } catch (const dnnl::error&) {
  }
  return false;
}

// True when some output channel's bias is at least twice the L2 norm of its weights: with inputs of
// order 1 (the activations between layers) the bias then outweighs the products it is summed with.
// Folded BatchNorm gives such biases (yolox_nano: up to 7x, its stem 430x on 0..255 pixels);
// convs with small biases keep the faster form. oneDNN's deconvolution never takes the post-op:
// with a binary post-op it runs 8x slower (yolov8n-seg's proto upsampler); the 1x1-conv form of a
// kernel = stride ConvTranspose does.
// `w`: `oc` rows of `per` weights each, `b`: `oc` biases.
bool bias_dominates(const float* w, const float* b, int64_t oc, int64_t per) {
  for (int64_t o = 0; o < oc; ++o) {
    double l2 = 0;
    for (int64_t i = 0; i < per; ++i) l2 += static_cast<double>(w[o * per + i]) * w[o * per + i];
    if (std::fabs(static_cast<double>(b[o])) >= 2.0 * std::sqrt(l2)) return true;
  }
  return false;
}

bool bias_dominates(const OpContext& c) {
  const Tensor& w = *c.in[1].constant;
  const Tensor& b = *c.in[2].constant;
  const int64_t oc = b.numel();
  if (oc <= 0 || w.numel() % oc != 0) return false;
  // ONNX Conv weights: [oc, ic / group, k...]
  return bias_dominates(w.data<float>(), b.data<float>(), oc, w.numel() / oc);
}

// True when the node has fused Add/Mul post-ops (operands of their own layout and dims).
bool has_binary_post_ops(const Node& n) {
  return std::any_of(n.post_ops.begin(), n.post_ops.end(), [](const PostOp& po) {
    return po.kind == PostOp::Kind::kAdd || po.kind == PostOp::Kind::kMul;
  });
}

}  // namespace

bool conv_supported(const OpContext& c, std::string* why) {
  if (!all_f32(c, why)) return false;
  if (c.in.size() < 2 || !c.in[1].present() || c.out.empty() || !c.out[0].present()) {
    *why = "missing input or output";
    return false;
  }
  size_t rank = c.in[0].dims.size();
  if (rank < 3 || rank > 5) {
    *why = fmt::format("rank {} input", rank);
    return false;
  }
  if (!c.in[1].constant) {
    *why = "weights computed at run time";
    return false;
  }
  if (c.in.size() > 2 && c.in[2].present() && !c.in[2].constant) {
    *why = "bias computed at run time";
    return false;
  }
  ConvParams p = conv_params(c);
  for (int64_t r : p.pad_r) {
    if (p.transpose && r < 0) {
      *why = "output_shape/output_padding beyond the padded input";
      return false;
    }
  }
  int64_t g = p.group;
  const Dims& w = c.in[1].dims;
  int64_t ic = c.in[0].dims[1], oc = c.out[0].dims[1];
  bool ok = g >= 1 && ic % g == 0 && oc % g == 0 &&
            (p.transpose ? (w[0] == ic && w[1] * g == oc) : (w[0] == oc && w[1] * g == ic));
  if (!ok) {
    *why =
        fmt::format("weights {} do not match group {} and channels {}->{}", dims_str(w), g, ic, oc);
    return false;
  }
  for (const PostOp& po : c.node.post_ops) {
    if (po.kind == PostOp::Kind::kAdd || po.kind == PostOp::Kind::kMul) {
      if (po.input < 0 || po.input >= static_cast<int>(c.in.size()) ||
          !c.in[static_cast<size_t>(po.input)].present() ||
          c.in[static_cast<size_t>(po.input)].dims.size() > rank) {
        *why = "fused operand missing or of higher rank";
        return false;
      }
    }
  }
  return true;
}

namespace {

// ConvTranspose whose kernel equals its stride, without padding, groups or dilation (YOLOv8-seg's
// proto upsampler: 2x2 stride 2) writes every output pixel from exactly one input pixel and tap:
// it is a 1x1 conv to kh*kw*oc channels, then a depth-to-space move. oneDNN 2.6's deconvolution
// ran yolov8n-seg's 64->64 at 80x80 in 2.5 ms (82 GFLOP/s); as a jit_1x1 conv plus a reorder it
// takes a fraction of that. Channel c' = (ky*kw + kx)*oc + o of the conv holds output (o, ky, kx),
// so with oc a multiple of the channel block B each tap is whole blocks and the move is a strided
// reorder of B-float vectors.
bool deconv_as_conv1x1(const OpContext& c, const ConvParams& p) {
  const Dims& x = c.in[0].dims;
  const Dims& y = c.out[0].dims;
  if (!p.transpose || p.group != 1 || x.size() != 4) return false;
  // Output channels off the block (a text detector's 1-channel map): all taps must fit one
  // channel block of the conv's output, and the output is plain.
  const int64_t cb = channel_block();
  if (y[1] % cb != 0 &&
      (c.out[0].layout == Layout::kBlocked || y[1] * p.geo.kernel[0] * p.geo.kernel[1] > cb)) {
    return false;
  }
  if (c.in[0].layout != Layout::kBlocked) return false;
  for (size_t i = 0; i < 2; ++i) {
    if (p.geo.kernel[i] != p.geo.stride[i] || p.geo.dilation[i] != 1 || p.pad_l[i] != 0 ||
        p.pad_r[i] != 0 || y[i + 2] != x[i + 2] * p.geo.stride[i]) {
      return false;
    }
  }
  return !has_binary_post_ops(c.node);
}

KernelBuild build_deconv_as_conv1x1(const OpContext& c, const ConvParams& p) {
  const Dims& x = c.in[0].dims;
  const Dims& y = c.out[0].dims;
  const DType dt = c.precision;
  const int64_t n = x[0], ic = x[1], h = x[2], w = x[3], oc = y[1];
  const int64_t kh = p.geo.kernel[0], kw = p.geo.kernel[1], taps = kh * kw;
  const int64_t cb = channel_block();
  // The conv's channels: taps * oc, or with oc off the block one block whose last
  // cb - taps * oc channels have zero weights (deconv_as_conv1x1 admits that case only).
  const bool whole_blocks = oc % cb == 0;
  const int64_t tc = whole_blocks ? taps * oc : cb;
  const bool has_bias = c.in.size() > 2 && c.in[2].present();
  // Weights [ic, oc, kh, kw] -> [tc, ic] (oi order), bias repeated per tap.
  const float* wt = c.in[1].constant->data<float>();
  std::vector<float> w1(static_cast<size_t>(tc * ic), 0.f);
  for (int64_t i = 0; i < ic; ++i)
    for (int64_t o = 0; o < oc; ++o)
      for (int64_t t = 0; t < taps; ++t)
        w1[static_cast<size_t>((t * oc + o) * ic + i)] = wt[(i * oc + o) * taps + t];
  std::vector<float> b1;
  if (has_bias) {
    const float* b = c.in[2].constant->data<float>();
    for (int64_t t = 0; t < taps; ++t) b1.insert(b1.end(), b, b + oc);
    b1.resize(static_cast<size_t>(tc), 0.f);
  }
  const Dims td = {n, tc, h, w};
  dnnl::memory::desc src_md = make_md(dt, x, Layout::kBlocked);
  dnnl::memory::desc t_md = make_md(dt, td, Layout::kBlocked);
  dnnl::memory::desc w_user({tc, ic, 1, 1}, dnnl::memory::data_type::f32,
                            dnnl::memory::format_tag::oihw);
  dnnl::memory::desc w_any({tc, ic, 1, 1}, dnnl_dtype(dt), dnnl::memory::format_tag::any);
  dnnl::memory::desc b_md = make_md(DType::kF32, {tc}, Layout::kPlain);
  // A dominant bias is added after the products, as for Conv (see bias_dominates).
  const bool bias_last = has_bias && bias_dominates(w1.data(), b1.data(), tc, ic);
  const dnnl::memory::desc b_bcast = make_md(DType::kF32, {1, tc, 1, 1}, Layout::kPlain);
  PostOpChain first;
  if (bias_last) first.ops.append_binary(dnnl::algorithm::binary_add, b_bcast);
  PostOpChain chain = make_post_ops(c, td, Layout::kBlocked, std::move(first));
  dnnl::primitive_attr attr = user_scratchpad_attr();
  attr.set_post_ops(chain.ops);
  const dnnl::memory::dims one = {1, 1}, zero = {0, 0};
  dnnl::convolution_forward::primitive_desc pd(
      conv_fwd_desc(dnnl::algorithm::convolution_direct, src_md, w_any,
                    has_bias && !bias_last ? b_md : dnnl::memory::desc(), t_md, one, zero, zero,
                    zero),
      attr, dnnl_engine());

  auto k = std::make_unique<DnnlKernel>();
  KernelBuild kb;
  std::vector<std::pair<int, ArgSource>> args = {
      {DNNL_ARG_SRC, k->input(kb.use_input(0), src_md)},
      {DNNL_ARG_WEIGHTS, k->own(pd.query_md(dnnl::query::weights_md), w_user, w1.data())}};
  if (bias_last) {
    args.emplace_back(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1,
                      k->own(b_bcast, b_bcast, b1.data()));
  } else if (has_bias) {
    args.emplace_back(DNNL_ARG_BIAS, k->own(b_md, b_md, b1.data()));
  }
  ArgSource t = k->scratch(t_md);
  args.emplace_back(DNNL_ARG_DST, t);
  add_post_op_args(chain, c, kb, *k, args);
  k->add(dnnl::primitive(pd), pd, std::move(args));
  // The move as one reorder between two strided views [n, ky, kx, oc/B, y, x, B] (the output
  // blocked or plain), or [n, ky, kx, oc, y, x] from the taps' one block to a plain output.
  const int64_t plane = h * kh * w * kw;  // one output channel's pixels
  dnnl::memory::dims dims, t_strides, y_strides;
  if (!whole_blocks) {
    dims = {n, kh, kw, oc, h, w};
    t_strides = {tc * h * w, kw * oc, oc, 1, w * cb, cb};
    y_strides = {oc * plane, w * kw, 1, plane, kh * w * kw, kw};
  } else {
    const int64_t ob = oc / cb;
    dims = {n, kh, kw, ob, h, w, cb};
    t_strides = {taps * oc * h * w, kw * oc * h * w, oc * h * w, h * w * cb, w * cb, cb, 1};
    y_strides = c.out[0].layout == Layout::kBlocked
                    ? dnnl::memory::dims{oc * plane,       w * kw * cb, cb, plane * cb,
                                         kh * w * kw * cb, kw * cb,     1}
                    : dnnl::memory::dims{oc * plane, w * kw, 1, plane * cb, kh * w * kw, kw, plane};
  }
  ArgSource t_view = t;
  t_view.md = dnnl::memory::desc(dims, dnnl_dtype(dt), t_strides);
  ArgSource y_view = k->output(0, dnnl::memory::desc(dims, dnnl_dtype(dt), y_strides));
  k->add_reorder(t_view, y_view);
  kb.set_dnnl(std::move(k));
  kb.flops = conv_flops(p, x, y);
  return kb;
}

// A 3x3 stride-1 conv whose channel counts are off the channel block (yolov8n-pose's 51-channel
// keypoint head) can still take the Winograd kernel: a 51-channel nChw16c tensor is laid out
// exactly as a 64-channel one whose last 13 channels are zero (oneDNN zero-fills the padding of
// the tensors it writes), so the conv runs as 64->64 with zero weights and bias for the padding
// channels, between a reorder into the padded layout and one out of it.
struct PaddedChannels {
  int64_t ic, oc, icp, ocp;  // real and padded to the channel block
};

PaddedChannels padded_channels(const OpContext& c) {
  const int64_t ic = c.in[0].dims[1], oc = c.out[0].dims[1], cb = channel_block();
  return {ic, oc, (ic + cb - 1) / cb * cb, (oc + cb - 1) / cb * cb};
}

// The padded conv's F(2x2,3x3) primitive when the shape qualifies and oneDNN offers one.
bool padded_winograd_pd(const OpContext& c, const ConvParams& p, dnnl::primitive_desc* pd) {
  const Dims& x = c.in[0].dims;
  const Dims& y = c.out[0].dims;
  if (!winograd_enabled() || p.transpose || p.group != 1 || x.size() != 4) return false;
  if (x[1] % channel_block() == 0 && y[1] % channel_block() == 0)
    return false;  // the ordinary path
  for (size_t i = 0; i < 2; ++i) {
    if (p.geo.kernel[i] != 3 || p.geo.stride[i] != 1 || p.geo.dilation[i] != 1) return false;
  }
  if (y[2] * y[3] < winograd_min_pixels() || has_binary_post_ops(c.node)) return false;
  const DType dt = c.precision;
  const PaddedChannels pc = padded_channels(c);
  // Winograd saves 2.25x the multiplies; the padding channels, the reorders and the separate
  // activation pass must not eat that (51->51 pads to 1.57x and gains 23%; a 3-channel input
  // would pad to 5.3x and lose).
  if (pc.icp * pc.ocp * 5 > pc.ic * pc.oc * 8) return false;
  const bool has_bias = c.in.size() > 2 && c.in[2].present();
  Dims xp = x, yp = y;
  xp[1] = pc.icp;
  yp[1] = pc.ocp;
  const dnnl::memory::desc w_any({pc.ocp, pc.icp, 3, 3}, dnnl_dtype(dt),
                                 dnnl::memory::format_tag::any);
  const dnnl::memory::desc b_md = make_md(DType::kF32, {pc.ocp}, Layout::kPlain);
  return find_winograd(
      conv_fwd_desc(dnnl::algorithm::convolution_winograd, make_md(dt, xp, Layout::kBlocked), w_any,
                    has_bias ? b_md : dnnl::memory::desc(), make_md(dt, yp, Layout::kBlocked),
                    p.strides, p.dilates, p.pad_l, p.pad_r),
      user_scratchpad_attr(), pd);
}

KernelBuild build_padded_winograd(const OpContext& c, const ConvParams& p,
                                  const dnnl::primitive_desc& pd) {
  const Dims& x = c.in[0].dims;
  const Dims& y = c.out[0].dims;
  const DType dt = c.precision;
  const auto [ic, oc, icp, ocp] = padded_channels(c);
  const bool has_bias = c.in.size() > 2 && c.in[2].present();
  Dims xp = x, yp = y;
  xp[1] = icp;
  yp[1] = ocp;
  const dnnl::memory::desc src_p = make_md(dt, xp, Layout::kBlocked);
  const dnnl::memory::desc dst_p = make_md(dt, yp, Layout::kBlocked);
  const dnnl::memory::desc b_md = make_md(DType::kF32, {ocp}, Layout::kPlain);
  // Weights [oc, ic, 3, 3] and bias, zero-padded to [ocp, icp, 3, 3] and [ocp].
  std::vector<float> wp(static_cast<size_t>(ocp * icp * 9), 0.f), bp(static_cast<size_t>(ocp), 0.f);
  const float* w = c.in[1].constant->data<float>();
  for (int64_t o = 0; o < oc; ++o)
    for (int64_t i = 0; i < ic; ++i)
      std::copy(w + (o * ic + i) * 9, w + (o * ic + i) * 9 + 9, wp.begin() + (o * icp + i) * 9);
  if (has_bias)
    std::copy(c.in[2].constant->data<float>(), c.in[2].constant->data<float>() + oc, bp.begin());

  const Layout sl = c.in[0].layout, dl = c.out[0].layout;
  auto k = std::make_unique<DnnlKernel>();
  KernelBuild kb;
  ArgSource in = k->input(kb.use_input(0), make_md(dt, x, sl));
  ArgSource src = in;
  if (sl != Layout::kBlocked || ic != icp) {
    src = k->scratch(src_p);
    ArgSource padded_view = src;  // the same bytes as an ic-channel padded tensor
    padded_view.md = make_md(dt, x, Layout::kBlocked);
    k->add_reorder(in, padded_view);
  }
  src.md = src_p;
  const dnnl::memory::desc w_user({ocp, icp, 3, 3}, dnnl::memory::data_type::f32,
                                  dnnl::memory::format_tag::oihw);
  std::vector<std::pair<int, ArgSource>> args = {
      {DNNL_ARG_SRC, src},
      {DNNL_ARG_WEIGHTS, k->own(pd.query_md(dnnl::query::weights_md), w_user, wp.data())}};
  if (has_bias) args.emplace_back(DNNL_ARG_BIAS, k->own(b_md, b_md, bp.data()));
  const bool direct_out = dl == Layout::kBlocked && oc == ocp;
  ArgSource dst = direct_out ? k->output(0, dst_p) : k->scratch(dst_p);
  args.emplace_back(DNNL_ARG_DST, dst);
  k->add(dnnl::primitive(pd), pd, std::move(args));
  ArgSource dst_view = dst;  // the oc real channels, padded
  dst_view.md = make_md(dt, y, Layout::kBlocked);
  append_post_op_calls(c, kb, *k, dst_view, y, Layout::kBlocked);
  if (!direct_out) k->add_reorder(dst_view, k->output(0, make_md(dt, y, dl)));
  kb.set_dnnl(std::move(k));
  kb.flops = conv_flops(p, x, y);
  return kb;
}

// How a Conv / ConvTranspose node runs: choose_conv_algorithm decides (and creates the oneDNN
// primitive descriptors, since whether oneDNN offers a fast implementation is part of the choice),
// assemble_conv builds the kernel from the plan.
enum class ConvAlgorithm : uint8_t {
  kStem,            // conv_stem.cpp: an image stem summed in double
  kDeconvAs1x1,     // ConvTranspose with kernel = stride: 1x1 conv + depth-to-space reorder
  kPaddedWinograd,  // Winograd on channels zero-padded to the block
  kDirect,          // oneDNN's direct (or GEMM-based) convolution / deconvolution
  kWinograd,        // oneDNN's F(2x2,3x3) Winograd in place of the direct primitive
  kWinogradSlices,  // one Winograd conv per slice of output channels
};

struct ConvPlan {
  ConvAlgorithm algorithm = ConvAlgorithm::kDirect;
  ConvParams p;                    // all but kStem
  Candidate layouts{};             // kDirect, kWinograd*: the layouts the primitives run in
  dnnl::primitive_desc pd;         // kPaddedWinograd, kDirect, kWinograd
  PostOpChain chain;               // node.post_ops fused into pd (after the bias when bias_post_op)
  bool bias_post_op = false;       // the bias added as the first post-op (bias_dominates)
  bool separate_post_ops = false;  // node.post_ops run as primitives after the conv
  std::vector<std::pair<int64_t, dnnl::primitive_desc>> slices;  // kWinogradSlices: (first oc, pd)
};

// Weight and bias descriptors shared by selection and assembly.
struct ConvDescs {
  bool has_bias = false;
  dnnl::memory::desc weights;     // the user's ONNX weights
  dnnl::memory::desc bias;        // [oc], for the primitive's bias argument
  dnnl::memory::desc bias_bcast;  // [1, oc, 1...], for the bias as a binary post-op
};

ConvDescs conv_descs(const OpContext& c, const ConvParams& p) {
  const Dims& y = c.out[0].dims;
  ConvDescs d;
  d.has_bias = c.in.size() > 2 && c.in[2].present();
  d.weights = user_weights_md(c, p);
  if (d.has_bias) {
    d.bias = make_md(DType::kF32, {y[1]}, Layout::kPlain);
    Dims bias_dims(y.size(), 1);
    bias_dims[1] = y[1];
    d.bias_bcast = make_md(DType::kF32, bias_dims, Layout::kPlain);
  }
  return d;
}

// The post-op chain of a conv writing `dst_layout`, with the bias first when `bias_post_op`.
PostOpChain conv_post_ops(const OpContext& c, const ConvDescs& d, Layout dst_layout,
                          bool bias_post_op) {
  PostOpChain first;
  if (bias_post_op) first.ops.append_binary(dnnl::algorithm::binary_add, d.bias_bcast);
  return make_post_ops(c, c.out[0].dims, dst_layout, std::move(first));
}

dnnl::convolution_forward::desc conv_desc(const OpContext& c, const ConvPlan& plan,
                                          const ConvDescs& d, dnnl::algorithm a,
                                          const dnnl::memory::desc& src,
                                          const dnnl::memory::desc& dst, bool with_bias) {
  const ConvParams& p = plan.p;
  return conv_fwd_desc(a, src, any_md(d.weights), with_bias ? d.bias : dnnl::memory::desc(), dst,
                       p.strides, p.dilates, p.pad_l, p.pad_r);
}

// The direct (or deconvolution) primitive: layouts and where the bias goes. The candidates are
// (src, dst) layouts in order of preference; the first with a fast implementation wins (bias as
// a post-op where the implementation takes it, else in the primitive), else the first that exists
// at all. oneDNN's GEMM-based kernel (the one it has for plain data) counts as slow for grouped
// convs (one small GEMM per group: yolo11's depthwise attention `pe` conv took 0.80 ms, 0.9
// GFLOP/s, against 0.010 with jit_dw) and for kernels larger than 1x1 (im2col: yolov8n-pose's
// 51->51 3x3 keypoint conv at 80x80 took 2.06 ms, 145 GFLOP/s); the blocked kernels, with reorders
// around them, are tried first.
void choose_direct(const OpContext& c, const ConvDescs& d, bool bias_last, ConvPlan& plan) {
  const ConvParams& p = plan.p;
  const Dims& x = c.in[0].dims;
  const Dims& y = c.out[0].dims;
  const DType dt = c.precision;
  const Layout sl = c.in[0].layout, dl = c.out[0].layout;

  std::vector<Candidate> cands = {{sl, dl}, {sl, sl}, {dl, dl}};
  if (x.size() == 4) cands.push_back({Layout::kBlocked, Layout::kBlocked});
  cands.push_back({Layout::kPlain, Layout::kPlain});

  auto try_create = [&](const Candidate& cd, bool bias_post_op, dnnl::primitive_desc* out_pd,
                        PostOpChain* out_chain) -> bool {
    dnnl::memory::desc src = make_md(dt, x, cd.src);
    dnnl::memory::desc dst = make_md(dt, y, cd.dst);
    PostOpChain chain = conv_post_ops(c, d, cd.dst, bias_post_op);
    dnnl::primitive_attr attr = user_scratchpad_attr();
    attr.set_post_ops(chain.ops);
    const bool in_primitive = d.has_bias && !bias_post_op;
    try {
      if (p.transpose) {
        dnnl::deconvolution_forward::desc dd =
            in_primitive
                ? dnnl::deconvolution_forward::desc(
                      dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct,
                      src, any_md(d.weights), d.bias, dst, p.strides, p.dilates, p.pad_l, p.pad_r)
                : dnnl::deconvolution_forward::desc(
                      dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct,
                      src, any_md(d.weights), dst, p.strides, p.dilates, p.pad_l, p.pad_r);
        *out_pd = dnnl::deconvolution_forward::primitive_desc(dd, attr, dnnl_engine());
      } else {
        *out_pd = dnnl::convolution_forward::primitive_desc(
            conv_desc(c, plan, d, dnnl::algorithm::convolution_direct, src, dst, in_primitive),
            attr, dnnl_engine());
      }
    } catch (const dnnl::error&) {
      return false;
    }
    *out_chain = std::move(chain);
    return true;
  };

  int64_t kernel_elems = 1;
  for (int64_t kd : p.geo.kernel) kernel_elems *= kd;
  auto slow_impl = [&](const std::string& impl) {
    return is_reference_impl(impl) ||
           ((p.group > 1 || kernel_elems > 1) && impl.find("gemm") != std::string::npos);
  };
  dnnl::primitive_desc fallback_pd;
  PostOpChain fallback_chain;
  Candidate fallback{};
  bool found = false, have_fallback = false, fallback_bias_post_op = false;
  for (const Candidate& cd : cands) {
    for (bool bpo : {true, false}) {
      if (bpo && !bias_last) continue;
      dnnl::primitive_desc cur;
      PostOpChain ch;
      if (!try_create(cd, bpo, &cur, &ch)) continue;
      if (!slow_impl(impl_name(cur))) {
        plan.pd = cur;
        plan.chain = std::move(ch);
        plan.layouts = cd;
        plan.bias_post_op = bpo;
        found = true;
        break;
      }
      if (!have_fallback) {
        fallback_pd = cur;
        fallback_chain = std::move(ch);
        fallback = cd;
        fallback_bias_post_op = bpo;
        have_fallback = true;
      }
    }
    if (found) break;
  }
  if (!found) {
    if (!have_fallback) {
      fail(ErrorCode::kUnsupported, "{}: oneDNN has no {} for input {} weights {} output {}",
           c.label, p.transpose ? "deconvolution" : "convolution", dims_str(x),
           dims_str(c.in[1].dims), dims_str(y));
    }
    plan.pd = fallback_pd;
    plan.chain = std::move(fallback_chain);
    plan.layouts = fallback;
    plan.bias_post_op = fallback_bias_post_op;
  }
  plan.algorithm = ConvAlgorithm::kDirect;
  // oneDNN 2.6's GEMM convolution applies a binary post-op element by element: a NanoDet-like
  // PAN's 1x1 116->96 lateral with its fused Add took 17.4 ms (3.5 GFLOP/s). The post-ops then
  // run as primitives after the conv (both on plain data: 1.3 ms together).
  if (!p.transpose && has_binary_post_ops(c.node) &&
      impl_name(plan.pd).find("gemm") != std::string::npos) {
    dnnl::primitive_desc bare;
    try {
      bare = dnnl::convolution_forward::primitive_desc(
          conv_desc(c, plan, d, dnnl::algorithm::convolution_direct,
                    make_md(dt, x, plan.layouts.src), make_md(dt, y, plan.layouts.dst), d.has_bias),
          user_scratchpad_attr(), dnnl_engine());
    } catch (const dnnl::error&) {
      return;
    }
    if (slow_impl(impl_name(bare))) return;
    plan.pd = bare;
    plan.chain = PostOpChain{};
    plan.bias_post_op = false;
    plan.separate_post_ops = true;
  }
}

// The Winograd policy: Winograd replaces the direct primitive when the shape qualifies
// (winograd_shape); post-ops it rejects run as separate in-place primitives on dst (the bias then
// goes back into the primitive).
void choose_winograd(const OpContext& c, const ConvDescs& d, bool bias_last, ConvPlan& plan) {
  const ConvParams& p = plan.p;
  const Dims& x = c.in[0].dims;
  const Dims& y = c.out[0].dims;
  const DType dt = c.precision;
  if (!winograd_shape(p, x, y, plan.layouts)) return;
  const dnnl::memory::desc src = make_md(dt, x, plan.layouts.src);
  const dnnl::memory::desc dst = make_md(dt, y, plan.layouts.dst);
  dnnl::primitive_desc wpd;
  for (bool bpo : {true, false}) {
    if (bpo && !bias_last) continue;
    PostOpChain wchain = conv_post_ops(c, d, plan.layouts.dst, bpo);
    dnnl::primitive_attr fused = user_scratchpad_attr();
    fused.set_post_ops(wchain.ops);
    if (find_winograd(conv_desc(c, plan, d, dnnl::algorithm::convolution_winograd, src, dst,
                                d.has_bias && !bpo),
                      fused, &wpd)) {
      plan.algorithm = ConvAlgorithm::kWinograd;
      plan.pd = wpd;
      plan.chain = std::move(wchain);
      plan.bias_post_op = bpo;
      return;
    }
  }
  if (find_winograd(
          conv_desc(c, plan, d, dnnl::algorithm::convolution_winograd, src, dst, d.has_bias),
          user_scratchpad_attr(), &wpd)) {
    plan.algorithm = ConvAlgorithm::kWinograd;
    plan.pd = wpd;
    plan.chain = PostOpChain{};
    plan.bias_post_op = false;
    plan.separate_post_ops = !c.node.post_ops.empty();
    return;
  }
  // oneDNN offers F(2x2,3x3) only while ic x oc is small (its transformed weights must stay in
  // cache: up to ~6400 here, so not 128->64 or 128->80). Larger convs run as one Winograd conv
  // per slice of output channels, each writing its channel blocks of dst (batch 1: a range of
  // channel blocks is contiguous). 128->80 at 40x40: 0.44 ms against 0.67 direct.
  if (x[0] != 1) return;
  // A Winograd conv computing output channels [o, o + n) (group 1, bias in the primitive).
  auto slice_desc = [&](int64_t n) {
    Dims wd = c.in[1].dims, yd = y;
    wd[0] = n;
    yd[1] = n;
    dnnl::memory::desc w_any(dnnl_dims(wd), dnnl_dtype(dt), dnnl::memory::format_tag::any);
    return conv_fwd_desc(
        dnnl::algorithm::convolution_winograd, src, w_any,
        d.has_bias ? make_md(DType::kF32, {n}, Layout::kPlain) : dnnl::memory::desc(),
        make_md(dt, yd, plan.layouts.dst), p.strides, p.dilates, p.pad_l, p.pad_r);
  };
  std::vector<std::pair<int64_t, dnnl::primitive_desc>> slices;
  const int64_t cb = channel_block();
  for (int64_t parts = 2; parts <= y[1] / cb && slices.empty(); ++parts) {
    // At most two slice sizes (the chunk and the remainder): one primitive desc each.
    const int64_t chunk = (y[1] / cb + parts - 1) / parts * cb;
    std::map<int64_t, dnnl::primitive_desc> by_size;
    for (int64_t o = 0; o < y[1]; o += chunk) {
      const int64_t n = std::min(chunk, y[1] - o);
      auto it = by_size.find(n);
      if (it == by_size.end()) {
        dnnl::primitive_desc part;
        if (!find_winograd(slice_desc(n), user_scratchpad_attr(), &part)) {
          slices.clear();
          break;
        }
        it = by_size.emplace(n, std::move(part)).first;
      }
      slices.emplace_back(o, it->second);
    }
  }
  if (slices.empty()) return;
  plan.algorithm = ConvAlgorithm::kWinogradSlices;
  plan.slices = std::move(slices);
  plan.chain = PostOpChain{};
  plan.bias_post_op = false;
  plan.separate_post_ops = !c.node.post_ops.empty();
}

ConvPlan choose_conv_algorithm(const OpContext& c) {
  ConvPlan plan;
  if (stem_conv_applies(c)) {
    plan.algorithm = ConvAlgorithm::kStem;
    return plan;
  }
  plan.p = conv_params(c);
  if (deconv_as_conv1x1(c, plan.p)) {
    plan.algorithm = ConvAlgorithm::kDeconvAs1x1;
    return plan;
  }
  if (padded_winograd_pd(c, plan.p, &plan.pd)) {
    plan.algorithm = ConvAlgorithm::kPaddedWinograd;
    return plan;
  }
  const ConvDescs d = conv_descs(c, plan.p);
  // The bias as the first post-op when it dominates: oneDNN's direct kernels carry the bias in
  // their partial sums, so a bias much larger than the products makes every later addition round
  // at the bias's magnitude (3-7x the error of adding it last, as GEMM-based engines do; yolox_nano
  // went from 8.0e-6 to 5.8e-6 of the double reference). The post-op costs 5-30% of a conv's time
  // (jit_1x1 most), so it is tried only where the bias can dominate; see bias_dominates().
  const bool bias_last = d.has_bias && !plan.p.transpose && bias_dominates(c);
  choose_direct(c, d, bias_last, plan);
  choose_winograd(c, d, bias_last, plan);
  return plan;
}

// The direct / Winograd kernel of `plan`: the source converted when the primitive wants the
// other layout, the primitive (or one per output-channel slice), separately run post-ops, and
// the destination converted back.
KernelBuild assemble_conv(const OpContext& c, const ConvPlan& plan) {
  switch (plan.algorithm) {
    case ConvAlgorithm::kStem:
      return build_stem_conv(c);
    case ConvAlgorithm::kDeconvAs1x1:
      return build_deconv_as_conv1x1(c, plan.p);
    case ConvAlgorithm::kPaddedWinograd:
      return build_padded_winograd(c, plan.p, plan.pd);
    case ConvAlgorithm::kDirect:
    case ConvAlgorithm::kWinograd:
    case ConvAlgorithm::kWinogradSlices:
      break;
  }
  const Dims& x = c.in[0].dims;
  const Dims& y = c.out[0].dims;
  const DType dt = c.precision;
  const Layout sl = c.in[0].layout, dl = c.out[0].layout;
  const Candidate& chosen = plan.layouts;
  const ConvDescs d = conv_descs(c, plan.p);

  auto k = std::make_unique<DnnlKernel>();
  KernelBuild kb;
  ArgSource src = k->input(kb.use_input(0), make_md(dt, x, sl));
  if (chosen.src != sl) {
    ArgSource tmp = k->scratch(make_md(dt, x, chosen.src));
    k->add_reorder(src, tmp);
    src = tmp;
  }
  ArgSource dst = k->output(0, make_md(dt, y, dl));
  ArgSource dst_int = chosen.dst == dl ? dst : k->scratch(make_md(dt, y, chosen.dst));
  if (plan.algorithm == ConvAlgorithm::kWinogradSlices) {
    // One Winograd conv per output-channel slice: its weights and bias are the slice's rows of
    // the user's (oihw, contiguous per output channel), its dst the slice's channel blocks.
    const Dims& w = c.in[1].dims;
    const int64_t per_oc = num_elements(w) / w[0];
    const int64_t plane = y[2] * y[3];
    for (const auto& [o, spd] : plan.slices) {
      const dnnl::memory::desc part_dst = spd.query_md(dnnl::query::dst_md);
      const int64_t n = part_dst.dims()[1];
      Dims wd = w;
      wd[0] = n;
      dnnl::memory::desc w_user(dnnl_dims(wd), dnnl::memory::data_type::f32,
                                dnnl::memory::format_tag::oihw);
      std::vector<std::pair<int, ArgSource>> pargs = {
          {DNNL_ARG_SRC, src},
          {DNNL_ARG_WEIGHTS, k->own(spd.query_md(dnnl::query::weights_md), w_user,
                                    c.in[1].constant->data<float>() + o * per_oc)}};
      if (d.has_bias) {
        dnnl::memory::desc b_md = make_md(DType::kF32, {n}, Layout::kPlain);
        pargs.emplace_back(DNNL_ARG_BIAS, k->own(b_md, b_md, c.in[2].constant->data<float>() + o));
      }
      ArgSource slice = dst_int;
      slice.md = part_dst;
      slice.offset += static_cast<size_t>(o * plane) * sizeof(float);
      pargs.emplace_back(DNNL_ARG_DST, slice);
      k->add(dnnl::primitive(spd), spd, std::move(pargs));
    }
  } else {
    ArgSource weights =
        k->own(plan.pd.query_md(dnnl::query::weights_md), d.weights, c.in[1].constant->raw());
    std::vector<std::pair<int, ArgSource>> args = {{DNNL_ARG_SRC, src},
                                                   {DNNL_ARG_WEIGHTS, weights}};
    if (plan.bias_post_op) {
      args.emplace_back(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1,
                        k->own(d.bias_bcast, d.bias_bcast, c.in[2].constant->raw()));
    } else if (d.has_bias) {
      args.emplace_back(DNNL_ARG_BIAS, k->own(d.bias, d.bias, c.in[2].constant->raw()));
    }
    args.emplace_back(DNNL_ARG_DST, dst_int);
    add_post_op_args(plan.chain, c, kb, *k, args);
    k->add(dnnl::primitive(plan.pd), plan.pd, std::move(args));
  }
  if (plan.separate_post_ops) append_post_op_calls(c, kb, *k, dst_int, y, chosen.dst);
  if (chosen.dst != dl) k->add_reorder(dst_int, dst);
  kb.set_dnnl(std::move(k));
  kb.flops = conv_flops(plan.p, x, y);
  return kb;
}

}  // namespace

KernelBuild build_conv(const OpContext& c) {
  require_f32(c);
  return assemble_conv(c, choose_conv_algorithm(c));
}

}  // namespace shoal::cpu
