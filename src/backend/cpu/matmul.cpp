// MatMul on the oneDNN matmul primitive (plain layouts, NumPy batch broadcasting, 1-D operands
// promoted). A constant B is packed once into the primitive's preferred format.
#include <vector>

#include "backend/cpu/cpu_ops.h"
#include "core/error.h"

namespace shoal::cpu {
namespace {

using tag = dnnl::memory::format_tag;

struct MatmulShape {
  Dims a, b, y;  // equal ranks >= 2, as oneDNN sees them
  int64_t m = 0, n = 0, k = 0, batch = 1;
};

bool matmul_shape(const OpContext& c, MatmulShape* s, std::string* why) {
  Dims a = c.in[0].dims, b = c.in[1].dims;
  if (a.empty() || b.empty()) {
    *why = "scalar operand";
    return false;
  }
  if (a.size() == 1) a.insert(a.begin(), 1);
  if (b.size() == 1) b.push_back(1);
  size_t r = std::max(a.size(), b.size());
  a = pad_rank(a, r);
  b = pad_rank(b, r);
  Dims y(r);
  for (size_t i = 0; i + 2 < r; ++i) {
    if (a[i] != b[i] && a[i] != 1 && b[i] != 1) {
      *why = "batch dims do not broadcast";
      return false;
    }
    y[i] = std::max(a[i], b[i]);
    s->batch *= y[i];
  }
  s->m = a[r - 2];
  s->k = a[r - 1];
  s->n = b[r - 1];
  if (b[r - 2] != s->k) {
    *why = "inner dims differ";
    return false;
  }
  y[r - 2] = s->m;
  y[r - 1] = s->n;
  s->a = a;
  s->b = b;
  s->y = y;
  return true;
}

}  // namespace

bool matmul_supported(const OpContext& c, std::string* why) {
  if (!all_f32(c, why)) return false;
  if (c.in.size() < 2 || !c.in[0].present() || !c.in[1].present()) {
    *why = "missing operand";
    return false;
  }
  MatmulShape s;
  if (!matmul_shape(c, &s, why)) return false;
  if ((c.in[0].dims.size() == 1 || c.in[1].dims.size() == 1) && !c.node.post_ops.empty()) {
    *why = "fused post-ops on a 1-D MatMul";
    return false;
  }
  if (num_elements(s.y) != num_elements(c.out[0].dims)) {
    *why = "output dims disagree";
    return false;
  }
  return true;
}

KernelBuild build_matmul(const OpContext& c) {
  require_f32(c);
  MatmulShape s;
  std::string why;
  if (!matmul_shape(c, &s, &why)) fail(ErrorCode::kInvalidModel, "{}: {}", c.label, why);
  dnnl::memory::desc a_md = make_md(c.precision, s.a, Layout::kPlain);
  dnnl::memory::desc b_user = make_md(DType::kF32, s.b, Layout::kPlain);
  dnnl::memory::desc y_md = make_md(c.precision, s.y, Layout::kPlain);
  const bool b_const = c.in[1].constant != nullptr;
  dnnl::memory::desc b_md =
      b_const ? dnnl::memory::desc(b_user.dims(), b_user.data_type(), tag::any) : b_user;
  PostOpChain chain = make_post_ops(c, s.y, Layout::kPlain);
  dnnl::primitive_attr attr = user_scratchpad_attr();
  attr.set_post_ops(chain.ops);
  dnnl::matmul::desc d(a_md, b_md, y_md);
  dnnl::matmul::primitive_desc pd(d, attr, dnnl_engine());
  auto k = std::make_unique<DnnlKernel>();
  KernelBuild kb;
  ArgSource a = k->input(kb.use_input(0), a_md);
  ArgSource b = b_const ? k->own(pd.weights_desc(), b_user, c.in[1].constant->raw())
                        : k->input(kb.use_input(1), b_user);
  std::vector<std::pair<int, ArgSource>> args = {
      {DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, k->output(0, y_md)}};
  add_post_op_args(chain, c, kb, *k, args);
  k->add(dnnl::matmul(pd), pd, std::move(args));
  kb.set_dnnl(std::move(k));
  kb.flops = 2.0 * static_cast<double>(s.batch) * static_cast<double>(s.m) *
             static_cast<double>(s.n) * static_cast<double>(s.k);
  return kb;
}

}  // namespace shoal::cpu
