// reference_eval: op dispatch over ops.def, then the fused post-op tail (PostOp in graph/ir.h).
#include <string_view>
#include <unordered_map>

#include "backend/reference/kernel_util.h"
#include "backend/reference/reference.h"
#include "core/error.h"

namespace shoal {

namespace {

using RefFn = void (*)(RefArgs&);

const std::unordered_map<std::string_view, RefFn>& ref_table() {
  static const std::unordered_map<std::string_view, RefFn> table = {
#define SHOAL_OP(name, ...) {#name, &ref_##name},
#include "graph/ops.def"
#undef SHOAL_OP
  };
  return table;
}

bool is_binary(PostOp::Kind k) { return k == PostOp::Kind::kAdd || k == PostOp::Kind::kMul; }

}  // namespace

void reference_eval(const Node& node, int opset, const std::vector<Tensor>& in,
                    std::vector<Tensor>& out) {
  const std::string label = kernel_label(node);
  if (!node.domain.empty() && node.domain != "ai.onnx") {
    fail(ErrorCode::kUnsupported, "{}: operator domain '{}' is not supported", label, node.domain);
  }
  auto it = ref_table().find(node.op_type);
  if (it == ref_table().end()) {
    fail(ErrorCode::kUnsupported, "{}: no reference kernel for '{}'", label, node.op_type);
  }
  if (in.size() > node.inputs.size() || out.size() != node.outputs.size()) {
    fail(ErrorCode::kInternal, "{}: {} inputs / {} outputs given for {} / {}", label, in.size(),
         out.size(), node.inputs.size(), node.outputs.size());
  }
  RefArgs args{node, opset, in, out};
  try {
    it->second(args);
    if (!node.post_ops.empty()) apply_post_ops(node, in, out[0]);
  } catch (const Error& e) {
    if (std::string_view(e.what()).rfind(label, 0) == 0) throw;
    throw Error(e.code(), label + ": " + e.what());
  }
}

void apply_post_ops(const Node& node, const std::vector<Tensor>& in, Tensor& out) {
  if (node.post_ops.empty()) return;
  const std::string label = kernel_label(node);
  if (!dtype_is_float(out.dtype())) {
    fail(ErrorCode::kUnsupported, "{}: fused post-ops on a {} output", label,
         dtype_name(out.dtype()));
  }
  const Dims& od = out.dims();
  const size_t r = od.size();
  // Per post-op: the operand and its element strides over the output dims (0 = broadcast).
  struct Operand {
    const Tensor* t = nullptr;
    std::vector<int64_t> strides;
    int64_t off = 0;
  };
  std::vector<Operand> ops(node.post_ops.size());
  bool any_binary = false;
  for (size_t p = 0; p < node.post_ops.size(); ++p) {
    const PostOp& po = node.post_ops[p];
    if (!is_binary(po.kind)) continue;
    any_binary = true;
    if (po.input < 0 || static_cast<size_t>(po.input) >= in.size() ||
        !in[static_cast<size_t>(po.input)].defined()) {
      fail(ErrorCode::kInternal, "{}: post-op {} reads missing input {}", label,
           post_op_name(po.kind), po.input);
    }
    const Tensor& t = in[static_cast<size_t>(po.input)];
    const Dims& td = t.dims();
    if (td.size() > r) {
      fail(ErrorCode::kInvalidModel, "{}: post-op {} operand {} does not broadcast to {}", label,
           post_op_name(po.kind), dims_str(td), dims_str(od));
    }
    const std::vector<int64_t> ts = dense_strides(td);
    ops[p].t = &t;
    ops[p].strides.assign(r, 0);
    for (size_t k = r - td.size(); k < r; ++k) {
      const int64_t d = td[k - (r - td.size())];
      if (d != 1 && d != od[k]) {
        fail(ErrorCode::kInvalidModel, "{}: post-op {} operand {} does not broadcast to {}", label,
             post_op_name(po.kind), dims_str(td), dims_str(od));
      }
      ops[p].strides[k] = d == 1 ? 0 : ts[k - (r - td.size())];
    }
  }
  std::vector<int64_t> cnt(r, 0);
  const int64_t n = out.numel();
  for (int64_t i = 0; i < n; ++i) {
    double x = out.get_f64(i);
    for (size_t p = 0; p < node.post_ops.size(); ++p) {
      const PostOp& po = node.post_ops[p];
      if (po.kind == PostOp::Kind::kAdd) {
        x += ops[p].t->get_f64(ops[p].off);
      } else if (po.kind == PostOp::Kind::kMul) {
        x *= ops[p].t->get_f64(ops[p].off);
      } else {
        x = apply_activation(po, x);
      }
    }
    out.set_f64(i, x);
    if (!any_binary) continue;
    for (size_t k = r; k-- > 0;) {  // odometer over the output index
      for (Operand& o : ops) {
        if (o.t) o.off += o.strides[k];
      }
      if (++cnt[k] < od[k]) break;
      for (Operand& o : ops) {
        if (o.t) o.off -= o.strides[k] * od[k];
      }
      cnt[k] = 0;
    }
  }
}

}  // namespace shoal
