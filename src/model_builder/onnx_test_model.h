// ONNX models written with the protobuf API, for tests, benchmarks, fuzz seeds and the built-in
// models of builder.h: TestModel (a ModelProto under construction) and NetBuilder, which adds
// layers with seeded random weights the way different exporters write them (initializers,
// initializers also listed as graph inputs, or Constant nodes). Knows ONNX and the importer only.
#pragma once

#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "onnx/import.h"

namespace shoal {

// A tensor named `name` ("" = unnamed, as in a Constant node's attribute) with its values in the
// typed field (float_data, int64_data) or, for raw_tensor, in raw_data as exporters write weights.
inline onnx::TensorProto float_tensor(const std::string& name, const std::vector<int64_t>& dims,
                                      const std::vector<float>& v) {
  onnx::TensorProto t;
  if (!name.empty()) t.set_name(name);
  t.set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t.add_dims(d);
  for (float x : v) t.add_float_data(x);
  return t;
}
inline onnx::TensorProto int64_tensor(const std::string& name, const std::vector<int64_t>& dims,
                                      const std::vector<int64_t>& v) {
  onnx::TensorProto t;
  if (!name.empty()) t.set_name(name);
  t.set_data_type(onnx::TensorProto::INT64);
  for (int64_t d : dims) t.add_dims(d);
  for (int64_t x : v) t.add_int64_data(x);
  return t;
}
inline onnx::TensorProto raw_tensor(const std::string& name, int32_t dtype,
                                    const std::vector<int64_t>& dims, const void* data,
                                    size_t nbytes) {
  onnx::TensorProto t;
  if (!name.empty()) t.set_name(name);
  t.set_data_type(dtype);
  for (int64_t d : dims) t.add_dims(d);
  t.set_raw_data(std::string(static_cast<const char*>(data), nbytes));
  return t;
}

// A TENSOR attribute (defined with the other attribute kinds below).
inline void set_attr(onnx::NodeProto* n, const std::string& name, onnx::TensorProto v);

// A minimal ModelProto: one opset import, IR version 8 unless told. Empty names (graph, node)
// are left unset, as some exporters leave them.
struct TestModel {
  onnx::ModelProto m;
  onnx::GraphProto* g;

  explicit TestModel(int64_t opset = 17, int64_t ir_version = 8,
                     const std::string& producer = "shoal-test",
                     const std::string& graph_name = "test") {
    m.set_ir_version(ir_version);
    m.set_producer_name(producer);
    auto* op = m.add_opset_import();
    op->set_domain("");
    op->set_version(opset);
    g = m.mutable_graph();
    if (!graph_name.empty()) g->set_name(graph_name);
  }
  // A graph input; dims[i] is symbolic when params[i] is not empty.
  onnx::ValueInfoProto* input(const std::string& name, int32_t dtype, std::vector<int64_t> dims,
                              std::vector<std::string> params = {}) {
    return value_info(g->add_input(), name, dtype, dims, params);
  }
  // A graph output of type float with no shape.
  void output(const std::string& name) {
    auto* vi = g->add_output();
    vi->set_name(name);
    vi->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  }
  // A graph output with a shape, as input() writes it.
  onnx::ValueInfoProto* output(const std::string& name, int32_t dtype, std::vector<int64_t> dims,
                               std::vector<std::string> params = {}) {
    return value_info(g->add_output(), name, dtype, dims, params);
  }
  onnx::NodeProto* node(const std::string& op, const std::string& name, std::vector<std::string> in,
                        std::vector<std::string> out) {
    auto* n = g->add_node();
    n->set_op_type(op);
    if (!name.empty()) n->set_name(name);
    for (auto& s : in) n->add_input(s);
    for (auto& s : out) n->add_output(s);
    return n;
  }
  onnx::TensorProto* float_init(const std::string& name, std::vector<int64_t> dims,
                                std::vector<float> v) {
    return initializer(float_tensor(name, dims, v));
  }
  // An INT8/UINT8/INT32 initializer with its values in int32_data (as quantization tools write
  // zero points, quantized weights and int32 biases); returns its name.
  std::string int_init(const std::string& name, int32_t type, std::vector<int64_t> dims,
                       const std::vector<int>& v) {
    onnx::TensorProto t;
    t.set_name(name);
    t.set_data_type(type);
    for (int64_t d : dims) t.add_dims(d);
    for (int e : v) t.add_int32_data(e);
    return initializer(std::move(t))->name();
  }
  onnx::TensorProto* initializer(onnx::TensorProto t) {
    auto* p = g->add_initializer();
    *p = std::move(t);
    return p;
  }
  // A Constant node `node_name` whose output `out` is `value`.
  onnx::NodeProto* constant(const std::string& node_name, const std::string& out,
                            onnx::TensorProto value) {
    onnx::NodeProto* n = node("Constant", node_name, {}, {out});
    set_attr(n, "value", std::move(value));
    return n;
  }
  void metadata(const std::string& key, const std::string& value) {
    auto* p = m.add_metadata_props();
    p->set_key(key);
    p->set_value(value);
  }
  std::string bytes() const {
    std::string b;
    if (!m.SerializeToString(&b)) {
      fail(ErrorCode::kInternal, "the built ONNX model could not be serialized");
    }
    return b;
  }
  Graph import(const std::string& base = "") const {
    std::string b = bytes();
    return import_onnx_bytes(b.data(), b.size(), base);
  }

 private:
  static onnx::ValueInfoProto* value_info(onnx::ValueInfoProto* vi, const std::string& name,
                                          int32_t dtype, const std::vector<int64_t>& dims,
                                          const std::vector<std::string>& params) {
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(dtype);
    auto* shape = tt->mutable_shape();
    for (size_t i = 0; i < dims.size(); ++i) {
      auto* d = shape->add_dim();
      if (i < params.size() && !params[i].empty()) {
        d->set_dim_param(params[i]);
      } else {
        d->set_dim_value(dims[i]);
      }
    }
    return vi;
  }
};

inline void set_attr(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
inline void set_attr(onnx::NodeProto* n, const std::string& name, float v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}
inline void set_attr(onnx::NodeProto* n, const std::string& name, const std::string& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}
inline void set_attr(onnx::NodeProto* n, const std::string& name, std::vector<int64_t> v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}
inline void set_attr(onnx::NodeProto* n, const std::string& name, onnx::TensorProto v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::TENSOR);
  *a->mutable_t() = std::move(v);
}

// How an exporter stores weights.
enum class WeightStyle {
  kInitializer,          // graph initializers (current exporters)
  kInitializerAndInput,  // initializers also listed as graph inputs (torch
                         // keep_initializers_as_inputs)
  kConstantNode,         // Constant nodes (some converters, TF-ONNX)
};

// Adds layers to a TestModel. Every layer's values get unique names; weights are uniform with
// He-like scale so activations stay O(1) through a few dozen layers.
class NetBuilder {
 public:
  NetBuilder(TestModel& t, WeightStyle style, uint32_t seed) : t_(t), style_(style), rng_(seed) {}

  std::string name(const std::string& prefix) { return prefix + "_" + std::to_string(count_++); }

  std::vector<float> uniform(size_t n, float lo, float hi) {
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (float& x : v) x = d(rng_);
    return v;
  }

  // A float constant stored the way style_ says.
  std::string floats(const std::string& prefix, std::vector<int64_t> dims, std::vector<float> v) {
    std::string n = name(prefix);
    store(n, raw_tensor(n, onnx::TensorProto::FLOAT, dims, v.data(), v.size() * sizeof(float)),
          onnx::TensorProto::FLOAT, dims);
    return n;
  }
  // An int64 constant (shapes, axes, Slice bounds), always an initializer or Constant node.
  std::string ints(const std::string& prefix, std::vector<int64_t> v) {
    std::string n = name(prefix);
    const std::vector<int64_t> dims = {static_cast<int64_t>(v.size())};
    store(n, int64_tensor(n, dims, v), onnx::TensorProto::INT64, dims);
    return n;
  }

  // One node with a fresh output name.
  std::string op(const std::string& type, std::vector<std::string> in,
                 onnx::NodeProto** node = nullptr) {
    std::string out = name(type);
    onnx::NodeProto* n = t_.node(type, out + "_node", std::move(in), {out});
    if (node) *node = n;
    return out;
  }

  std::string conv(const std::string& x, int cin, int cout, int k, int stride = 1, int group = 1,
                   bool bias = true) {
    const float a = std::sqrt(3.f / static_cast<float>(cin / group * k * k));
    std::string w = floats("w", {cout, cin / group, k, k},
                           uniform(static_cast<size_t>(cout * (cin / group) * k * k), -a, a));
    std::vector<std::string> in = {x, w};
    if (bias) in.push_back(floats("b", {cout}, uniform(static_cast<size_t>(cout), -0.2f, 0.2f)));
    onnx::NodeProto* n;
    std::string y = op("Conv", in, &n);
    set_attr(n, "kernel_shape", std::vector<int64_t>{k, k});
    set_attr(n, "strides", std::vector<int64_t>{stride, stride});
    set_attr(n, "pads", std::vector<int64_t>{k / 2, k / 2, k / 2, k / 2});
    if (group != 1) set_attr(n, "group", static_cast<int64_t>(group));
    return y;
  }
  std::string batchnorm(const std::string& x, int c) {
    const size_t n = static_cast<size_t>(c);
    std::string scale = floats("bn_scale", {c}, uniform(n, 0.5f, 1.5f));
    std::string shift = floats("bn_bias", {c}, uniform(n, -0.3f, 0.3f));
    std::string mean = floats("bn_mean", {c}, uniform(n, -0.3f, 0.3f));
    std::string var = floats("bn_var", {c}, uniform(n, 0.5f, 2.f));
    onnx::NodeProto* node;
    std::string y = op("BatchNormalization", {x, scale, shift, mean, var}, &node);
    set_attr(node, "epsilon", 1e-3f);
    return y;
  }

 private:
  void store(const std::string& n, onnx::TensorProto tp, int32_t dtype,
             const std::vector<int64_t>& dims) {
    if (style_ == WeightStyle::kConstantNode) {
      t_.constant(n + "_const", n, std::move(tp));
      return;
    }
    t_.initializer(std::move(tp));
    if (style_ == WeightStyle::kInitializerAndInput) t_.input(n, dtype, dims);
  }

  TestModel& t_;
  WeightStyle style_;
  std::mt19937 rng_;
  int count_ = 0;
};

}  // namespace shoal
