// Graph passes: each fusion fires on its pattern, leaves others alone, keeps output names, and
// the fused graph computes the same as the original (reference backend).
#include <gtest/gtest.h>

#include <limits>
#include <random>

#include "graph/passes.h"
#include "runtime/compiled_model.h"
#include "test_util.h"

namespace shoal {
namespace {

Tensor random_tensor(Dims d, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  Tensor t(DType::kF32, std::move(d));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
  return t;
}

struct Builder {
  Graph g;
  Builder() { g.opset = 17; }
  ValueId input(const std::string& name, Dims d) {
    ValueId v = g.add_value(name, DType::kF32);
    g.value(v).dims = d;
    g.value(v).has_shape = true;
    g.inputs.push_back(v);
    return v;
  }
  ValueId node(const std::string& op, std::vector<ValueId> in, const std::string& out,
               std::map<std::string, Attribute> attrs = {}) {
    ValueId o = g.add_value(out, DType::kF32);
    Node n;
    n.name = out + "_node";
    n.op_type = op;
    n.inputs = std::move(in);
    n.outputs = {o};
    n.attrs = std::move(attrs);
    g.add_node(std::move(n));
    return o;
  }
  ValueId conv(ValueId x, int64_t cin, int64_t cout, const std::string& out, uint32_t seed) {
    ValueId w = g.add_constant(out + "_w", random_tensor({cout, cin, 3, 3}, seed, -0.3f, 0.3f));
    ValueId b = g.add_constant(out + "_b", random_tensor({cout}, seed + 1));
    Attribute pads;
    pads.kind = Attribute::Kind::kInts;
    pads.ints = {1, 1, 1, 1};
    return node("Conv", {x, w, b}, out, {{"pads", pads}});
  }
};

std::vector<Tensor> run_reference(const Graph& g, const Tensor& x, bool optimize_graph) {
  CompileRequest req;
  req.backend = "reference";
  req.optimize_graph = optimize_graph;
  auto cm = CompiledModel::compile(g, req);
  Session s(cm);
  return s.run(std::vector<Tensor>{x});
}

// Runs `graph` on the reference backend unoptimised and optimised (the outputs must agree to
// 1e-6), then applies optimize() to `*g` (a copy of `graph`) and returns what it did.
PassStats optimize_and_match(const Graph& graph, const Tensor& in, Graph* g) {
  auto plain = run_reference(graph, in, false);
  auto fused = run_reference(graph, in, true);
  EXPECT_EQ(plain.size(), graph.outputs.size());
  EXPECT_EQ(fused.size(), plain.size());
  for (size_t i = 0; i < plain.size() && i < fused.size(); ++i) {
    EXPECT_EQ(fused[i].dims(), plain[i].dims());
    Error3 e = compare(fused[i], plain[i]);
    EXPECT_LE(e.norm_rel, 1e-6) << "output " << i << ": " << e.str();
  }
  *g = graph;
  for (ValueId v : g->inputs) g->value(v).has_shape = true;
  return optimize(*g);
}

// Mish as torch writes it before opset 18 (Softplus, Tanh, Mul; either Mul order), the Mish op
// and Elu fuse into their convs and compute what the unfused graph does.
TEST(Passes, MishAndEluFuseAndMatch) {
  Builder b;
  ValueId x = b.input("x", {1, 5, 9, 7});
  ValueId c1 = b.conv(x, 5, 6, "c1", 3);
  ValueId t1 = b.node("Tanh", {b.node("Softplus", {c1}, "sp1")}, "t1");
  ValueId y1 = b.node("Mul", {c1, t1}, "y1");
  ValueId c2 = b.conv(y1, 6, 6, "c2", 1);
  ValueId t2 = b.node("Tanh", {b.node("Softplus", {c2}, "sp2")}, "t2");
  ValueId y2 = b.node("Mul", {t2, c2}, "y2");
  ValueId c3 = b.conv(y2, 6, 4, "c3", 3);
  ValueId y3 = b.node("Mish", {c3}, "y3");
  ValueId c4 = b.conv(y3, 4, 4, "c4", 1);
  b.g.outputs = {b.node("Elu", {c4}, "out", {{"alpha", Attribute::make_float(0.6f)}})};

  Graph g;
  PassStats st = optimize_and_match(b.g, random_tensor({1, 5, 9, 7}, 43, -3.f, 3.f), &g);
  EXPECT_EQ(st["fuse_activations"], 4);
  int live = 0;
  for (const Node& n : g.nodes) {
    if (n.dead) continue;
    ++live;
    ASSERT_EQ(n.post_ops.size(), 1u) << n.name;
    EXPECT_EQ(n.post_ops[0].kind, n.name == "c4_node" ? PostOp::Kind::kElu : PostOp::Kind::kMish);
  }
  EXPECT_EQ(live, 4);  // the four Convs
}

// PRelu with one constant slope is LeakyRelu and fuses into its conv as such; a per-channel
// slope stays a PRelu node (the cpu backend runs it on oneDNN's prelu primitive).
TEST(Passes, ScalarPReluFusesAsLeakyRelu) {
  Builder b;
  ValueId x = b.input("x", {1, 5, 9, 7});
  ValueId c1 = b.conv(x, 5, 6, "c1", 3);
  const Tensor s1 = random_tensor({1}, 7, 0.1f, 0.3f);
  ValueId y1 = b.node("PRelu", {c1, b.g.add_constant("s1", s1)}, "y1");
  ValueId c2 = b.conv(y1, 6, 4, "c2", 1);
  const Tensor s2 = random_tensor({4, 1, 1}, 8, 0.1f, 0.3f);
  b.g.outputs = {b.node("PRelu", {c2, b.g.add_constant("s2", s2)}, "out")};

  Graph g;
  PassStats st = optimize_and_match(b.g, random_tensor({1, 5, 9, 7}, 44, -3.f, 3.f), &g);
  EXPECT_EQ(st["fuse_activations"], 1);
  int prelus = 0;
  for (const Node& n : g.nodes) {
    if (n.dead) continue;
    if (n.op_type == "PRelu") ++prelus;
    if (n.name == "c1_node") {
      ASSERT_EQ(n.post_ops.size(), 1u);
      EXPECT_EQ(n.post_ops[0].kind, PostOp::Kind::kLeakyRelu);
      EXPECT_FLOAT_EQ(n.post_ops[0].alpha, s1.data<float>()[0]);
    }
  }
  EXPECT_EQ(prelus, 1);  // the per-channel one
}

// Two-operand Einsums become Transpose/Reshape/MatMul and compute what the Einsum does:
// YOLO-World's contrastive head, an implicit-output matmul, a batched A·Bᵀ and a permuted output. A
// diagonal and an operand-only sum stay Einsums.
TEST(Passes, EinsumBecomesMatMul) {
  struct Case {
    const char* eq;
    Dims x, w;
    int rewritten;
  };
  const Case cases[] = {{"bchw,bkc->bkhw", {1, 6, 2, 3}, {1, 4, 6}, 1},
                        {"ij,jk", {5, 7}, {7, 3}, 1},
                        {"bij,bkj->bik", {2, 3, 4}, {2, 5, 4}, 1},
                        {"nchw,kc->nhwk", {2, 3, 4, 5}, {6, 3}, 1},
                        {"ii,ij->j", {4, 4}, {4, 3}, 0},
                        {"ij,kl->ik", {2, 3}, {4, 5}, 0}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.eq);
    Builder b;
    ValueId x = b.input("x", c.x);
    ValueId w = b.g.add_constant("w", random_tensor(c.w, 5));
    b.g.outputs = {b.node("Einsum", {x, w}, "y", {{"equation", Attribute::make_string(c.eq)}})};
    Tensor in = random_tensor(c.x, 6);
    Graph g;
    EXPECT_EQ(optimize_and_match(b.g, in, &g)["einsum_to_matmul"], c.rewritten);
    CompileRequest req;  // the rewritten graph on the cpu backend
    req.backend = "cpu";
    Session cpu(CompiledModel::compile(b.g, req));
    Error3 e = compare(cpu.run(std::vector<Tensor>{in})[0], run_reference(b.g, in, false)[0]);
    EXPECT_LE(e.norm_rel, 1e-5) << e.str();
  }
}

TEST(Passes, SiluResidualAndBatchNormFuseAndMatch) {
  Builder b;
  ValueId x = b.input("x", {1, 5, 9, 7});
  ValueId c1 = b.conv(x, 5, 6, "c1", 1);
  ValueId s1 = b.node("Sigmoid", {c1}, "s1");
  ValueId y1 = b.node("Mul", {c1, s1}, "y1");  // SiLU
  ValueId c2 = b.conv(y1, 6, 6, "c2", 3);
  ValueId s2 = b.node("Sigmoid", {c2}, "s2");
  ValueId y2 = b.node("Mul", {s2, c2}, "y2");  // SiLU, operands swapped
  ValueId r = b.node("Add", {y1, y2}, "res");  // residual
  // Conv -> BatchNormalization -> Relu
  ValueId c3 = b.conv(r, 6, 4, "c3", 5);
  ValueId scale = b.g.add_constant("bn_s", random_tensor({4}, 7, 0.5f, 1.5f));
  ValueId bias = b.g.add_constant("bn_b", random_tensor({4}, 8));
  ValueId mean = b.g.add_constant("bn_m", random_tensor({4}, 9));
  ValueId var = b.g.add_constant("bn_v", random_tensor({4}, 10, 0.5f, 2.f));
  ValueId bn = b.node("BatchNormalization", {c3, scale, bias, mean, var}, "bn");
  ValueId out = b.node("Relu", {bn}, "out");
  b.g.outputs = {out};

  Graph g;
  PassStats st = optimize_and_match(b.g, random_tensor({1, 5, 9, 7}, 42), &g);
  EXPECT_EQ(st["fold_batch_norm"], 1);
  EXPECT_EQ(st["fuse_activations"], 3);  // two SiLU + Relu
  EXPECT_EQ(st["fuse_residual_add"], 1);
  int live = 0;
  for (const Node& n : g.nodes) live += n.dead ? 0 : 1;
  EXPECT_EQ(live, 3);  // three Convs
  EXPECT_EQ(g.value(g.outputs[0]).name, "out");
}

ValueId int_constant(Graph& g, const std::string& name, std::vector<int64_t> v) {
  Tensor t(DType::kI64, {static_cast<int64_t>(v.size())});
  for (size_t i = 0; i < v.size(); ++i) t.data<int64_t>()[i] = v[i];
  return g.add_constant(name, std::move(t));
}

// Focus as exporters write it: x[:, :, dh::2, dw::2] per part, as one two-axis Slice or as a
// row Slice (shared between parts, as torch writes YOLOX's) then a column Slice; Concat; Conv.
struct FocusCase {
  const char* name;
  std::vector<std::pair<int, int>> parts;  // (dh, dw) in Concat order
  bool chained;
  int64_t k, stride;
  std::vector<int64_t> pads;
};

class SpaceToDepth : public ::testing::TestWithParam<FocusCase> {};

TEST_P(SpaceToDepth, SlicesFoldIntoTheConvAndComputeTheSame) {
  const FocusCase& fc = GetParam();
  Builder b;
  ValueId x = b.input("x", {2, 3, 12, 10});
  const int64_t end = std::numeric_limits<int64_t>::max();
  std::vector<ValueId> parts;
  std::map<int, ValueId> rows;  // dh -> shared row slice
  for (auto [dh, dw] : fc.parts) {
    const std::string n = fmt::format("p{}{}", dh, dw);
    if (!fc.chained) {
      parts.push_back(
          b.node("Slice",
                 {x, int_constant(b.g, n + "_s", {dh, dw}), int_constant(b.g, n + "_e", {end, end}),
                  int_constant(b.g, n + "_a", {2, 3}), int_constant(b.g, n + "_t", {2, 2})},
                 n));
      continue;
    }
    if (!rows.count(dh)) {
      const std::string r = fmt::format("rows{}", dh);
      rows[dh] = b.node("Slice",
                        {x, int_constant(b.g, r + "_s", {dh}), int_constant(b.g, r + "_e", {end}),
                         int_constant(b.g, r + "_a", {2}), int_constant(b.g, r + "_t", {2})},
                        r);
    }
    parts.push_back(
        b.node("Slice",
               {rows[dh], int_constant(b.g, n + "_s", {dw}), int_constant(b.g, n + "_e", {end}),
                int_constant(b.g, n + "_a", {-1}), int_constant(b.g, n + "_t", {2})},
               n));
  }
  ValueId cat = b.node("Concat", parts, "focus", {{"axis", Attribute::make_int(1)}});
  const int64_t cin = 3 * static_cast<int64_t>(parts.size());
  ValueId w = b.g.add_constant("w", random_tensor({8, cin, fc.k, fc.k}, 5, -0.3f, 0.3f));
  ValueId bias = b.g.add_constant("b", random_tensor({8}, 6));
  ValueId y = b.node("Conv", {cat, w, bias}, "y",
                     {{"pads", Attribute::make_ints(fc.pads)},
                      {"strides", Attribute::make_ints({fc.stride, fc.stride})},
                      {"kernel_shape", Attribute::make_ints({fc.k, fc.k})}});
  ValueId out = b.node("Relu", {y}, "out");
  b.g.outputs = {out};

  Graph g;  // as compiled: shapes specialised, passes run
  CompileRequest req;
  req.backend = "reference";
  auto cm = CompiledModel::compile(b.g, req, &g);
  EXPECT_EQ(cm->pass_stats().at("fold_space_to_depth_conv"), 1);
  for (const Node& n : g.nodes) {
    if (n.dead) continue;
    EXPECT_NE(n.op_type, "Slice");
    EXPECT_NE(n.op_type, "Concat");
    if (n.op_type == "Conv") {
      EXPECT_EQ(n.attr_ints("kernel_shape"), (std::vector<int64_t>{2 * fc.k, 2 * fc.k}));
      EXPECT_EQ(n.attr_ints("strides"), (std::vector<int64_t>{2 * fc.stride, 2 * fc.stride}));
    }
  }
  Tensor in = random_tensor({2, 3, 12, 10}, 11);
  auto plain = run_reference(b.g, in, false);
  auto folded = run_reference(b.g, in, true);
  ASSERT_EQ(folded[0].dims(), plain[0].dims());
  Error3 e = compare(folded[0], plain[0]);
  EXPECT_LE(e.norm_rel, 1e-6) << e.str();
  EXPECT_GT(e.ref_max_abs, 0.0);
}

INSTANTIATE_TEST_SUITE_P(
    Passes, SpaceToDepth,
    ::testing::Values(
        FocusCase{"yolov5_k3", {{0, 0}, {1, 0}, {0, 1}, {1, 1}}, false, 3, 1, {1, 1, 1, 1}},
        FocusCase{"yolox_chained_k3", {{0, 0}, {1, 0}, {0, 1}, {1, 1}}, true, 3, 1, {1, 1, 1, 1}},
        FocusCase{"other_order_k1", {{1, 1}, {0, 0}, {1, 0}, {0, 1}}, true, 1, 1, {0, 0, 0, 0}},
        FocusCase{"k3_stride2_asymmetric_pads",
                  {{0, 0}, {0, 1}, {1, 0}, {1, 1}},
                  false,
                  3,
                  2,
                  {1, 0, 0, 1}},
        FocusCase{"two_parts_k3", {{0, 0}, {1, 1}}, false, 3, 1, {1, 1, 1, 1}}),
    [](const ::testing::TestParamInfo<FocusCase>& i) { return std::string(i.param.name); });

TEST(Passes, SpaceToDepthNeedsStepTwoSlicesOfOneSource) {
  // Rows with step 1 are not a space-to-depth: nothing is folded, the graph still computes.
  Builder b;
  ValueId x = b.input("x", {1, 2, 8, 8});
  const int64_t end = std::numeric_limits<int64_t>::max();
  ValueId a = b.node("Slice",
                     {x, int_constant(b.g, "as", {0, 0}), int_constant(b.g, "ae", {4, end}),
                      int_constant(b.g, "aa", {2, 3}), int_constant(b.g, "at", {1, 2})},
                     "a");
  ValueId c = b.node("Slice",
                     {x, int_constant(b.g, "cs", {4, 1}), int_constant(b.g, "ce", {end, end}),
                      int_constant(b.g, "ca", {2, 3}), int_constant(b.g, "ct", {1, 2})},
                     "c");
  ValueId cat = b.node("Concat", {a, c}, "cat", {{"axis", Attribute::make_int(1)}});
  ValueId y = b.conv(cat, 4, 3, "y", 3);
  b.g.outputs = {y};
  CompileRequest req;
  req.backend = "reference";
  EXPECT_EQ(CompiledModel::compile(b.g, req)->pass_stats().at("fold_space_to_depth_conv"), 0);
  Tensor in = random_tensor({1, 2, 8, 8}, 4);
  Error3 e = compare(run_reference(b.g, in, true)[0], run_reference(b.g, in, false)[0]);
  EXPECT_LE(e.norm_rel, 1e-7) << e.str();
}

TEST(Passes, SharedActivationInputIsNotFused) {
  // c1 is read by the Sigmoid and by a second consumer: fusing would lose c1.
  Builder b;
  ValueId x = b.input("x", {1, 3, 5, 5});
  ValueId c1 = b.conv(x, 3, 4, "c1", 1);
  ValueId s1 = b.node("Sigmoid", {c1}, "s1");
  ValueId y = b.node("Add", {c1, s1}, "y");
  b.g.outputs = {y};
  Graph g = b.g;
  PassStats st = optimize(g);
  EXPECT_EQ(st["fuse_activations"], 0);
  Tensor in = random_tensor({1, 3, 5, 5}, 2);
  Error3 e = compare(run_reference(b.g, in, true)[0], run_reference(b.g, in, false)[0]);
  EXPECT_LE(e.norm_rel, 1e-7) << e.str();
}

TEST(Passes, IdentityBeforeGraphOutputKeepsName) {
  Builder b;
  ValueId x = b.input("x", {1, 2, 4, 4});
  ValueId c = b.conv(x, 2, 2, "c", 1);
  ValueId o = b.node("Identity", {c}, "output0");
  b.g.outputs = {o};
  Graph g = b.g;
  EXPECT_EQ(elide_identities(g), 1);
  EXPECT_EQ(g.value(g.outputs[0]).name, "output0");
  EXPECT_EQ(g.nodes[static_cast<size_t>(g.value(g.outputs[0]).producer)].op_type, "Conv");
}

// Dropout is elided in inference mode only; training-mode dropout with a ratio that is not a
// constant 0 is random, not a pass-through (the kernels refuse it instead of copying).
TEST(Passes, OnlyInferenceDropoutIsElided) {
  auto scalar = [](DType t, double v) {
    Tensor s(t, {});
    s.set_f64(0, v);
    return s;
  };
  auto elided = [&](bool with_training, double training, bool const_ratio, double ratio) {
    Builder b;
    ValueId x = b.input("x", {2, 3});
    ValueId r =
        const_ratio ? b.g.add_constant("ratio", scalar(DType::kF32, ratio)) : b.input("ratio", {});
    std::vector<ValueId> in = {x, r};
    if (with_training) in.push_back(b.g.add_constant("training", scalar(DType::kBool, training)));
    ValueId d = b.node("Dropout", in, "d");
    b.g.outputs = {b.node("Relu", {d}, "y")};
    return elide_identities(b.g) == 1;
  };
  EXPECT_TRUE(elided(false, 0, false, 0));
  EXPECT_TRUE(elided(true, 0, false, 0));
  EXPECT_TRUE(elided(true, 1, true, 0));
  EXPECT_FALSE(elided(true, 1, true, 0.5));
  EXPECT_FALSE(elided(true, 1, false, 0));
}

// A float16 graph as onnxconverter-common writes it with keep_io_types (a float32 input cast to
// float16) and as half exporters write it (a float16 input): constants and internal values become
// float32, the Casts to float16 become no-op Casts, the float16 I/O keeps its type and name.
TEST(Passes, Float16GraphComputesInFloat32) {
  Builder b;
  ValueId x = b.input("x", {1, 4});
  b.g.value(x).dtype = DType::kF16;
  ValueId y = b.input("y", {1, 4});
  ValueId y16 = b.node("Cast", {y}, "y16", {{"to", Attribute::make_int(10)}});
  b.g.value(y16).dtype = DType::kF16;
  ValueId c = b.g.add_constant("c", cast_tensor(random_tensor({1, 4}, 7), DType::kF16));
  ValueId s = b.node("Add", {x, c}, "s");
  b.g.value(s).dtype = DType::kF16;
  ValueId out = b.node("Mul", {s, y16}, "out");
  b.g.value(out).dtype = DType::kF16;
  b.g.outputs = {out, s};
  EXPECT_GT(float16_to_float32(b.g), 0);
  const Graph& g = b.g;
  EXPECT_EQ(g.value(g.inputs[0]).dtype, DType::kF16);
  EXPECT_EQ(g.value(g.inputs[1]).dtype, DType::kF32);
  ASSERT_EQ(g.outputs.size(), 2u);
  EXPECT_EQ(g.value(g.outputs[0]).name, "out");
  EXPECT_EQ(g.value(g.outputs[0]).dtype, DType::kF16);
  EXPECT_EQ(g.value(g.outputs[1]).name, "s");
  EXPECT_EQ(g.value(g.outputs[1]).dtype, DType::kF16);
  EXPECT_EQ(g.value(*g.find_value("c")).constant.dtype(), DType::kF32);
  int casts_to_f16 = 0;
  for (NodeId n : g.live_nodes()) {
    const Node& node = g.nodes[static_cast<size_t>(n)];
    if (node.op_type != "Cast") continue;
    if (node.attr_int("to", 0) == 10) {
      ++casts_to_f16;
      EXPECT_TRUE(g.is_graph_output(node.outputs[0])) << node.name;
    }
    for (ValueId v : node.inputs) {
      if (!g.is_graph_output(node.outputs[0]) && g.value(v).dtype != DType::kF16) {
        EXPECT_EQ(g.value(node.outputs[0]).dtype, DType::kF32) << node.name;
      }
    }
  }
  EXPECT_EQ(casts_to_f16, 2);  // one per float16 output, none inside

  Tensor xv = cast_tensor(random_tensor({1, 4}, 1), DType::kF16);
  Tensor yv = random_tensor({1, 4}, 2);
  CompileRequest req;
  req.backend = "reference";
  auto run = [&](const Graph& graph) {
    Session sess(CompiledModel::compile(graph, req));
    return sess.run(std::vector<Tensor>{xv, yv});
  };
  auto got = run(g);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].dtype(), DType::kF16);
  // s = x + c and out = s * float16(y), computed in float32, each rounded once to float16.
  for (int64_t i = 0; i < 4; ++i) {
    const double sv = xv.get_f64(i) + b.g.value(*b.g.find_value("c")).constant.get_f64(i);
    EXPECT_NEAR(got[1].get_f64(i), sv, 2e-3 * std::abs(sv) + 1e-6);
    const double ov = sv * f16_to_f32(f32_to_f16(yv.data<float>()[i]));
    EXPECT_NEAR(got[0].get_f64(i), ov, 2e-3 * std::abs(ov) + 1e-6);
  }
}

}  // namespace
}  // namespace shoal
