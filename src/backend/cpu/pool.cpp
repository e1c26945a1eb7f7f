// MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool on oneDNN pooling_v2 (dilations);
// plain or channel-blocked, src and dst in the same layout. ceil_mode becomes extra right padding,
// which max pooling and exclude-padding averages ignore.
#include "backend/cpu/cpu_ops.h"
#include "core/error.h"
#include "graph/op_geometry.h"

namespace shoal::cpu {
namespace {

struct PoolParams {
  dnnl::algorithm alg = dnnl::algorithm::pooling_max;
  dnnl::memory::dims strides, kernel, dilates, pad_l, pad_r;
  bool include_pad_overhang = false;  // averages counting padding that ONNX does not count
};

PoolParams pool_params(const OpContext& c) {
  PoolParams p;
  const Dims& x = c.in[0].dims;
  const Dims& y = c.out[0].dims;
  const std::string& op = c.node.op_type;
  size_t sp = x.size() - 2;
  if (op == "GlobalAveragePool" || op == "GlobalMaxPool") {
    p.alg = op == "GlobalMaxPool" ? dnnl::algorithm::pooling_max
                                  : dnnl::algorithm::pooling_avg_exclude_padding;
    for (size_t i = 0; i < sp; ++i) {
      p.strides.push_back(1);
      p.kernel.push_back(x[i + 2]);
      p.dilates.push_back(0);
      p.pad_l.push_back(0);
      p.pad_r.push_back(0);
    }
    return p;
  }
  std::vector<int64_t> kernel = c.node.attr_ints("kernel_shape");
  bool ceil_mode = c.node.attr_int("ceil_mode", 0) != 0;
  ConvGeometry g = compute_conv_geometry(c.node, x, kernel, ceil_mode, c.label);
  bool include_pad = c.node.attr_int("count_include_pad", 0) != 0;
  if (op == "AveragePool") {
    p.alg = include_pad ? dnnl::algorithm::pooling_avg_include_padding
                        : dnnl::algorithm::pooling_avg_exclude_padding;
  }
  for (size_t i = 0; i < sp; ++i) {
    int64_t range = (g.kernel[i] - 1) * g.dilation[i] + 1;
    p.strides.push_back(g.stride[i]);
    p.kernel.push_back(g.kernel[i]);
    p.dilates.push_back(g.dilation[i] - 1);
    p.pad_l.push_back(g.pad_begin[i]);
    // ONNX's right padding unless ceil_mode needs more for oneDNN's floor formula.
    int64_t pr = g.pad_end[i];
    if ((x[i + 2] - range + g.pad_begin[i] + pr) / g.stride[i] + 1 != y[i + 2]) {
      pr = (y[i + 2] - 1) * g.stride[i] + range - x[i + 2] - g.pad_begin[i];
    }
    if (op == "AveragePool" && include_pad && pr > g.pad_end[i]) p.include_pad_overhang = true;
    p.pad_r.push_back(pr);
  }
  return p;
}

}  // namespace

bool pool_supported(const OpContext& c, std::string* why) {
  if (!all_f32(c, why)) return false;
  if (c.out.size() > 1 && c.out[1].present()) {
    *why = "MaxPool Indices output";
    return false;
  }
  size_t rank = c.in[0].dims.size();
  if (rank < 3 || rank > 5) {
    *why = fmt::format("rank {} input", rank);
    return false;
  }
  PoolParams p = pool_params(c);
  if (p.include_pad_overhang) {
    *why = "count_include_pad with ceil_mode windows past the padding";
    return false;
  }
  for (int64_t r : p.pad_r) {
    if (r < 0) {
      *why = "negative effective padding";
      return false;
    }
  }
  return true;
}

KernelBuild build_pool(const OpContext& c) {
  require_f32(c);
  PoolParams p = pool_params(c);
  const Layout l = c.out[0].layout;
  dnnl::memory::desc src = make_md(c.precision, c.in[0].dims, c.in[0].layout);
  dnnl::memory::desc dst = make_md(c.precision, c.out[0].dims, l);
  dnnl::pooling_v2_forward::desc d(dnnl::prop_kind::forward_inference, p.alg, src, dst, p.strides,
                                   p.kernel, p.dilates, p.pad_l, p.pad_r);
  dnnl::pooling_v2_forward::primitive_desc pd(d, user_scratchpad_attr(), dnnl_engine());
  auto k = std::make_unique<DnnlKernel>();
  KernelBuild kb;
  ArgSource out = k->output(0, dst);
  k->add(dnnl::pooling_v2_forward(pd), pd,
         {{DNNL_ARG_SRC, k->input(kb.use_input(0), src)}, {DNNL_ARG_DST, out}});
  append_post_op_calls(c, kb, *k, out, c.out[0].dims, l);
  kb.set_dnnl(std::move(k));
  return kb;
}

}  // namespace shoal::cpu
