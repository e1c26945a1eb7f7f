// The graph IR: values (tensors with dtype/shape, constant data when known), nodes (ONNX ops plus
// fused post-ops), and the graph that owns them. Knows nothing about memory, threads or backends.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace shoal {

using ValueId = int32_t;
using NodeId = int32_t;
inline constexpr ValueId kNoValue = -1;

struct Value {
  std::string name;
  DType dtype = DType::kUndefined;
  // Known dims. A dim < 0 is symbolic (unknown until the input shapes are fixed).
  Dims dims;
  bool has_shape = false;
  // Symbolic dim names for graph inputs/outputs ("batch", "height"), "" when fixed.
  std::vector<std::string> dim_params;
  // Defined for initializers and folded constants.
  Tensor constant;
  NodeId producer = -1;

  bool is_constant() const { return constant.defined(); }
};

struct Attribute {
  enum class Kind { kInt, kFloat, kString, kInts, kFloats, kStrings, kTensor, kGraph };
  Kind kind = Kind::kInt;
  int64_t i = 0;
  float f = 0.f;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::vector<std::string> strings;
  Tensor t;

  static Attribute make_int(int64_t v) {
    Attribute a;
    a.kind = Kind::kInt;
    a.i = v;
    return a;
  }
  static Attribute make_float(float v) {
    Attribute a;
    a.kind = Kind::kFloat;
    a.f = v;
    return a;
  }
  static Attribute make_string(std::string v) {
    Attribute a;
    a.kind = Kind::kString;
    a.s = std::move(v);
    return a;
  }
  static Attribute make_ints(std::vector<int64_t> v) {
    Attribute a;
    a.kind = Kind::kInts;
    a.ints = std::move(v);
    return a;
  }
  static Attribute make_floats(std::vector<float> v) {
    Attribute a;
    a.kind = Kind::kFloats;
    a.floats = std::move(v);
    return a;
  }
  static Attribute make_tensor(Tensor v) {
    Attribute a;
    a.kind = Kind::kTensor;
    a.t = std::move(v);
    return a;
  }
};

// An element-wise operation fused after a node's main computation, applied in order.
// kAdd/kMul read the node input with index `input` (same shape as the output, or broadcastable).
struct PostOp {
  enum class Kind {
    kRelu, kLeakyRelu, kSigmoid, kSilu, kHardSigmoid, kHardSwish, kClip, kTanh, kAdd, kMul,
    kMish, kElu  // after kMul: serialized graphs store the kind's number
  };
  Kind kind = Kind::kRelu;
  float alpha = 0.f;  // LeakyRelu slope, HardSigmoid alpha, Clip min, Elu alpha
  float beta = 0.f;   // HardSigmoid beta, Clip max
  int input = -1;     // for kAdd / kMul: index into Node::inputs
};

const char* post_op_name(PostOp::Kind k);
// Applies one activation post-op to x (not kAdd/kMul).
double apply_activation(const PostOp& p, double x);

struct Node {
  std::string name;
  std::string op_type;  // ONNX op type, e.g. "Conv"
  std::string domain;   // "" for ai.onnx
  std::vector<ValueId> inputs;   // kNoValue for an omitted optional input
  std::vector<ValueId> outputs;  // kNoValue for an omitted optional output
  std::map<std::string, Attribute> attrs;
  std::vector<PostOp> post_ops;  // fused element-wise tail (see PostOp)
  bool dead = false;             // removed by a pass; skipped everywhere

  bool has_attr(const std::string& n) const { return attrs.count(n) != 0; }
  int64_t attr_int(const std::string& n, int64_t def) const;
  float attr_float(const std::string& n, float def) const;
  std::string attr_string(const std::string& n, const std::string& def) const;
  std::vector<int64_t> attr_ints(const std::string& n, std::vector<int64_t> def = {}) const;
  std::vector<float> attr_floats(const std::string& n, std::vector<float> def = {}) const;
  // Number of inputs actually given (trailing omitted ones not counted).
  int num_inputs() const;
  ValueId input(int i) const { return i < static_cast<int>(inputs.size()) ? inputs[i] : kNoValue; }
};

class Graph {
 public:
  std::vector<Value> values;
  std::vector<Node> nodes;  // in a valid topological order after import
  std::vector<ValueId> inputs;   // runtime inputs (initializers excluded)
  std::vector<ValueId> outputs;
  std::map<std::string, std::string> metadata;  // ONNX metadata_props
  int64_t opset = 0;                            // ai.onnx opset version
  std::string producer;

  ValueId add_value(std::string name, DType dtype = DType::kUndefined);
  ValueId add_constant(std::string name, Tensor t);
  NodeId add_node(Node n);  // sets producers of its outputs
  Value& value(ValueId id) { return values.at(static_cast<size_t>(id)); }
  const Value& value(ValueId id) const { return values.at(static_cast<size_t>(id)); }
  std::optional<ValueId> find_value(const std::string& name) const;

  // consumers[v] = live nodes reading value v (a node appears once per input slot).
  std::vector<std::vector<NodeId>> consumers() const;
  bool is_graph_output(ValueId v) const;
  // Live nodes in execution order.
  std::vector<NodeId> live_nodes() const;
  // Replaces every use of `from` (node inputs and graph outputs) by `to`.
  void replace_uses(ValueId from, ValueId to);
  // Re-sorts live nodes topologically; throws kInvalidModel on a cycle or an undefined input.
  void topo_sort();
  // Human-readable "Conv 'name'" for messages.
  std::string node_label(NodeId n) const;
};

// 2 x multiply-adds of a Conv, ConvTranspose, MatMul or Gemm node (0 for other ops, dead nodes
// and values without dims), and their sum over the live nodes: backend-independent work.
double node_flops(const Graph& g, const Node& n);
double graph_flops(const Graph& g);

}  // namespace shoal
