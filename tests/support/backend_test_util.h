// Helpers shared by the backend tests (test_backend_ops.cpp, test_cpu_backend.cpp): a builder of
// small graphs with inferred shapes, a simple Program runner that poisons every buffer with NaNs,
// and random non-zero inputs.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "graph/shape_inference.h"

namespace shoal {

using Attrs = std::map<std::string, Attribute>;

// Builds a small graph with inferred shapes.
class Builder {
 public:
  explicit Builder(uint32_t seed) : rng_(seed) { g_.opset = 17; }
  Graph& graph() { return g_; }
  std::mt19937& rng() { return rng_; }

  // Uniform in [lo, hi], nudged away from exact zeros.
  Tensor random(const Dims& d, float lo = -1.f, float hi = 1.f) {
    Tensor t(DType::kF32, d);
    std::uniform_real_distribution<float> u(lo, hi);
    for (int64_t i = 0; i < t.numel(); ++i) {
      float v = u(rng_);
      if (v == 0.f) v = 1e-3f;
      t.data<float>()[i] = v;
    }
    return t;
  }

  ValueId input(const Dims& d) {
    ValueId v = g_.add_value(fmt::format("in{}", g_.inputs.size()), DType::kF32);
    g_.value(v).dims = d;
    g_.value(v).has_shape = true;
    g_.inputs.push_back(v);
    return v;
  }
  ValueId constant(Tensor t) { return g_.add_constant(fmt::format("c{}", g_.values.size()), t); }
  ValueId constant(const Dims& d, float lo = -1.f, float hi = 1.f) {
    return constant(random(d, lo, hi));
  }
  ValueId ints(const std::vector<int64_t>& v) {
    Tensor t(DType::kI64, {static_cast<int64_t>(v.size())});
    for (size_t i = 0; i < v.size(); ++i) t.data<int64_t>()[i] = v[i];
    return constant(t);
  }
  ValueId floats(const std::vector<float>& v) {
    Tensor t(DType::kF32, {static_cast<int64_t>(v.size())});
    for (size_t i = 0; i < v.size(); ++i) t.data<float>()[i] = v[i];
    return constant(t);
  }

  // Adds a node; shape inference runs on `in`, then `extra` inputs (post-op operands) are appended.
  std::vector<ValueId> node(const std::string& type, std::vector<ValueId> in, Attrs attrs = {},
                            int outputs = 1, std::vector<PostOp> post = {},
                            std::vector<ValueId> extra = {}) {
    Node n;
    n.name = fmt::format("{}_{}", type, g_.nodes.size());
    n.op_type = type;
    n.inputs = std::move(in);
    n.attrs = std::move(attrs);
    for (int i = 0; i < outputs; ++i) {
      n.outputs.push_back(g_.add_value(fmt::format("{}_out{}", n.name, i)));
    }
    NodeId id = g_.add_node(std::move(n));
    infer_node(g_, id);
    Node& added = g_.nodes[static_cast<size_t>(id)];
    for (ValueId e : extra) added.inputs.push_back(e);
    added.post_ops = std::move(post);
    return added.outputs;
  }
  ValueId op(const std::string& type, std::vector<ValueId> in, Attrs attrs = {},
             std::vector<PostOp> post = {}, std::vector<ValueId> extra = {}) {
    return node(type, std::move(in), std::move(attrs), 1, std::move(post), std::move(extra))[0];
  }

  // Conv with random weights scaled by 1/sqrt(fan_in) and a random bias in [-bias_range, +].
  ValueId conv(ValueId x, int64_t oc, int64_t k, Attrs attrs = {}, std::vector<PostOp> post = {},
               std::vector<ValueId> extra = {}, bool bias = true, float bias_range = 0.3f) {
    const Dims xd = g_.value(x).dims;
    int64_t group = attrs.count("group") ? attrs["group"].i : 1;
    Dims wd = {oc, xd[1] / group};
    for (size_t i = 2; i < xd.size(); ++i) wd.push_back(k);
    float s = 1.f / std::sqrt(static_cast<float>(num_elements(wd) / oc));
    ValueId w = constant(wd, -s, s);
    std::vector<ValueId> in = {x, w};
    if (bias) in.push_back(constant({oc}, -bias_range, bias_range));
    if (!attrs.count("kernel_shape"))
      attrs["kernel_shape"] = Attribute::make_ints(Dims(xd.size() - 2, k));
    return op("Conv", in, attrs, std::move(post), std::move(extra));
  }
  // 1x1 conv + SiLU: the "sandwich" bread that makes its neighbours nChw16c.
  ValueId bread(ValueId x, int64_t oc) { return conv(x, oc, 1, {}, {silu()}); }

  void output(ValueId v) { g_.outputs.push_back(v); }

  static PostOp silu() { return act(PostOp::Kind::kSilu); }
  static PostOp act(PostOp::Kind k, float a = 0.f, float b = 0.f) {
    PostOp p;
    p.kind = k;
    p.alpha = a;
    p.beta = b;
    return p;
  }
  static PostOp binary(PostOp::Kind k, int input) {
    PostOp p;
    p.kind = k;
    p.input = input;
    return p;
  }

 private:
  Graph g_;
  std::mt19937 rng_;
};

// Runs a Program the simple way: each root value in its own buffer (poisoned with NaNs), views
// bound into their roots, constants from the program, steps in order.
class ProgramRunner {
 public:
  explicit ProgramRunner(const Program& p) : p_(p) {}

  // Structural invariants every backend's Program must keep.
  void validate() const {
    const size_t nv = p_.values.size();
    std::vector<int> writes(nv, 0);
    for (size_t v = 0; v < nv; ++v) {
      const ProgramValue& pv = p_.values[v];
      if (pv.alias_of >= 0) {
        ASSERT_LT(static_cast<size_t>(pv.alias_of), nv);
        const ProgramValue& root = p_.values[static_cast<size_t>(pv.alias_of)];
        EXPECT_EQ(root.alias_of, -1) << pv.name << ": alias_of must name a root";
        EXPECT_LE(pv.alias_offset + pv.bytes, root.bytes) << pv.name << " overruns " << root.name;
        EXPECT_FALSE(root.constant.defined()) << pv.name << " views a constant";
      }
    }
    std::set<int> inputs(p_.inputs.begin(), p_.inputs.end());
    for (int v : p_.inputs) {
      EXPECT_EQ(p_.values[static_cast<size_t>(v)].alias_of, -1);
      EXPECT_EQ(p_.values[static_cast<size_t>(v)].layout, "plain");
    }
    for (int v : p_.outputs) {
      EXPECT_EQ(p_.values[static_cast<size_t>(v)].alias_of, -1) << "graph output is a view";
      EXPECT_EQ(p_.values[static_cast<size_t>(v)].layout, "plain");
    }
    auto root_of = [&](int v) {
      int a = p_.values[static_cast<size_t>(v)].alias_of;
      return a >= 0 ? a : v;
    };
    for (const Step& s : p_.steps) {
      EXPECT_TRUE(s.kernel) << s.label;
      for (int o : s.outputs) {
        if (o < 0) continue;
        ++writes[static_cast<size_t>(o)];
        EXPECT_EQ(inputs.count(root_of(o)), 0u) << s.label << " writes into a graph input";
        EXPECT_FALSE(p_.values[static_cast<size_t>(o)].constant.defined()) << s.label;
      }
    }
    for (size_t v = 0; v < nv; ++v)
      EXPECT_LE(writes[v], 1) << p_.values[v].name << " written twice";
  }

  std::vector<Tensor> run(const std::vector<Tensor>& inputs) {
    const size_t nv = p_.values.size();
    std::vector<char*> ptr(nv, nullptr);
    for (size_t v = 0; v < nv; ++v) {
      const ProgramValue& pv = p_.values[v];
      if (pv.constant.defined()) {
        ptr[v] = static_cast<char*>(const_cast<void*>(pv.constant.raw()));
      } else if (pv.alias_of < 0) {
        ptr[v] = alloc(pv.bytes);
      }
    }
    for (size_t v = 0; v < nv; ++v) {
      const ProgramValue& pv = p_.values[v];
      if (pv.alias_of >= 0) ptr[v] = ptr[static_cast<size_t>(pv.alias_of)] + pv.alias_offset;
    }
    for (size_t i = 0; i < inputs.size(); ++i) {
      std::memcpy(ptr[static_cast<size_t>(p_.inputs[i])], inputs[i].raw(), inputs[i].nbytes());
    }
    size_t scratch_bytes = 0;
    for (const Step& s : p_.steps) scratch_bytes = std::max(scratch_bytes, s.scratch_bytes);
    char* scratch = alloc(scratch_bytes);
    for (const Step& s : p_.steps) {
      std::vector<const void*> in;
      std::vector<void*> out;
      for (int v : s.inputs) in.push_back(v < 0 ? nullptr : ptr[static_cast<size_t>(v)]);
      for (int v : s.outputs) out.push_back(v < 0 ? nullptr : ptr[static_cast<size_t>(v)]);
      KernelIO io{in, out, scratch};
      s.kernel->run(io);
    }
    std::vector<Tensor> outs;
    for (int v : p_.outputs) {
      const ProgramValue& pv = p_.values[static_cast<size_t>(v)];
      Tensor t(pv.dtype, pv.dims);
      std::memcpy(t.raw(), ptr[static_cast<size_t>(v)], t.nbytes());
      outs.push_back(t);
    }
    return outs;
  }

 private:
  char* alloc(size_t bytes) {
    size_t n = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
    std::shared_ptr<void> b(std::aligned_alloc(64, n), std::free);
    std::memset(b.get(), 0xff, n);  // NaN everywhere: reading unwritten memory shows
    buffers_.push_back(b);
    return static_cast<char*>(b.get());
  }

  const Program& p_;
  std::vector<std::shared_ptr<void>> buffers_;
};

// Uniform floats in [lo, hi] for every graph input, nudged away from exact zeros (fixed seed).
inline std::vector<Tensor> random_inputs(const Graph& g, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<Tensor> in;
  for (ValueId v : g.inputs) {
    Tensor t(DType::kF32, g.value(v).dims);
    for (int64_t i = 0; i < t.numel(); ++i) {
      float x = u(rng);
      t.data<float>()[i] = x == 0.f ? 1e-3f : x;
    }
    in.push_back(t);
  }
  return in;
}

}  // namespace shoal
