// Shape and dtype inference per op (one function per op, listed in ops.def), and the pass that
// specialises a graph to concrete input shapes: infer every value's dims and fold every node whose
// inputs are all constant (Shape of a known tensor included) with a caller-supplied evaluator.
#pragma once

#include <functional>
#include <vector>

#include "core/error.h"
#include "graph/ir.h"

namespace shoal {

// Thrown by a shape function when an output's shape depends on values known only at run time:
// an input that shapes the output (Reshape's shape, Expand's, Slice's starts, TopK's k, ...) is
// not a constant, or the op's output size depends on the data (NonZero, NonMaxSuppression).
// specialize_shapes defers such nodes when asked to (see SpecializeOptions).
class ShapeNeedsData : public Error {
 public:
  explicit ShapeNeedsData(const std::string& message) : Error(ErrorCode::kUnsupported, message) {}
};

// Ops whose output shape depends on their input data, not only on input shapes.
bool has_data_dependent_output(const std::string& op_type);

// What a shape function sees: the node, its input values, constant data where known.
class InferContext {
 public:
  InferContext(Graph& g, NodeId n) : graph_(g), node_id_(n) {}
  const Node& node() const { return graph_.nodes[static_cast<size_t>(node_id_)]; }
  int opset() const { return static_cast<int>(graph_.opset); }
  int num_inputs() const { return node().num_inputs(); }
  bool has_input(int i) const { return node().input(i) != kNoValue; }
  const Value& input(int i) const;  // throws kInvalidModel if absent
  const Dims& dims(int i) const { return input(i).dims; }
  DType dtype(int i) const { return input(i).dtype; }
  // Constant data of input i, or nullptr when it is not known at compile time.
  const Tensor* constant(int i) const;
  // Constant input i as int64 values; throws ShapeNeedsData naming the node if not constant.
  std::vector<int64_t> constant_ints(int i) const;
  // Throws ShapeNeedsData: input i (described by `what`) must be known to infer the outputs.
  [[noreturn]] void needs_value(int i, const std::string& what) const;
  int num_outputs() const { return static_cast<int>(node().outputs.size()); }
  void set_output(int i, DType dtype, Dims dims);
  // "Conv 'name'" for error messages.
  std::string label() const { return graph_.node_label(node_id_); }

 private:
  Graph& graph_;
  NodeId node_id_;
};

// Sets dtype and dims of every output of node n. Throws kInvalidModel / kUnsupported with the
// node name and the offending shapes.
void infer_node(Graph& g, NodeId n);

// Evaluates a node on host tensors: outputs are pre-allocated with inferred dtype/dims.
using NodeEvaluator =
    std::function<void(const Node&, const std::vector<Tensor>& in, std::vector<Tensor>& out)>;

// Largest tensor the folding pass materialises as a constant.
inline constexpr int64_t kMaxFoldBytes = int64_t{64} << 20;
// Largest value folding may compute when everything must fold (SpecializeOptions::fold_everything,
// a data-dependent part at run time): past it, an error (kLimit) instead of an allocation.
inline constexpr int64_t kMaxRunTimeValueBytes = int64_t{256} << 20;
// Most multiply-adds (or pooling window reads) one folded node may take: a contraction or pooling
// past it stays for run time.
inline constexpr int64_t kMaxFoldMacs = int64_t{1} << 26;

struct SpecializeOptions {
  // A node whose output shape needs run-time values (ShapeNeedsData), and every node that reads
  // its outputs, is deferred (returned, left live, its outputs without dims) instead of an error.
  bool defer_data_dependent = false;
  // Fold every node whose inputs are constant, past kMaxFoldBytes and kMaxFoldMacs (evaluating
  // a graph whose inputs are all given, e.g. a deferred part at run time).
  bool fold_everything = false;
};

// Requires every graph input to have fixed dims. Infers all values in topological order; folds
// nodes whose inputs are all constant (and Shape/Size of known dims) into constants with `eval`;
// a data-dependent op (has_data_dependent_output) is folded with empty output tensors that `eval`
// allocates. Folded nodes are marked dead. Throws on the first node whose shape cannot be
// inferred, unless it is deferred: returns the deferred nodes in topological order.
std::vector<NodeId> specialize_shapes(Graph& g, const NodeEvaluator& eval,
                                      const SpecializeOptions& opt = {});

// Per-op shape functions, one per ops.def entry.
#define SHOAL_OP(name, ...) void infer_##name(InferContext& c);
#include "graph/ops.def"
#undef SHOAL_OP

// Shared helpers for shape functions.
// NumPy-style broadcast of two shapes; throws kInvalidModel naming `label` if incompatible.
Dims broadcast_dims(const Dims& a, const Dims& b, const std::string& label);
// Normalises a possibly negative axis against `rank`; throws naming `label` if out of range.
int64_t normalize_axis(int64_t axis, int64_t rank, const std::string& label);

}  // namespace shoal
