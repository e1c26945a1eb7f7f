#include "graph/shape_inference.h"

#include <algorithm>
#include <string_view>
#include <unordered_map>

#include "core/error.h"
#include "graph/einsum.h"
#include "graph/ops.h"

namespace shoal {

namespace {

using InferFn = void (*)(InferContext&);

const std::unordered_map<std::string_view, InferFn>& infer_table() {
  static const std::unordered_map<std::string_view, InferFn> table = {
#define SHOAL_OP(name, ...) {#name, &infer_##name},
#include "graph/ops.def"
#undef SHOAL_OP
  };
  return table;
}

// Rethrows `e` with the node label in front unless the message already names it.
[[noreturn]] void rethrow_labelled(const Error& e, const std::string& label) {
  std::string_view msg = e.what();
  if (msg.rfind(label, 0) == 0) throw e;
  throw Error(e.code(), label + ": " + std::string(msg));
}

std::string symbolic_dims_str(const Value& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.dims.size(); ++i) {
    if (i) s += ",";
    if (v.dims[i] >= 0) {
      s += std::to_string(v.dims[i]);
    } else if (i < v.dim_params.size() && !v.dim_params[i].empty()) {
      s += v.dim_params[i];
    } else {
      s += "?";
    }
  }
  return s + "]";
}

bool dims_fixed(const Dims& d) {
  for (int64_t x : d) {
    if (x < 0) return false;
  }
  return true;
}

// Ops whose output is a view of input 0 with other dims: folding shares the constant's storage.
bool is_view_op(const std::string& op) {
  return op == "Identity" || op == "Reshape" || op == "Flatten" || op == "Squeeze" ||
         op == "Unsqueeze";
}

// Work of folding a node, in multiply-adds or window reads: only contractions (Conv,
// ConvTranspose, MatMul, Gemm: node_flops / 2; Einsum) and pooling windows can cost far more than
// their output size, and a model could make loading hang on one. In double: a count past int64
// just keeps the node for run time.
double fold_work(const Graph& g, const Node& node) {
  const std::string& op = node.op_type;
  if (node.inputs.empty() || node.inputs[0] == kNoValue) return 0;
  if (op == "MaxPool" || op == "AveragePool") {
    double window = 1;
    for (int64_t k : node.attr_ints("kernel_shape")) {
      window *= static_cast<double>(std::max<int64_t>(k, 1));
    }
    return static_cast<double>(num_elements(g.value(node.outputs[0]).dims)) * window;
  }
  if (op == "Einsum") {
    std::vector<Dims> dims;
    for (ValueId v : node.inputs) dims.push_back(v == kNoValue ? Dims{} : g.value(v).dims);
    double work = static_cast<double>(node.inputs.size());
    for (int64_t d : parse_einsum(node.attr_string("equation", ""), dims, node.name).sizes) {
      work *= static_cast<double>(std::max<int64_t>(d, 1));
    }
    return work;
  }
  return node_flops(g, node) / 2;
}

}  // namespace

const Value& InferContext::input(int i) const {
  ValueId id = node().input(i);
  if (id == kNoValue) fail(ErrorCode::kInvalidModel, "{}: input {} is missing", label(), i);
  return graph_.value(id);
}

const Tensor* InferContext::constant(int i) const {
  ValueId id = node().input(i);
  if (id == kNoValue) return nullptr;
  const Value& v = graph_.value(id);
  return v.is_constant() ? &v.constant : nullptr;
}

void InferContext::needs_value(int i, const std::string& what) const {
  throw ShapeNeedsData(fmt::format(
      "{}: {} ('{}') must be known at compile time (a constant or computed from shapes)", label(),
      what, input(i).name));
}

std::vector<int64_t> InferContext::constant_ints(int i) const {
  const Tensor* t = constant(i);
  if (!t) needs_value(i, fmt::format("input {}", i));
  if (dtype_is_float(t->dtype())) {
    fail(ErrorCode::kInvalidModel, "{}: input {} ('{}') must be an integer tensor, not {}", label(),
         i, input(i).name, dtype_name(t->dtype()));
  }
  return t->to_i64_vector();
}

void InferContext::set_output(int i, DType dtype, Dims dims) {
  const Node& n = node();
  if (i < 0 || i >= num_outputs() || n.outputs[static_cast<size_t>(i)] == kNoValue) return;
  if (dims_fixed(dims)) {
    int64_t bytes = checked_mul(num_elements(dims), static_cast<int64_t>(dtype_size(dtype)));
    if (bytes > kMaxTensorBytes) {
      fail(ErrorCode::kLimit, "{}: output {} {} of {} needs {} bytes, above the limit of {}",
           label(), i, dims_str(dims), dtype_name(dtype), bytes, kMaxTensorBytes);
    }
  }
  Value& v = graph_.value(n.outputs[static_cast<size_t>(i)]);
  v.dtype = dtype;
  v.dims = std::move(dims);
  v.has_shape = true;
}

void infer_node(Graph& g, NodeId n) {
  const Node& node = g.nodes.at(static_cast<size_t>(n));
  const std::string label = g.node_label(n);
  if (!node.domain.empty() && node.domain != "ai.onnx") {
    fail(ErrorCode::kUnsupported, "{}: operator domain '{}' is not supported", label, node.domain);
  }
  auto it = infer_table().find(node.op_type);
  if (it == infer_table().end()) {
    fail(ErrorCode::kUnsupported, "{}: operator '{}' is not supported", label, node.op_type);
  }
  if (const OpInfo* op = find_op(node.op_type)) {
    // Inputs fused in for binary post-ops come after the op's own.
    size_t own = node.inputs.size();
    for (const PostOp& po : node.post_ops) {
      if (po.input >= 0) own = std::min(own, static_cast<size_t>(po.input));
    }
    std::vector<bool> in(own), out(node.outputs.size());
    for (size_t i = 0; i < own; ++i) in[i] = node.inputs[i] != kNoValue;
    for (size_t i = 0; i < out.size(); ++i) out[i] = node.outputs[i] != kNoValue;
    check_arity(*op, label, in, out);
  }
  for (ValueId v : node.inputs) {
    if (v == kNoValue) continue;
    const Value& val = g.value(v);
    if (!val.has_shape && !val.is_constant()) {
      fail(ErrorCode::kInvalidModel, "{}: input '{}' has no known shape", label, val.name);
    }
  }
  InferContext ctx(g, n);
  try {
    it->second(ctx);
  } catch (const ShapeNeedsData&) {
    throw;  // labelled by needs_value, and its type tells specialize_shapes to defer
  } catch (const Error& e) {
    rethrow_labelled(e, label);
  }
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    ValueId o = node.outputs[i];
    if (o != kNoValue && !g.value(o).has_shape) {
      fail(ErrorCode::kInternal, "{}: shape function left output {} ('{}') unset", label, i,
           g.value(o).name);
    }
  }
}

// Folds data-dependent node `n`, whose inputs are all constant: the evaluator allocates the
// outputs, whose dims then become the values' dims.
static void fold_data_dependent(Graph& g, NodeId n, const NodeEvaluator& eval) {
  Node& node = g.nodes[static_cast<size_t>(n)];
  std::vector<Tensor> in;
  for (ValueId v : node.inputs) in.push_back(v == kNoValue ? Tensor() : g.value(v).constant);
  std::vector<Tensor> out(node.outputs.size());
  try {
    eval(node, in, out);
  } catch (const Error& e) {
    rethrow_labelled(e, g.node_label(n));
  }
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    if (node.outputs[i] == kNoValue) continue;
    Value& v = g.value(node.outputs[i]);
    if (!out[i].defined()) {
      fail(ErrorCode::kInternal, "{}: output {} was not computed", g.node_label(n), i);
    }
    v.dtype = out[i].dtype();
    v.dims = out[i].dims();
    v.has_shape = true;
    v.constant = std::move(out[i]);
  }
  node.dead = true;
}

bool has_data_dependent_output(const std::string& op_type) {
  return op_type == "NonZero" || op_type == "NonMaxSuppression";
}

std::vector<NodeId> specialize_shapes(Graph& g, const NodeEvaluator& eval,
                                      const SpecializeOptions& opt) {
  for (ValueId id : g.inputs) {
    const Value& v = g.value(id);
    if (v.is_constant()) continue;
    if (!v.has_shape || !dims_fixed(v.dims)) {
      fail(ErrorCode::kInvalidArgument,
           "input '{}' has symbolic dims {}: give it fixed dims before specialising", v.name,
           v.has_shape ? symbolic_dims_str(v) : std::string("(no shape)"));
    }
  }
  std::vector<NodeId> deferred;
  std::vector<bool> deferred_value(g.values.size(), false);
  const auto defer = [&](NodeId n) {
    deferred.push_back(n);
    for (ValueId o : g.nodes[static_cast<size_t>(n)].outputs) {
      if (o == kNoValue) continue;
      deferred_value[static_cast<size_t>(o)] = true;
      g.value(o).has_shape = false;
      g.value(o).dims.clear();
    }
  };
  for (NodeId n : g.live_nodes()) {
    Node& node = g.nodes[static_cast<size_t>(n)];
    bool all_const = true, reads_deferred = false;
    for (ValueId v : node.inputs) {
      if (v == kNoValue) continue;
      if (!g.value(v).is_constant()) all_const = false;
      if (deferred_value[static_cast<size_t>(v)]) reads_deferred = true;
    }
    if (reads_deferred) {  // only when deferring: the producer would have thrown otherwise
      defer(n);
      continue;
    }
    if (all_const && has_data_dependent_output(node.op_type)) {
      fold_data_dependent(g, n, eval);
      continue;
    }
    try {
      infer_node(g, n);
    } catch (const ShapeNeedsData&) {
      if (!opt.defer_data_dependent) throw;
      defer(n);
      continue;
    }
    bool dims_only = node.op_type == "Shape" || node.op_type == "Size";
    if (!all_const && !dims_only) continue;
    bool fits = true;
    for (ValueId o : node.outputs) {
      if (o == kNoValue) continue;
      const Value& v = g.value(o);
      const int64_t bytes =
          checked_mul(num_elements(v.dims), static_cast<int64_t>(dtype_size(v.dtype)));
      if (bytes > kMaxFoldBytes) fits = false;
      if (opt.fold_everything && bytes > kMaxRunTimeValueBytes) {
        fail(ErrorCode::kLimit,
             "{}: output '{}' {} would take {} bytes, above the {} MiB a value computed after the "
             "program may take",
             g.node_label(n), v.name, dims_str(v.dims), bytes, kMaxRunTimeValueBytes >> 20);
      }
    }
    if (!opt.fold_everything && (!fits || fold_work(g, node) > static_cast<double>(kMaxFoldMacs))) {
      continue;
    }
    const std::string label = g.node_label(n);
    if (is_view_op(node.op_type) && node.post_ops.empty()) {
      const Value& in = g.value(node.inputs[0]);
      Value& out = g.value(node.outputs[0]);
      if (in.dtype == out.dtype) {
        out.constant = in.constant.reshaped(out.dims);
        node.dead = true;
        continue;
      }
    }
    std::vector<Tensor> in;
    in.reserve(node.inputs.size());
    for (ValueId v : node.inputs) {
      if (v == kNoValue) {
        in.emplace_back();
      } else if (g.value(v).is_constant()) {
        in.push_back(g.value(v).constant);
      } else {  // Shape/Size read dims only: pass a tensor without data
        in.push_back(Tensor::borrow(g.value(v).dtype, g.value(v).dims, nullptr));
      }
    }
    std::vector<Tensor> out;
    out.reserve(node.outputs.size());
    for (ValueId o : node.outputs) {
      if (o == kNoValue) {
        out.emplace_back();
      } else {
        out.emplace_back(g.value(o).dtype, g.value(o).dims);
      }
    }
    try {
      eval(node, in, out);
    } catch (const Error& e) {
      // A kernel the folding evaluator lacks is not fatal: the node stays for run time.
      if (e.code() == ErrorCode::kUnsupported && !dims_only) continue;
      rethrow_labelled(e, label);
    }
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      if (node.outputs[i] != kNoValue) g.value(node.outputs[i]).constant = std::move(out[i]);
    }
    node.dead = true;
  }
  return deferred;
}

Dims broadcast_dims(const Dims& a, const Dims& b, const std::string& label) {
  size_t r = std::max(a.size(), b.size());
  Dims out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t x = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t y = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (x == y || y == 1) {
      out[i] = x;
    } else if (x == 1) {
      out[i] = y;
    } else if (x < 0 || y < 0) {  // symbolic against a fixed dim > 1: the fixed one wins
      out[i] = x < 0 ? y : x;
    } else {
      fail(ErrorCode::kInvalidModel, "{}: cannot broadcast {} with {}", label, dims_str(a),
           dims_str(b));
    }
  }
  return out;
}

int64_t normalize_axis(int64_t axis, int64_t rank, const std::string& label) {
  if (axis < -rank || axis >= rank) {
    fail(ErrorCode::kInvalidModel, "{}: axis {} is out of range for rank {}", label, axis, rank);
  }
  return axis < 0 ? axis + rank : axis;
}

}  // namespace shoal
