// Gemm on the oneDNN matmul primitive (plain layouts). A constant B is packed once into the
// primitive's preferred format with alpha folded in; a constant C becomes the bias (times beta); a
// run-time C is a binary post-op. Transposed operands are strided views.
#include <vector>

#include "backend/cpu/cpu_ops.h"
#include "core/error.h"

namespace shoal::cpu {
namespace {

using tag = dnnl::memory::format_tag;

dnnl::memory::desc strided_md(const Dims& d, bool transposed_2d) {
  // d = {rows, cols} as the matmul sees them; stored transposed when `transposed_2d`.
  if (!transposed_2d) return make_md(DType::kF32, d, Layout::kPlain);
  return dnnl::memory::desc(dnnl_dims(d), dnnl::memory::data_type::f32,
                            dnnl::memory::dims{1, d[0]});
}

}  // namespace

bool gemm_supported(const OpContext& c, std::string* why) {
  if (!all_f32(c, why)) return false;
  if (c.in.size() < 2 || !c.in[0].present() || !c.in[1].present()) {
    *why = "missing operand";
    return false;
  }
  if (c.in[0].dims.size() != 2 || c.in[1].dims.size() != 2) {
    *why = "Gemm operands must be 2-D";
    return false;
  }
  bool has_c = c.in.size() > 2 && c.in[2].present() && c.node.attr_float("beta", 1.f) != 0.f;
  if (has_c && c.in[2].dims.size() > 2) {
    *why = "C of rank > 2";
    return false;
  }
  if (has_c && !c.in[2].constant && c.node.attr_float("beta", 1.f) != 1.f) {
    *why = "run-time C with beta != 1";
    return false;
  }
  return true;
}

KernelBuild build_gemm(const OpContext& c) {
  require_f32(c);
  const Node& n = c.node;
  const bool ta = n.attr_int("transA", 0) != 0, tb = n.attr_int("transB", 0) != 0;
  const float alpha = n.attr_float("alpha", 1.f), beta = n.attr_float("beta", 1.f);
  const Dims& ad = c.in[0].dims;
  const Dims& bd = c.in[1].dims;
  const int64_t m = ta ? ad[1] : ad[0], kk = ta ? ad[0] : ad[1];
  const int64_t nn = tb ? bd[0] : bd[1];
  const Dims y = {m, nn};
  dnnl::memory::desc a_md = strided_md({m, kk}, ta);
  dnnl::memory::desc b_user = strided_md({kk, nn}, tb);
  dnnl::memory::desc y_md = make_md(c.precision, y, Layout::kPlain);
  const bool b_const = c.in[1].constant != nullptr;
  const bool has_c = c.in.size() > 2 && c.in[2].present() && beta != 0.f;
  const bool c_const = has_c && c.in[2].constant != nullptr;

  auto k = std::make_unique<DnnlKernel>();
  KernelBuild kb;
  // alpha: folded into a constant B, else a linear post-op.
  PostOpChain pre;
  if (!b_const && alpha != 1.f)
    pre.ops.append_eltwise(1.f, dnnl::algorithm::eltwise_linear, alpha, 0.f);
  // C: bias when constant and added after alpha; otherwise a binary post-op.
  dnnl::memory::desc c_md;
  ArgSource c_arg;
  bool c_as_bias = false;
  int c_post_index = -1;
  if (has_c) {
    Dims cd = pad_rank(c.in[2].dims, 2);
    if (c_const) {
      // beta * C expanded to a row {1, N} (the bias oneDNN has fast kernels for) or to {M, N}.
      const Tensor& ct = *c.in[2].constant;
      const bool row = cd[0] == 1;
      Dims full = {row ? 1 : m, nn};
      std::vector<float> scaled(static_cast<size_t>(full[0] * nn));
      for (int64_t i = 0; i < full[0]; ++i) {
        for (int64_t j = 0; j < nn; ++j) {
          int64_t src = (cd[0] == 1 ? 0 : i) * cd[1] + (cd[1] == 1 ? 0 : j);
          scaled[static_cast<size_t>(i * nn + j)] = beta * ct.data<float>()[src];
        }
      }
      c_md = make_md(DType::kF32, full, Layout::kPlain);
      c_arg = k->own(c_md, c_md, scaled.data());
      c_as_bias = row && pre.ops.len() == 0;
    } else {
      c_md = make_md(DType::kF32, cd, Layout::kPlain);
      c_arg = k->input(kb.use_input(2), c_md);
    }
    if (!c_as_bias) {
      c_post_index = pre.ops.len();
      pre.ops.append_binary(dnnl::algorithm::binary_add, c_md);
    }
  }
  PostOpChain chain = make_post_ops(c, y, Layout::kPlain, std::move(pre));
  dnnl::primitive_attr attr = user_scratchpad_attr();
  attr.set_post_ops(chain.ops);
  dnnl::memory::desc b_md =
      b_const ? dnnl::memory::desc(b_user.dims(), b_user.data_type(), tag::any) : b_user;
  dnnl::memory::desc a_dense = make_md(DType::kF32, {m, kk}, Layout::kPlain);
  dnnl::matmul::desc d = c_as_bias ? dnnl::matmul::desc(a_dense, b_md, c_md, y_md)
                                   : dnnl::matmul::desc(a_dense, b_md, y_md);
  dnnl::matmul::primitive_desc pd(d, attr, dnnl_engine());

  // A transposed A is copied to a dense {M, K} first (oneDNN's fast matmul wants dense src).
  ArgSource a = k->input(kb.use_input(0), a_md);
  if (ta) {
    ArgSource dense = k->scratch(make_md(DType::kF32, {m, kk}, Layout::kPlain));
    k->add_reorder(a, dense);
    a = dense;
  }
  ArgSource b;
  if (b_const) {
    const Tensor& bt = *c.in[1].constant;
    if (alpha != 1.f) {
      std::vector<float> scaled(static_cast<size_t>(bt.numel()));
      for (int64_t i = 0; i < bt.numel(); ++i)
        scaled[static_cast<size_t>(i)] = alpha * bt.data<float>()[i];
      b = k->own(pd.weights_desc(), b_user, scaled.data());
    } else {
      b = k->own(pd.weights_desc(), b_user, bt.raw());
    }
  } else {
    b = k->input(kb.use_input(1), b_user);
  }
  std::vector<std::pair<int, ArgSource>> args = {
      {DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, k->output(0, y_md)}};
  if (c_as_bias) args.emplace_back(DNNL_ARG_BIAS, c_arg);
  if (c_post_index >= 0) {
    args.emplace_back(DNNL_ARG_ATTR_MULTIPLE_POST_OP(c_post_index) | DNNL_ARG_SRC_1, c_arg);
  }
  add_post_op_args(chain, c, kb, *k, args);
  k->add(dnnl::matmul(pd), pd, std::move(args));
  kb.set_dnnl(std::move(k));
  kb.flops = 2.0 * static_cast<double>(m) * static_cast<double>(nn) * static_cast<double>(kk);
  return kb;
}

}  // namespace shoal::cpu
