// The cpu backend's lowering of one specialised graph into a Program: the state the compile
// driver (cpu_backend.cpp: classify, layouts, step order) shares with the data-movement ops it
// lowers itself instead of through a kernel row of cpu_ops.def: views (reshape.cpp: Reshape,
// Flatten, Squeeze, Unsqueeze, Identity, Dropout), Concat (concat.cpp), Split (split.cpp) and
// Slice (slice.cpp), which become aliases into other values' buffers or strided copies. Kernel
// builders do not include it.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_ops.h"
#include "graph/ir.h"

namespace shoal::cpu {

enum class NodeKind : uint8_t { kView, kConcat, kSplit, kSlice, kNative, kGeneric };

// How one node is lowered (classify's decision).
struct NodePlan {
  NodeKind kind = NodeKind::kGeneric;
  const NativeOp* op = nullptr;
  LayoutClass layout_class = LayoutClass::kPlain;
  bool blocked_ok = false;  // kUniform: may run channel-blocked
  int axis = 0;             // Concat/Split/Slice
  int64_t slice_start = 0;  // Slice: first element on `axis`
  std::string why;          // kGeneric: why not native
};

// Classification of the data-movement ops. Each returns true when the node is its op (a view,
// Concat, Split or Slice without fused post-ops) and fills `pl`: its kind, or kGeneric with the
// reason it cannot be lowered so (`c` without layouts).
bool plan_view(const Graph& g, const OpContext& c, NodePlan& pl);  // reshape.cpp
bool plan_concat(const OpContext& c, NodePlan& pl);                // concat.cpp
bool plan_split(const OpContext& c, NodePlan& pl);                 // split.cpp
bool plan_slice(const OpContext& c, NodePlan& pl);                 // slice.cpp

// The product of d[from:to] (checked).
int64_t dims_product(const Dims& d, size_t from, size_t to);

class Lowering {
 public:
  Lowering(const Graph& g, const CompileOptions& o) : g_(g), opts_(o) {}
  Program run();

 private:
  OpContext context(NodeId n, bool with_layouts) const;
  void classify();
  void assign_layouts();
  Layout required_layout(NodeId n, int slot) const;
  bool carrying_slot(NodeId n, int slot) const;

  int new_value(const std::string& name, DType t, const Dims& d, Layout l);
  int value_for(ValueId v, Layout l);  // emits a reorder on first use of a variant
  void emit(NodeId n);
  void emit_step(NodeId n, const OpContext& c, KernelBuild kb, const std::vector<int>& out_pvs);
  void emit_view(NodeId n, const OpContext& c);    // reshape.cpp
  void emit_concat(NodeId n, const OpContext& c);  // concat.cpp
  // Split, and Slice as a one-piece Split (split.cpp).
  void emit_split(NodeId n, const OpContext& c);
  std::pair<int, size_t> root(int pv) const;
  bool fixed(int pv) const { return fixed_[static_cast<size_t>(pv)]; }
  void finish();

  const Graph& g_;
  CompileOptions opts_;
  double graph_flops_ = 0;
  std::vector<NodeId> order_;
  std::vector<std::vector<NodeId>> consumers_;
  std::vector<NodePlan> plan_;  // per node id
  std::vector<Layout> layout_;  // per graph value
  std::vector<bool> graph_io_;  // per graph value: graph input or output
  Program p_;
  std::vector<int> pv_;  // graph value -> program value in layout_[v]
  std::map<std::pair<ValueId, Layout>, int> variant_;
  std::vector<int> parent_;  // per program value: the value it is stored in, or -1
  std::vector<size_t> parent_offset_;
  std::vector<bool> fixed_;  // graph I/O or constant: never placed inside another value
};

}  // namespace shoal::cpu
