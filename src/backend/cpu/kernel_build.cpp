// The helpers every kernel builder shares (cpu_ops.h): KernelBuild plumbing, dtype checks and
// fused post-op chains (as oneDNN post-ops of the main primitive, or as separate primitives).
#include "backend/cpu/cpu_ops.h"
#include "core/error.h"

namespace shoal::cpu {

int KernelBuild::use_input(int slot) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i] == slot) return static_cast<int>(i);
  }
  inputs.push_back(slot);
  return static_cast<int>(inputs.size() - 1);
}

void KernelBuild::set_dnnl(std::unique_ptr<DnnlKernel> k) {
  scratch_bytes = k->scratch_bytes();
  packed_bytes = k->owned_bytes();
  impl = k->main_impl();
  kernel = std::move(k);
}

void require_f32(const OpContext& c) {
  if (c.precision != DType::kF32) {
    fail(ErrorCode::kUnsupported, "{}: cpu backend precision {} is not implemented yet", c.label,
         dtype_name(c.precision));
  }
}

bool all_f32(const OpContext& c, std::string* why) {
  for (const ValueInfo& v : c.in) {
    if (v.present() && v.dtype != DType::kF32) {
      *why = fmt::format("input dtype {}", dtype_name(v.dtype));
      return false;
    }
  }
  for (const ValueInfo& v : c.out) {
    if (v.present() && v.dtype != DType::kF32) {
      *why = fmt::format("output dtype {}", dtype_name(v.dtype));
      return false;
    }
  }
  return true;
}

Layout operand_layout(const Dims& dims, const Dims& dst_dims, Layout dst_layout) {
  return dims == dst_dims ? dst_layout : Layout::kPlain;
}

namespace {

using alg = dnnl::algorithm;

struct EltwiseSpec {
  alg a;
  float alpha;
  float beta;
};

// One activation as oneDNN eltwise ops (HardSigmoid needs two).
std::vector<EltwiseSpec> activation_specs(const PostOp& p) {
  switch (p.kind) {
    case PostOp::Kind::kRelu:
      return {{alg::eltwise_relu, 0.f, 0.f}};
    case PostOp::Kind::kLeakyRelu:
      return {{alg::eltwise_relu, p.alpha, 0.f}};
    case PostOp::Kind::kSigmoid:
      return {{alg::eltwise_logistic, 0.f, 0.f}};
    case PostOp::Kind::kSilu:
      return {{alg::eltwise_swish, 1.f, 0.f}};
    case PostOp::Kind::kHardSigmoid:
      return {{alg::eltwise_linear, p.alpha, p.beta}, {alg::eltwise_clip, 0.f, 1.f}};
    case PostOp::Kind::kHardSwish:
      return {{alg::eltwise_hardswish, 0.f, 0.f}};
    case PostOp::Kind::kClip:
      return {{alg::eltwise_clip, p.alpha, p.beta}};
    case PostOp::Kind::kTanh:
      return {{alg::eltwise_tanh, 0.f, 0.f}};
    case PostOp::Kind::kMish:
      return {{alg::eltwise_mish, 0.f, 0.f}};
    case PostOp::Kind::kElu:
      return {{alg::eltwise_elu, p.alpha, 0.f}};
    case PostOp::Kind::kAdd:
    case PostOp::Kind::kMul:
      break;
  }
  return {};
}

dnnl::memory::desc operand_md(const OpContext& c, int slot, const Dims& dst_dims,
                              Layout dst_layout) {
  if (slot < 0 || slot >= static_cast<int>(c.in.size()) ||
      !c.in[static_cast<size_t>(slot)].present()) {
    fail(ErrorCode::kInvalidModel, "{}: fused post-op reads missing input {}", c.label, slot);
  }
  const ValueInfo& v = c.in[static_cast<size_t>(slot)];
  if (v.dims.size() > dst_dims.size()) {
    fail(ErrorCode::kInvalidModel, "{}: fused operand {} has higher rank than the output {}",
         c.label, dims_str(v.dims), dims_str(dst_dims));
  }
  Layout l = operand_layout(v.dims, dst_dims, dst_layout);
  return make_md(v.dtype, pad_rank(v.dims, dst_dims.size()), l);
}

}  // namespace

PostOpChain make_post_ops(const OpContext& c, const Dims& dst_dims, Layout dst_layout,
                          PostOpChain ch, size_t first) {
  for (size_t k = first; k < c.node.post_ops.size(); ++k) {
    const PostOp& p = c.node.post_ops[k];
    if (p.kind == PostOp::Kind::kAdd || p.kind == PostOp::Kind::kMul) {
      dnnl::memory::desc md = operand_md(c, p.input, dst_dims, dst_layout);
      ch.binaries.push_back({ch.ops.len(), p.input, md});
      ch.ops.append_binary(p.kind == PostOp::Kind::kAdd ? alg::binary_add : alg::binary_mul, md);
      continue;
    }
    for (const EltwiseSpec& e : activation_specs(p))
      ch.ops.append_eltwise(1.f, e.a, e.alpha, e.beta);
  }
  return ch;
}

namespace {

// The operand of a binary post-op in the layout `md` wants (reordered into scratch if needed).
ArgSource operand_arg(const OpContext& c, int slot, const dnnl::memory::desc& md, KernelBuild& kb,
                      DnnlKernel& k) {
  const ValueInfo& v = c.in[static_cast<size_t>(slot)];
  int idx = kb.use_input(slot);
  Layout have = v.layout;
  dnnl::memory::desc have_md = make_md(v.dtype, pad_rank(v.dims, md.dims().size()), have);
  if (have_md == md) return k.input(idx, md);
  ArgSource tmp = k.scratch(md);
  k.add_reorder(k.input(idx, have_md), tmp);
  return tmp;
}

}  // namespace

void add_post_op_args(const PostOpChain& chain, const OpContext& c, KernelBuild& kb, DnnlKernel& k,
                      std::vector<std::pair<int, ArgSource>>& args) {
  for (const PostOpChain::Binary& b : chain.binaries) {
    args.emplace_back(DNNL_ARG_ATTR_MULTIPLE_POST_OP(b.post_op_index) | DNNL_ARG_SRC_1,
                      operand_arg(c, b.slot, b.md, kb, k));
  }
}

void append_post_op_calls(const OpContext& c, KernelBuild& kb, DnnlKernel& k, const ArgSource& dst,
                          const Dims& dst_dims, Layout dst_layout, size_t first) {
  for (size_t i = first; i < c.node.post_ops.size(); ++i) {
    const PostOp& p = c.node.post_ops[i];
    if (p.kind == PostOp::Kind::kAdd || p.kind == PostOp::Kind::kMul) {
      dnnl::memory::desc md = operand_md(c, p.input, dst_dims, dst_layout);
      ArgSource src1 = operand_arg(c, p.input, md, kb, k);
      dnnl::binary::desc d(p.kind == PostOp::Kind::kAdd ? alg::binary_add : alg::binary_mul, dst.md,
                           md, dst.md);
      dnnl::binary::primitive_desc pd(d, user_scratchpad_attr(), dnnl_engine());
      k.add(dnnl::binary(pd), pd,
            {{DNNL_ARG_SRC_0, dst}, {DNNL_ARG_SRC_1, src1}, {DNNL_ARG_DST, dst}});
      continue;
    }
    for (const EltwiseSpec& e : activation_specs(p)) {
      dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_inference, e.a, dst.md, e.alpha,
                                    e.beta);
      dnnl::eltwise_forward::primitive_desc pd(d, user_scratchpad_attr(), dnnl_engine());
      k.add(dnnl::eltwise_forward(pd), pd, {{DNNL_ARG_SRC, dst}, {DNNL_ARG_DST, dst}});
    }
  }
}

}  // namespace shoal::cpu
