// float16_to_float32: a half-precision model (fp16 weights, fp16 inputs and outputs, as
// Ultralytics' `half=True` and onnxconverter-common write them) computed in float32. Float16
// constants become float32, every internal float16 value becomes float32, Casts to float16
// become Casts to float32 (then no-ops that elide_identities removes), and the graph's float16
// inputs and outputs keep their type and names behind one Cast each at the boundary.
#include <set>
#include <string>

#include "graph/passes.h"

namespace shoal {
namespace {

constexpr int64_t kOnnxFloat = 1;
constexpr int64_t kOnnxFloat16 = 10;

ValueId add_f32_twin(Graph& g, ValueId v) {
  std::string name = g.value(v).name + "/float32";
  while (g.find_value(name)) name += "_";
  ValueId t = g.add_value(name, DType::kF32);
  Value& tv = g.value(t);
  const Value& src = g.value(v);
  tv.dims = src.dims;
  tv.has_shape = src.has_shape;
  return t;
}

// Points the live nodes that read `from` at `to` (graph outputs keep `from`).
void redirect_node_inputs(Graph& g, ValueId from, ValueId to) {
  for (Node& n : g.nodes) {
    if (n.dead) continue;
    for (ValueId& x : n.inputs) {
      if (x == from) x = to;
    }
  }
}

Node make_cast(const std::string& name, ValueId in, ValueId out, int64_t to) {
  Node c;
  c.name = name;
  c.op_type = "Cast";
  c.inputs = {in};
  c.outputs = {out};
  c.attrs["to"] = Attribute::make_int(to);
  return c;
}

void tensor_attr_to_f32(Node& n, const char* attr) {
  auto it = n.attrs.find(attr);
  if (it != n.attrs.end() && it->second.kind == Attribute::Kind::kTensor &&
      it->second.t.defined() && it->second.t.dtype() == DType::kF16) {
    it->second.t = cast_tensor(it->second.t, DType::kF32);
  }
}

}  // namespace

int float16_to_float32(Graph& g) {
  std::set<ValueId> boundary;
  for (ValueId v : g.inputs) {
    if (g.value(v).dtype == DType::kF16) boundary.insert(v);
  }
  for (ValueId v : g.outputs) {
    if (g.value(v).dtype == DType::kF16) boundary.insert(v);
  }
  int changed = 0;
  for (Node& n : g.nodes) {
    if (n.dead || !n.domain.empty()) continue;
    if (n.op_type == "Cast" && n.attr_int("to", 0) == kOnnxFloat16) {
      n.attrs["to"] = Attribute::make_int(kOnnxFloat);
      ++changed;
    }
    if (n.op_type == "Constant" || n.op_type == "ConstantOfShape") tensor_attr_to_f32(n, "value");
  }
  for (size_t i = 0; i < g.values.size(); ++i) {
    Value& v = g.values[i];
    if (v.dtype != DType::kF16 || boundary.count(static_cast<ValueId>(i))) continue;
    v.dtype = DType::kF32;
    if (v.is_constant()) v.constant = cast_tensor(v.constant, DType::kF32);
    ++changed;
  }
  const std::set<ValueId> inputs(g.inputs.begin(), g.inputs.end());
  for (ValueId in : std::vector<ValueId>(g.inputs)) {
    if (!boundary.count(in)) continue;
    const ValueId f32 = add_f32_twin(g, in);
    redirect_node_inputs(g, in, f32);
    g.add_node(make_cast(g.value(in).name + "/to_float32", in, f32, kOnnxFloat));
    ++changed;
  }
  std::set<ValueId> done;
  for (ValueId out : std::vector<ValueId>(g.outputs)) {
    if (!boundary.count(out) || inputs.count(out) || !done.insert(out).second) continue;
    const NodeId p = g.value(out).producer;
    if (p < 0) continue;
    const ValueId f32 = add_f32_twin(g, out);
    redirect_node_inputs(g, out, f32);
    for (ValueId& o : g.nodes[static_cast<size_t>(p)].outputs) {
      if (o == out) o = f32;
    }
    g.value(f32).producer = p;
    g.add_node(make_cast(g.value(out).name + "/to_float16", f32, out, kOnnxFloat16));
    ++changed;
  }
  if (changed) g.topo_sort();
  return changed;
}

}  // namespace shoal
