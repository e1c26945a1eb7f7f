#include "graph/ir.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace shoal {

const char* post_op_name(PostOp::Kind k) {
  switch (k) {
    case PostOp::Kind::kRelu: return "relu";
    case PostOp::Kind::kLeakyRelu: return "leaky_relu";
    case PostOp::Kind::kSigmoid: return "sigmoid";
    case PostOp::Kind::kSilu: return "silu";
    case PostOp::Kind::kHardSigmoid: return "hard_sigmoid";
    case PostOp::Kind::kHardSwish: return "hard_swish";
    case PostOp::Kind::kClip: return "clip";
    case PostOp::Kind::kTanh: return "tanh";
    case PostOp::Kind::kAdd: return "add";
    case PostOp::Kind::kMul: return "mul";
    case PostOp::Kind::kMish: return "mish";
    case PostOp::Kind::kElu: return "elu";
  }
  return "?";
}

double apply_activation(const PostOp& p, double x) {
  switch (p.kind) {
    case PostOp::Kind::kRelu: return x > 0 ? x : 0;
    case PostOp::Kind::kLeakyRelu: return x >= 0 ? x : x * p.alpha;
    case PostOp::Kind::kSigmoid: return 1.0 / (1.0 + std::exp(-x));
    case PostOp::Kind::kSilu: return x / (1.0 + std::exp(-x));
    case PostOp::Kind::kHardSigmoid:
      return std::max(0.0, std::min(1.0, static_cast<double>(p.alpha) * x + p.beta));
    case PostOp::Kind::kHardSwish: return x * std::max(0.0, std::min(1.0, x / 6.0 + 0.5));
    case PostOp::Kind::kClip:
      return std::min(static_cast<double>(p.beta), std::max(static_cast<double>(p.alpha), x));
    case PostOp::Kind::kTanh: return std::tanh(x);
    case PostOp::Kind::kMish: {
      const double softplus = x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
      return x * std::tanh(softplus);
    }
    case PostOp::Kind::kElu: return x < 0 ? p.alpha * std::expm1(x) : x;
    case PostOp::Kind::kAdd:
    case PostOp::Kind::kMul: break;
  }
  fail(ErrorCode::kInternal, "apply_activation on a binary post-op");
}

int64_t Node::attr_int(const std::string& n, int64_t def) const {
  auto it = attrs.find(n);
  if (it == attrs.end()) return def;
  if (it->second.kind != Attribute::Kind::kInt) {
    fail(ErrorCode::kInvalidModel, "{} '{}': attribute '{}' must be an int", op_type, name, n);
  }
  return it->second.i;
}

float Node::attr_float(const std::string& n, float def) const {
  auto it = attrs.find(n);
  if (it == attrs.end()) return def;
  if (it->second.kind == Attribute::Kind::kInt) return static_cast<float>(it->second.i);
  if (it->second.kind != Attribute::Kind::kFloat) {
    fail(ErrorCode::kInvalidModel, "{} '{}': attribute '{}' must be a float", op_type, name, n);
  }
  return it->second.f;
}

std::string Node::attr_string(const std::string& n, const std::string& def) const {
  auto it = attrs.find(n);
  if (it == attrs.end()) return def;
  if (it->second.kind != Attribute::Kind::kString) {
    fail(ErrorCode::kInvalidModel, "{} '{}': attribute '{}' must be a string", op_type, name, n);
  }
  return it->second.s;
}

std::vector<int64_t> Node::attr_ints(const std::string& n, std::vector<int64_t> def) const {
  auto it = attrs.find(n);
  if (it == attrs.end()) return def;
  if (it->second.kind == Attribute::Kind::kInt) return {it->second.i};
  if (it->second.kind != Attribute::Kind::kInts) {
    fail(ErrorCode::kInvalidModel, "{} '{}': attribute '{}' must be a list of ints", op_type, name,
         n);
  }
  return it->second.ints;
}

std::vector<float> Node::attr_floats(const std::string& n, std::vector<float> def) const {
  auto it = attrs.find(n);
  if (it == attrs.end()) return def;
  if (it->second.kind == Attribute::Kind::kFloat) return {it->second.f};
  if (it->second.kind != Attribute::Kind::kFloats) {
    fail(ErrorCode::kInvalidModel, "{} '{}': attribute '{}' must be a list of floats", op_type,
         name, n);
  }
  return it->second.floats;
}

int Node::num_inputs() const {
  int n = static_cast<int>(inputs.size());
  while (n > 0 && inputs[static_cast<size_t>(n - 1)] == kNoValue) --n;
  return n;
}

ValueId Graph::add_value(std::string name, DType dtype) {
  Value v;
  v.name = std::move(name);
  v.dtype = dtype;
  values.push_back(std::move(v));
  return static_cast<ValueId>(values.size() - 1);
}

ValueId Graph::add_constant(std::string name, Tensor t) {
  ValueId id = add_value(std::move(name), t.dtype());
  Value& v = value(id);
  v.dims = t.dims();
  v.has_shape = true;
  v.constant = std::move(t);
  return id;
}

NodeId Graph::add_node(Node n) {
  NodeId id = static_cast<NodeId>(nodes.size());
  for (ValueId o : n.outputs) {
    if (o != kNoValue) value(o).producer = id;
  }
  nodes.push_back(std::move(n));
  return id;
}

std::optional<ValueId> Graph::find_value(const std::string& name) const {
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i].name == name) return static_cast<ValueId>(i);
  }
  return std::nullopt;
}

std::vector<std::vector<NodeId>> Graph::consumers() const {
  std::vector<std::vector<NodeId>> c(values.size());
  for (size_t n = 0; n < nodes.size(); ++n) {
    if (nodes[n].dead) continue;
    for (ValueId v : nodes[n].inputs) {
      if (v != kNoValue) c[static_cast<size_t>(v)].push_back(static_cast<NodeId>(n));
    }
  }
  return c;
}

bool Graph::is_graph_output(ValueId v) const {
  return std::find(outputs.begin(), outputs.end(), v) != outputs.end();
}

std::vector<NodeId> Graph::live_nodes() const {
  std::vector<NodeId> r;
  for (size_t n = 0; n < nodes.size(); ++n) {
    if (!nodes[n].dead) r.push_back(static_cast<NodeId>(n));
  }
  return r;
}

void Graph::replace_uses(ValueId from, ValueId to) {
  for (Node& n : nodes) {
    if (n.dead) continue;
    for (ValueId& v : n.inputs) {
      if (v == from) v = to;
    }
  }
  for (ValueId& v : outputs) {
    if (v == from) v = to;
  }
}

void Graph::topo_sort() {
  std::vector<int> indeg(nodes.size(), 0);
  std::vector<std::vector<NodeId>> users(nodes.size());
  for (size_t n = 0; n < nodes.size(); ++n) {
    if (nodes[n].dead) continue;
    for (ValueId v : nodes[n].inputs) {
      if (v == kNoValue) continue;
      NodeId p = value(v).producer;
      if (p >= 0 && !nodes[static_cast<size_t>(p)].dead) {
        ++indeg[n];
        users[static_cast<size_t>(p)].push_back(static_cast<NodeId>(n));
      } else if (!value(v).is_constant() &&
                 std::find(inputs.begin(), inputs.end(), v) == inputs.end()) {
        fail(ErrorCode::kInvalidModel, "{}: input '{}' is neither a graph input, an initializer "
             "nor produced by any node", node_label(static_cast<NodeId>(n)), value(v).name);
      }
    }
  }
  // Stable Kahn: keep the original order where possible.
  std::vector<NodeId> order;
  std::vector<NodeId> ready;
  for (size_t n = 0; n < nodes.size(); ++n) {
    if (!nodes[n].dead && indeg[n] == 0) ready.push_back(static_cast<NodeId>(n));
  }
  std::make_heap(ready.begin(), ready.end(), std::greater<>());
  while (!ready.empty()) {
    std::pop_heap(ready.begin(), ready.end(), std::greater<>());
    NodeId n = ready.back();
    ready.pop_back();
    order.push_back(n);
    for (NodeId u : users[static_cast<size_t>(n)]) {
      if (--indeg[static_cast<size_t>(u)] == 0) {
        ready.push_back(u);
        std::push_heap(ready.begin(), ready.end(), std::greater<>());
      }
    }
  }
  size_t live = 0;
  for (const Node& n : nodes) live += n.dead ? 0 : 1;
  if (order.size() != live) fail(ErrorCode::kInvalidModel, "the graph has a cycle");
  std::vector<Node> sorted;
  sorted.reserve(nodes.size());
  for (NodeId n : order) sorted.push_back(std::move(nodes[static_cast<size_t>(n)]));
  nodes = std::move(sorted);
  for (Value& v : values) v.producer = -1;
  for (size_t n = 0; n < nodes.size(); ++n) {
    for (ValueId o : nodes[n].outputs) {
      if (o != kNoValue) value(o).producer = static_cast<NodeId>(n);
    }
  }
}

std::string Graph::node_label(NodeId n) const {
  const Node& node = nodes.at(static_cast<size_t>(n));
  return node.op_type + " '" + node.name + "'";
}

double node_flops(const Graph& g, const Node& n) {
  if (n.dead || n.outputs.empty() || n.outputs[0] == kNoValue || n.num_inputs() < 2) return 0;
  if (n.inputs[0] == kNoValue || n.inputs[1] == kNoValue) return 0;
  const Dims& out = g.value(n.outputs[0]).dims;
  const Dims& w = g.value(n.inputs[1]).dims;
  const double out_elems = static_cast<double>(num_elements(out));
  if (n.op_type == "Conv" && w.size() >= 2) {
    double k = 1;
    for (size_t i = 1; i < w.size(); ++i) k *= static_cast<double>(w[i]);
    return 2.0 * out_elems * k;
  }
  if (n.op_type == "ConvTranspose" && w.size() >= 2) {
    const Dims& in = g.value(n.inputs[0]).dims;
    double k = 1;
    for (size_t i = 1; i < w.size(); ++i) k *= static_cast<double>(w[i]);
    return 2.0 * static_cast<double>(num_elements(in)) * k;
  }
  if (n.op_type == "MatMul") {
    const Dims& a = g.value(n.inputs[0]).dims;
    return a.empty() ? 0 : 2.0 * out_elems * static_cast<double>(a.back());
  }
  if (n.op_type == "Gemm") {
    const Dims& a = g.value(n.inputs[0]).dims;
    if (a.size() == 2) {
      return 2.0 * out_elems * static_cast<double>(n.attr_int("transA", 0) ? a[0] : a[1]);
    }
  }
  return 0;
}

double graph_flops(const Graph& g) {
  double total = 0;
  for (NodeId id : g.live_nodes()) total += node_flops(g, g.nodes[static_cast<size_t>(id)]);
  return total;
}

}  // namespace shoal
