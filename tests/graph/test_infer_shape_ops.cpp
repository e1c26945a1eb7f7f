// Shape functions and reference kernels of the shape / data-movement ops, and specialize_shapes:
// hand-computed expectations on small odd shapes, ONNX opset variants, and errors naming the node.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "backend/reference/reference.h"
#include "core/error.h"
#include "graph/shape_inference.h"

namespace shoal {
namespace {

Tensor f32(Dims d, std::vector<float> v) {
  Tensor t(DType::kF32, std::move(d));
  EXPECT_EQ(static_cast<size_t>(t.numel()), v.size());
  if (!v.empty()) std::memcpy(t.raw(), v.data(), v.size() * sizeof(float));
  return t;
}

Tensor i64(Dims d, std::vector<int64_t> v) {
  Tensor t(DType::kI64, std::move(d));
  EXPECT_EQ(static_cast<size_t>(t.numel()), v.size());
  if (!v.empty()) std::memcpy(t.raw(), v.data(), v.size() * sizeof(int64_t));
  return t;
}

Tensor i64s(const std::vector<int64_t>& v) { return i64({static_cast<int64_t>(v.size())}, v); }

// 0, 1, 2, ... in any numeric dtype.
Tensor iota(Dims d, DType dt = DType::kF32) {
  Tensor t(dt, std::move(d));
  for (int64_t i = 0; i < t.numel(); ++i) t.set_f64(i, static_cast<double>(i % 120));
  return t;
}

std::vector<double> values(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = t.get_f64(i);
  return v;
}


using Attrs = std::map<std::string, Attribute>;

NodeEvaluator evaluator(int opset) {
  return [opset](const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out) {
    reference_eval(n, opset, in, out);
  };
}

// Runs one node on constant inputs through specialize_shapes (shape function + reference kernel
// as the folding evaluator). An undefined Tensor is an omitted optional input.
std::vector<Tensor> run(const std::string& op, std::vector<Tensor> inputs, Attrs attrs = {},
                        int num_outputs = 1, int opset = 17) {
  Graph g;
  g.opset = opset;
  Node n;
  n.name = "n";
  n.op_type = op;
  n.attrs = std::move(attrs);
  for (size_t i = 0; i < inputs.size(); ++i) {
    n.inputs.push_back(inputs[i].defined() ? g.add_constant("in" + std::to_string(i), inputs[i])
                                           : kNoValue);
  }
  for (int i = 0; i < num_outputs; ++i) n.outputs.push_back(g.add_value("out" + std::to_string(i)));
  std::vector<ValueId> outs = n.outputs;
  g.add_node(std::move(n));
  g.outputs = outs;
  specialize_shapes(g, evaluator(opset));
  EXPECT_TRUE(g.nodes[0].dead) << op << " was not folded";
  std::vector<Tensor> r;
  for (ValueId o : outs) {
    EXPECT_EQ(g.value(o).dims, g.value(o).constant.dims());
    r.push_back(g.value(o).constant);
  }
  return r;
}

Tensor run1(const std::string& op, std::vector<Tensor> inputs, Attrs attrs = {}, int opset = 17) {
  return run(op, std::move(inputs), std::move(attrs), 1, opset)[0];
}

// The message of the shoal::Error thrown by f (fails the test when nothing or something else is
// thrown).
template <typename F>
std::string error_of(F&& f, ErrorCode code) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no shoal::Error thrown";
  return "";
}

using V = std::vector<double>;

TEST(ShapeOps, IdentityDropoutConstant) {
  Tensor x = iota({2, 3});
  EXPECT_EQ(values(run1("Identity", {x})), values(x));
  std::vector<Tensor> d = run("Dropout", {x}, {}, 2, 13);
  EXPECT_EQ(values(d[0]), values(x));
  EXPECT_EQ(d[1].dtype(), DType::kBool);
  EXPECT_EQ(values(d[1]), V(6, 1.0));
  Tensor ints = run1("Constant", {}, {{"value_ints", Attribute::make_ints({4, -5})}});
  EXPECT_EQ(ints.dtype(), DType::kI64);
  EXPECT_EQ(ints.dims(), Dims{2});
  EXPECT_EQ(values(ints), (V{4, -5}));
  Tensor fl = run1("Constant", {}, {{"value_float", Attribute::make_float(2.5f)}});
  EXPECT_EQ(fl.dims(), Dims{});
  EXPECT_EQ(values(fl), V{2.5});
  Tensor tv = run1("Constant", {}, {{"value", Attribute::make_tensor(f32({1, 2}, {7, 8}))}});
  EXPECT_EQ(tv.dims(), (Dims{1, 2}));
  EXPECT_EQ(values(tv), (V{7, 8}));
}

TEST(ShapeOps, ConstantOfShapeShapeAndSize) {
  Tensor c = run1("ConstantOfShape", {i64s({2, 3})}, {{"value", Attribute::make_tensor(i64({1}, {7}))}});
  EXPECT_EQ(c.dtype(), DType::kI64);
  EXPECT_EQ(c.dims(), (Dims{2, 3}));
  EXPECT_EQ(values(c), V(6, 7));
  Tensor z = run1("ConstantOfShape", {i64({0}, {})});
  EXPECT_EQ(z.dtype(), DType::kF32);
  EXPECT_EQ(z.dims(), Dims{});
  EXPECT_EQ(values(z), V{0});
  Tensor x(DType::kU8, {2, 3, 4, 5});
  EXPECT_EQ(values(run1("Shape", {x})), (V{2, 3, 4, 5}));
  EXPECT_EQ(values(run1("Shape", {x}, {{"start", Attribute::make_int(1)}, {"end", Attribute::make_int(-1)}}, 15)), (V{3, 4}));
  EXPECT_EQ(values(run1("Shape", {x}, {{"start", Attribute::make_int(-10)}, {"end", Attribute::make_int(99)}}, 15)), (V{2, 3, 4, 5}));
  EXPECT_EQ(run1("Shape", {x}, {{"start", Attribute::make_int(3)}, {"end", Attribute::make_int(1)}}, 15).dims(), Dims{0});
  Tensor size = run1("Size", {x});
  EXPECT_EQ(size.dtype(), DType::kI64);
  EXPECT_EQ(size.dims(), Dims{});
  EXPECT_EQ(values(size), V{120});
  EXPECT_EQ(values(run1("Size", {Tensor(DType::kF32, {})})), V{1});
  EXPECT_EQ(values(run1("Size", {Tensor(DType::kF32, {3, 0})})), V{0});
}

TEST(ShapeOps, Cast) {
  Tensor x = f32({5}, {-1.7f, 2.9f, 0.f, 300.5f, -0.2f});
  EXPECT_EQ(values(run1("Cast", {x}, {{"to", Attribute::make_int(6)}})), (V{-1, 2, 0, 300, 0}));  // int32
  EXPECT_EQ(values(run1("Cast", {x}, {{"to", Attribute::make_int(9)}})), (V{1, 1, 0, 1, 1}));     // bool
  EXPECT_EQ(values(run1("Cast", {x}, {{"to", Attribute::make_int(3)}})), (V{-1, 2, 0, 127, 0}));  // int8 sat.
  Tensor h = run1("Cast", {x}, {{"to", Attribute::make_int(10)}});                                // float16
  EXPECT_EQ(h.dtype(), DType::kF16);
  EXPECT_EQ(values(h), (V{-1.7001953125, 2.900390625, 0, 300.5, -0.199951171875}));
  Tensor b = run1("Cast", {h}, {{"to", Attribute::make_int(16)}});  // float16 -> bfloat16
  EXPECT_EQ(values(b), (V{-1.703125, 2.90625, 0, 300, -0.2001953125}));
  Tensor big = i64s({int64_t{1} << 40, -3, 258});
  EXPECT_EQ(values(run1("Cast", {big}, {{"to", Attribute::make_int(11)}})), (V{1099511627776.0, -3, 258}));
  EXPECT_EQ(values(run1("Cast", {big}, {{"to", Attribute::make_int(2)}})), (V{0, 253, 2}));  // uint8 wraps
  // The vectorised float16 paths agree with the scalar conversions (every float16 bit pattern,
  // and float32 values around every float16 rounding boundary, subnormals and overflow).
  Tensor all16(DType::kF16, {65536});
  for (int64_t i = 0; i < 65536; ++i) all16.data<uint16_t>()[i] = static_cast<uint16_t>(i);
  Tensor wide = run1("Cast", {all16}, {{"to", Attribute::make_int(1)}});
  Tensor probe(DType::kF32, {65536 * 3 + 5});
  for (int64_t i = 0; i < 65536; ++i) {
    const float f = wide.data<float>()[i];
    const float g = f16_to_f32(static_cast<uint16_t>(i));
    if (std::isnan(g)) {
      ASSERT_TRUE(std::isnan(f)) << i;
      continue;
    }
    uint32_t fb, gb;
    std::memcpy(&fb, &f, 4);
    std::memcpy(&gb, &g, 4);
    ASSERT_EQ(fb, gb) << i;
    uint32_t u;
    std::memcpy(&u, &f, 4);
    for (int k = 0; k < 3; ++k) {
      uint32_t v = u + static_cast<uint32_t>(k) * 0x1000u;  // f16 value, halfway, above
      std::memcpy(&probe.data<float>()[i * 3 + k], &v, 4);
    }
  }
  for (int k = 0; k < 5; ++k) probe.data<float>()[65536 * 3 + k] = 65520.f * (k - 2);
  Tensor narrow = run1("Cast", {probe}, {{"to", Attribute::make_int(10)}});
  for (int64_t i = 0; i < probe.numel(); ++i) {
    const float f = probe.data<float>()[i];
    if (std::isnan(f)) continue;
    ASSERT_EQ(narrow.data<uint16_t>()[i], f32_to_f16(f)) << f;
  }
  std::string msg = error_of([&] { run1("Cast", {x}, {{"to", Attribute::make_int(8)}}); }, ErrorCode::kUnsupported);
  EXPECT_NE(msg.find("Cast 'n'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("string"), std::string::npos) << msg;
}

TEST(ShapeOps, ReshapeFlattenSqueezeUnsqueeze) {
  Tensor x = iota({2, 3, 4});
  Tensor r = run1("Reshape", {x, i64s({0, -1})});
  EXPECT_EQ(r.dims(), (Dims{2, 12}));
  EXPECT_EQ(values(r), values(x));
  EXPECT_EQ(run1("Reshape", {x, i64s({-1, 0, 2})}).dims(), (Dims{4, 3, 2}));
  Tensor empty(DType::kF32, {0, 3});
  EXPECT_EQ(run1("Reshape", {empty, i64s({3, 0})}, {{"allowzero", Attribute::make_int(1)}}, 14).dims(),
            (Dims{3, 0}));
  EXPECT_EQ(run1("Reshape", {empty, i64s({-1, 3})}).dims(), (Dims{0, 3}));
  error_of([&] { run1("Reshape", {empty, i64s({3, 0})}, {}, 14); }, ErrorCode::kInvalidModel);
  EXPECT_EQ(run1("Flatten", {x}, {{"axis", Attribute::make_int(-1)}}).dims(), (Dims{6, 4}));
  EXPECT_EQ(run1("Flatten", {x}, {{"axis", Attribute::make_int(0)}}).dims(), (Dims{1, 24}));
  EXPECT_EQ(run1("Flatten", {x}, {{"axis", Attribute::make_int(3)}}).dims(), (Dims{24, 1}));
  Tensor y = iota({1, 3, 1, 2});
  EXPECT_EQ(run1("Squeeze", {y}).dims(), (Dims{3, 2}));
  EXPECT_EQ(run1("Squeeze", {y, i64s({-2})}).dims(), (Dims{1, 3, 2}));
  EXPECT_EQ(run1("Squeeze", {y}, {{"axes", Attribute::make_ints({0})}}, 11).dims(), (Dims{3, 1, 2}));
  EXPECT_EQ(run1("Unsqueeze", {y, i64s({-1, 0})}).dims(), (Dims{1, 1, 3, 1, 2, 1}));
  EXPECT_EQ(run1("Unsqueeze", {iota({3})}, {{"axes", Attribute::make_ints({1})}}, 11).dims(), (Dims{3, 1}));
  EXPECT_EQ(run1("Unsqueeze", {Tensor(DType::kI64, {}), i64s({0})}).dims(), Dims{1});
  std::string msg = error_of([&] { run1("Squeeze", {y, i64s({1})}); }, ErrorCode::kInvalidModel);
  EXPECT_NE(msg.find("Squeeze 'n'"), std::string::npos) << msg;
}

TEST(ShapeOps, ReshapeErrorNamesNode) {
  Graph g;
  g.opset = 17;
  ValueId x = g.add_value("x", DType::kF32);
  g.value(x).dims = {1, 144, 80, 80};
  g.value(x).has_shape = true;
  g.inputs.push_back(x);
  Node n;
  n.name = "model.22/Reshape";
  n.op_type = "Reshape";
  n.inputs = {x, g.add_constant("shape", i64s({1, 64, -1, 7}))};
  n.outputs = {g.add_value("y")};
  g.add_node(n);
  std::string msg =
      error_of([&] { specialize_shapes(g, evaluator(17)); }, ErrorCode::kInvalidModel);
  EXPECT_EQ(msg,
            "Reshape 'model.22/Reshape': cannot reshape [1,144,80,80] (921600 elements) to "
            "[1,64,-1,7]");
}

TEST(ShapeOps, TransposeAnyRank) {
  // 5-D channel shuffle [N, groups, C/groups, H, W] -> swap groups and C/groups.
  Tensor x = iota({1, 2, 3, 2, 2});
  Tensor y = run1("Transpose", {x}, {{"perm", Attribute::make_ints({0, 2, 1, 3, 4})}});
  EXPECT_EQ(y.dims(), (Dims{1, 3, 2, 2, 2}));
  V expect;
  for (int c = 0; c < 3; ++c) {
    for (int g = 0; g < 2; ++g) {
      for (int hw = 0; hw < 4; ++hw) expect.push_back((g * 3 + c) * 4 + hw);
    }
  }
  EXPECT_EQ(values(y), expect);
  // Default perm reverses; 2-D odd shape.
  Tensor m = iota({2, 3});
  Tensor mt = run1("Transpose", {m});
  EXPECT_EQ(mt.dims(), (Dims{3, 2}));
  EXPECT_EQ(values(mt), (V{0, 3, 1, 4, 2, 5}));
}

// Transpose of every dtype size and a tiled (large) case against a naive index computation.
TEST(ShapeOps, TransposeMatchesNaive) {
  struct Case {
    Dims dims;
    std::vector<int64_t> perm;
  };
  for (const Case& cs : {Case{{3, 5, 2, 7, 1}, {4, 2, 0, 3, 1}}, Case{{37, 45}, {1, 0}},
                         Case{{2, 19, 33, 9}, {0, 3, 1, 2}}, Case{{5, 9, 11}, {2, 1, 0}}}) {
    for (DType dt : {DType::kF32, DType::kU8, DType::kI64, DType::kF16}) {
      Tensor x = iota(cs.dims, dt);
      Tensor y = run1("Transpose", {x}, {{"perm", Attribute::make_ints(cs.perm)}});
      const size_t r = cs.dims.size();
      std::vector<int64_t> is(r, 1);
      for (size_t k = r - 1; k > 0; --k) is[k - 1] = is[k] * cs.dims[k];
      std::vector<int64_t> idx(r, 0);
      bool ok = true;
      for (int64_t i = 0; i < y.numel() && ok; ++i) {
        int64_t rem = i;
        int64_t src = 0;
        for (size_t k = r; k-- > 0;) {
          src += (rem % y.dims()[k]) * is[static_cast<size_t>(cs.perm[k])];
          rem /= y.dims()[k];
        }
        ok = y.get_f64(i) == x.get_f64(src);
        EXPECT_TRUE(ok) << dims_str(cs.dims) << " " << dtype_name(dt) << " at " << i;
      }
    }
  }
}

TEST(ShapeOps, ConcatAndSplit) {
  Tensor a = iota({2, 1, 3});
  Tensor b = f32({2, 2, 3}, {10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21});
  Tensor c = run1("Concat", {a, b}, {{"axis", Attribute::make_int(-2)}});
  EXPECT_EQ(c.dims(), (Dims{2, 3, 3}));
  EXPECT_EQ(values(c), (V{0, 1, 2, 10, 11, 12, 13, 14, 15, 3, 4, 5, 16, 17, 18, 19, 20, 21}));
  Tensor e(DType::kF32, {2, 0, 3});
  EXPECT_EQ(values(run1("Concat", {e, a, e}, {{"axis", Attribute::make_int(1)}})), values(a));

  Tensor x = iota({2, 7});
  // opset 18 num_outputs, uneven: ceil(7/3) = 3, 3, 1.
  std::vector<Tensor> s = run("Split", {x}, {{"axis", Attribute::make_int(-1)}, {"num_outputs", Attribute::make_int(3)}}, 3, 18);
  EXPECT_EQ(s[0].dims(), (Dims{2, 3}));
  EXPECT_EQ(s[2].dims(), (Dims{2, 1}));
  EXPECT_EQ(values(s[0]), (V{0, 1, 2, 7, 8, 9}));
  EXPECT_EQ(values(s[1]), (V{3, 4, 5, 10, 11, 12}));
  EXPECT_EQ(values(s[2]), (V{6, 13}));
  // opset 13 split input.
  s = run("Split", {x, i64s({2, 5})}, {{"axis", Attribute::make_int(1)}}, 2, 13);
  EXPECT_EQ(values(s[0]), (V{0, 1, 7, 8}));
  EXPECT_EQ(values(s[1]), (V{2, 3, 4, 5, 6, 9, 10, 11, 12, 13}));
  // opset 11 split attribute; default axis 0, equal split.
  s = run("Split", {x}, {{"axis", Attribute::make_int(1)}, {"split", Attribute::make_ints({6, 1})}}, 2, 11);
  EXPECT_EQ(values(s[1]), (V{6, 13}));
  s = run("Split", {x}, {}, 2, 13);
  EXPECT_EQ(values(s[1]), (V{7, 8, 9, 10, 11, 12, 13}));
  std::string msg = error_of(
      [&] {
        run("Split", {x}, {{"axis", Attribute::make_int(1)}}, 2, 13);
      },
      ErrorCode::kInvalidModel);
  EXPECT_NE(msg.find("Split 'n'"), std::string::npos) << msg;
}

TEST(ShapeOps, Slice) {
  Tensor x = iota({3, 5});
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  // Negative steps on both axes, clamped starts/ends.
  Tensor y = run1("Slice", {x, i64s({-1, 10}), i64s({kMin, 0}), i64s({0, 1}), i64s({-1, -2})});
  EXPECT_EQ(y.dims(), (Dims{3, 2}));
  EXPECT_EQ(values(y), (V{14, 12, 9, 7, 4, 2}));
  // INT_MAX end, negative axis, step 2; axes and steps omitted forms.
  Tensor z = iota({2, 3, 4});
  Tensor w = run1("Slice", {z, i64s({1}), i64s({kMax}), i64s({-1}), i64s({2})});
  EXPECT_EQ(w.dims(), (Dims{2, 3, 2}));
  EXPECT_EQ(values(w), (V{1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23}));
  EXPECT_EQ(values(run1("Slice", {x, i64s({1, -2}), i64s({2, 1000})})), (V{8, 9}));
  EXPECT_EQ(run1("Slice", {x, i64s({2}), i64s({1}), i64s({1})}).dims(), (Dims{3, 0}));
  // Reverse the whole axis: start -1, end INT_MIN, step -1.
  EXPECT_EQ(values(run1("Slice", {iota({4}), i64s({-1}), i64s({kMin}), Tensor(), i64s({-1})})),
            (V{3, 2, 1, 0}));
  // opset 9: attributes.
  Tensor v = run1("Slice", {x}, {{"starts", Attribute::make_ints({1})}, {"ends", Attribute::make_ints({-1})}, {"axes", Attribute::make_ints({1})}}, 9);
  EXPECT_EQ(values(v), (V{1, 2, 3, 6, 7, 8, 11, 12, 13}));
  std::string msg = error_of(
      [&] {
        run1("Slice", {x, i64s({0}), i64s({1}), i64s({0}), i64s({0})});
      },
      ErrorCode::kInvalidModel);
  EXPECT_NE(msg.find("Slice 'n'"), std::string::npos) << msg;
}

TEST(ShapeOps, Gather) {
  Tensor x = iota({3, 4});
  Tensor y = run1("Gather", {x, i64({1, 2}, {-1, 0})}, {{"axis", Attribute::make_int(1)}});
  EXPECT_EQ(y.dims(), (Dims{3, 1, 2}));
  EXPECT_EQ(values(y), (V{3, 0, 7, 4, 11, 8}));
  Tensor idx32(DType::kI32, {});
  idx32.data<int32_t>()[0] = -2;
  Tensor row = run1("Gather", {x, idx32});
  EXPECT_EQ(row.dims(), (Dims{4}));
  EXPECT_EQ(values(row), (V{4, 5, 6, 7}));
  EXPECT_EQ(values(run1("Gather", {i64s({5, 6, 7}), i64({2, 2}, {2, -3, 1, 1})})), (V{7, 5, 6, 6}));
  std::string msg = error_of([&] { run1("Gather", {x, i64s({4})}); }, ErrorCode::kInvalidArgument);
  EXPECT_NE(msg.find("Gather 'n'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("index 4"), std::string::npos) << msg;
}

TEST(ShapeOps, ExpandTileRange) {
  Tensor x = f32({3, 1}, {1, 2, 3});
  Tensor y = run1("Expand", {x, i64s({2, 1, 4})});
  EXPECT_EQ(y.dims(), (Dims{2, 3, 4}));
  V e;
  for (int b = 0; b < 2; ++b) {
    for (int r = 1; r <= 3; ++r) e.insert(e.end(), 4, r);
  }
  EXPECT_EQ(values(y), e);
  EXPECT_EQ(run1("Expand", {x, i64s({1})}).dims(), (Dims{3, 1}));  // shape of lower rank
  std::string msg = error_of([&] { run1("Expand", {x, i64s({2, 3})}); }, ErrorCode::kInvalidModel);
  EXPECT_NE(msg.find("Expand 'n'"), std::string::npos) << msg;

  Tensor t = run1("Tile", {f32({2, 1}, {1, 2}), i64s({2, 3})});
  EXPECT_EQ(t.dims(), (Dims{4, 3}));
  EXPECT_EQ(values(t), (V{1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2}));
  EXPECT_EQ(values(run1("Tile", {iota({1, 3}), i64s({2, 2})})),
            (V{0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2}));

  Tensor r = run1("Range", {f32({}, {1.f}), f32({}, {2.f}), f32({}, {0.3f})});
  EXPECT_EQ(r.dims(), Dims{4});
  V rv = values(r);
  V expect = {1.0, 1.3, 1.6, 1.9};
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(rv[i], expect[i], 1e-6);
  EXPECT_EQ(values(run1("Range", {i64({}, {10}), i64({}, {4}), i64({}, {-3})})), (V{10, 7}));
  EXPECT_EQ(run1("Range", {i64({}, {1}), i64({}, {4}), i64({}, {-1})}).dims(), Dims{0});
}

TEST(ShapeOps, PadModes) {
  Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor pads = i64s({1, 2, 1, 1});
  EXPECT_EQ(values(run1("Pad", {x, pads}, {{"mode", Attribute::make_string("reflect")}})),
            (V{6, 5, 4, 5, 6, 5, 3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5, 3, 2, 1, 2, 3, 2}));
  EXPECT_EQ(values(run1("Pad", {x, pads}, {{"mode", Attribute::make_string("edge")}})),
            (V{1, 1, 1, 2, 3, 3, 1, 1, 1, 2, 3, 3, 4, 4, 4, 5, 6, 6, 4, 4, 4, 5, 6, 6}));
  EXPECT_EQ(values(run1("Pad", {x, pads}, {{"mode", Attribute::make_string("wrap")}}, 19)),
            (V{5, 6, 4, 5, 6, 4, 2, 3, 1, 2, 3, 1, 5, 6, 4, 5, 6, 4, 2, 3, 1, 2, 3, 1}));
  Tensor c = run1("Pad", {x, pads, f32({}, {9})});
  EXPECT_EQ(c.dims(), (Dims{4, 6}));
  EXPECT_EQ(values(c), (V{9, 9, 9, 9, 9, 9, 9, 9, 1, 2, 3, 9, 9, 9, 4, 5, 6, 9, 9, 9, 9, 9, 9, 9}));
  // Negative pads crop.
  EXPECT_EQ(values(run1("Pad", {x, i64s({0, -1, 0, 1})})), (V{2, 3, 0, 5, 6, 0}));
  // opset 18 axes input (negative axis), opset 10 attributes.
  EXPECT_EQ(values(run1("Pad", {x, i64s({1, 1}), Tensor(), i64s({-1})}, {}, 18)),
            (V{0, 1, 2, 3, 0, 0, 4, 5, 6, 0}));
  EXPECT_EQ(values(run1("Pad", {x}, {{"pads", Attribute::make_ints({1, 0, 0, 0})}, {"value", Attribute::make_float(-1)}}, 10)),
            (V{-1, -1, -1, 1, 2, 3, 4, 5, 6}));
  // Integer data, edge padding of a 3-D tensor.
  Tensor xi =
      run1("Pad", {iota({1, 2, 2}, DType::kI64), i64s({0, 1, 0, 0, 0, 1})}, {{"mode", Attribute::make_string("edge")}});
  EXPECT_EQ(xi.dims(), (Dims{1, 3, 3}));
  EXPECT_EQ(values(xi), (V{0, 1, 1, 0, 1, 1, 2, 3, 3}));
}

// The dynamic-YOLO pattern: Shape -> Gather -> Unsqueeze -> Concat -> Reshape folds to constants
// and the Reshape (on a runtime input) gets concrete dims.
TEST(ShapeOps, SpecializeFoldsShapeChain) {
  Graph g;
  g.opset = 17;
  ValueId x = g.add_value("x", DType::kF32);
  g.value(x).dims = {-1, 3, 4, 5};
  g.value(x).dim_params = {"batch", "", "", ""};
  g.value(x).has_shape = true;
  g.inputs.push_back(x);
  auto node = [&](const std::string& op, const std::string& name, std::vector<ValueId> in,
                  Attrs attrs = {}) {
    Node n;
    n.op_type = op;
    n.name = name;
    n.inputs = std::move(in);
    n.attrs = std::move(attrs);
    n.outputs = {g.add_value(name + "_out")};
    ValueId o = n.outputs[0];
    g.add_node(std::move(n));
    return o;
  };
  ValueId shape = node("Shape", "shape", {x});
  ValueId batch =
      node("Gather", "gather", {shape, g.add_constant("zero", i64({}, {0}))}, {{"axis", Attribute::make_int(0)}});
  ValueId b1 = node("Unsqueeze", "unsqueeze", {batch, g.add_constant("axes", i64s({0}))});
  ValueId target =
      node("Concat", "concat", {b1, g.add_constant("minus1", i64s({-1}))}, {{"axis", Attribute::make_int(0)}});
  ValueId y = node("Reshape", "reshape", {x, target});
  g.outputs = {y};

  Graph symbolic = g;
  std::string msg =
      error_of([&] { specialize_shapes(symbolic, evaluator(17)); }, ErrorCode::kInvalidArgument);
  EXPECT_NE(msg.find("'x'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[batch,3,4,5]"), std::string::npos) << msg;

  g.value(x).dims[0] = 2;
  specialize_shapes(g, evaluator(17));
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(g.nodes[static_cast<size_t>(i)].dead) << i;
  EXPECT_FALSE(g.nodes[4].dead);
  EXPECT_EQ(values(g.value(shape).constant), (V{2, 3, 4, 5}));
  EXPECT_EQ(g.value(batch).constant.dims(), Dims{});
  EXPECT_EQ(values(g.value(target).constant), (V{2, -1}));
  EXPECT_EQ(g.value(y).dims, (Dims{2, 60}));
  EXPECT_FALSE(g.value(y).is_constant());

  // Running the live Reshape with the reference kernel.
  Tensor in = iota({2, 3, 4, 5});
  std::vector<Tensor> out = {Tensor(DType::kF32, {2, 60})};
  reference_eval(g.nodes[4], 17, {in, g.value(target).constant}, out);
  EXPECT_EQ(values(out[0]), values(in));
}

// A contraction of constants too large to fold at load time (2.4 G multiply-adds here) stays in
// the graph for run time instead of stalling the load; a small one is folded.
TEST(ShapeOps, SpecializeLeavesLargeContractionsForRunTime) {
  for (const int64_t channels : {int64_t{4}, int64_t{256}}) {
    SCOPED_TRACE(channels);
    Graph g;
    g.opset = 17;
    ValueId x = g.add_constant("x", iota({1, channels, 64, 64}));
    ValueId w = g.add_constant("w", iota({channels, channels, 3, 3}));
    Node n;
    n.op_type = "Conv";
    n.name = "conv";
    n.inputs = {x, w};
    n.attrs = {{"pads", Attribute::make_ints({1, 1, 1, 1})}};
    n.outputs = {g.add_value("y")};
    ValueId y = n.outputs[0];
    g.add_node(std::move(n));
    g.outputs = {y};
    specialize_shapes(g, evaluator(17));
    EXPECT_EQ(g.value(y).dims, (Dims{1, channels, 64, 64}));
    EXPECT_EQ(g.nodes[0].dead, channels == 4);
    EXPECT_EQ(g.value(y).is_constant(), channels == 4);
  }
  // The same for a 1-D max pool with a huge window over a long constant (2^42 window reads) and
  // an Einsum outer product summed to a scalar (2^40 products).
  {
    Graph g;
    g.opset = 17;
    Node n;
    n.op_type = "MaxPool";
    n.name = "pool";
    n.inputs = {g.add_constant("x", iota({1, 1, int64_t{1} << 22}))};
    n.attrs = {{"kernel_shape", Attribute::make_ints({int64_t{1} << 21})}};
    n.outputs = {g.add_value("y")};
    g.add_node(std::move(n));
    g.outputs = {g.nodes[0].outputs[0]};
    specialize_shapes(g, evaluator(17));
    EXPECT_FALSE(g.nodes[0].dead);
  }
  {
    Graph g;
    g.opset = 17;
    Node n;
    n.op_type = "Einsum";
    n.name = "outer";
    n.inputs = {g.add_constant("a", iota({int64_t{1} << 20})),
                g.add_constant("b", iota({int64_t{1} << 20}))};
    n.attrs = {{"equation", Attribute::make_string("i,j->")}};
    n.outputs = {g.add_value("y")};
    g.add_node(std::move(n));
    g.outputs = {g.nodes[0].outputs[0]};
    specialize_shapes(g, evaluator(17));
    EXPECT_FALSE(g.nodes[0].dead);
    EXPECT_EQ(g.value(g.outputs[0]).dims, Dims{});
  }
}

// Einsum beyond the ONNX node tests: implicit output, broadcast ellipsis, YOLO-World's
// contrastive head ("bchw,bkc->bkhw"), and malformed equations.
TEST(ShapeOps, EinsumForms) {
  auto eq = [](const std::string& e) { return Attrs{{"equation", Attribute::make_string(e)}}; };
  // A naive row-major [m, k] by [k, n] product, the expected values.
  auto matmul = [](const Tensor& a, const Tensor& b, int64_t m, int64_t k, int64_t n) {
    std::vector<double> r;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t t = 0; t < k; ++t) acc += a.get_f64(i * k + t) * b.get_f64(t * n + j);
        r.push_back(acc);
      }
    return r;
  };
  Tensor a = iota({3, 4}), b = iota({4, 5});
  for (int64_t i = 0; i < b.numel(); ++i) b.set_f64(i, static_cast<double>(i % 7) - 3.0);
  Tensor ik = run1("Einsum", {a, b}, eq("ij,jk"));  // implicit output: "ik"
  EXPECT_EQ(ik.dims(), (Dims{3, 5}));
  EXPECT_EQ(values(ik), matmul(a, b, 3, 4, 5));
  // "...": a [2,1,3,4] batches broadcast against b [5,4,2]... -> [2,5,3,2].
  Tensor ba = iota({2, 1, 3, 4}), bb = iota({5, 4, 2});
  Tensor y = run1("Einsum", {ba, bb}, eq("...ij,...jk->...ik"));
  EXPECT_EQ(y.dims(), (Dims{2, 5, 3, 2}));
  std::vector<double> want;
  for (int64_t p = 0; p < 2; ++p)
    for (int64_t q = 0; q < 5; ++q) {
      Tensor ap = iota({3, 4});
      for (int64_t i = 0; i < 12; ++i) ap.set_f64(i, ba.get_f64(p * 12 + i));
      Tensor bq = iota({4, 2});
      for (int64_t i = 0; i < 8; ++i) bq.set_f64(i, bb.get_f64(q * 8 + i));
      std::vector<double> r = matmul(ap, bq, 3, 4, 2);
      want.insert(want.end(), r.begin(), r.end());
    }
  EXPECT_EQ(values(y), want);
  // YOLO-World: per image, class embeddings [k, c] times features [c, h*w].
  Tensor feat = iota({1, 6, 2, 3}), emb = iota({1, 4, 6});
  Tensor logits = run1("Einsum", {feat, emb}, eq("bchw,bkc->bkhw"));
  EXPECT_EQ(logits.dims(), (Dims{1, 4, 2, 3}));
  EXPECT_EQ(values(logits), matmul(emb, feat, 4, 6, 6));
  for (const char* bad : {"ij,jk->iq", "ij,j1->i", "ij->ii", "ij,jk,kl->il", "ij,jk->ikk"}) {
    SCOPED_TRACE(bad);
    error_of([&] { run1("Einsum", {a, b}, eq(bad)); }, ErrorCode::kInvalidModel);
  }
  error_of([&] { run1("Einsum", {a, iota({5, 5})}, eq("ij,jk->ik")); }, ErrorCode::kInvalidModel);
  // "..." over a real batch dim must appear in an explicit output.
  error_of([&] { run1("Einsum", {ba, bb}, eq("...ij,...jk->ik")); }, ErrorCode::kInvalidModel);
}

// Extreme values in the new kernels: far-off or NaN GridSample coordinates read zeros, integer
// CumSum and ScatterElements(add) wrap like NumPy, Shrink saturates (no undefined behaviour under
// UBSan).
TEST(ShapeOps, ExtremeValuesStayDefined) {
  Tensor img = iota({1, 1, 3, 3});
  Tensor grid(DType::kF32, {1, 1, 4, 2});
  const float far[] = {1e30f, -1e30f, NAN, 0.f, -1e30f, INFINITY, 0.f, 0.f};
  std::copy(far, far + 8, grid.data<float>());
  for (const char* mode : {"bilinear", "nearest", "bicubic"}) {
    SCOPED_TRACE(mode);
    Tensor y = run1("GridSample", {img, grid}, {{"mode", Attribute::make_string(mode)}}, 16);
    EXPECT_EQ(values(y)[0], 0.0);
    EXPECT_EQ(values(y)[1], 0.0);
    EXPECT_EQ(values(y)[2], 0.0);
    EXPECT_EQ(values(y)[3], 4.0);  // the centre pixel
  }
  Tensor big = i64({3}, {std::numeric_limits<int64_t>::max(), 1, 1});
  EXPECT_EQ(values(run1("CumSum", {big, i64({}, {0})})).at(1),
            static_cast<double>(std::numeric_limits<int64_t>::min()));
  Tensor sc = run1("ScatterElements", {big, i64({1}, {0}), i64({1}, {1})},
                   {{"reduction", Attribute::make_string("add")}}, 18);
  EXPECT_EQ(sc.data<int64_t>()[0], std::numeric_limits<int64_t>::min());
  Tensor sh = run1("Shrink", {i64({2}, {std::numeric_limits<int64_t>::min(), 5})},
                   {{"bias", Attribute::make_float(-1e30f)}, {"lambd", Attribute::make_float(1.f)}});
  EXPECT_EQ(sh.data<int64_t>()[0], std::numeric_limits<int64_t>::min());
  EXPECT_EQ(sh.data<int64_t>()[1], std::numeric_limits<int64_t>::max());
}

TEST(ShapeOps, ErrorsNameTheNode) {
  std::string msg = error_of(
      [&] {
        run1("Transpose", {iota({2, 3})}, {{"perm", Attribute::make_ints({0, 0})}});
      },
      ErrorCode::kInvalidModel);
  EXPECT_EQ(msg.rfind("Transpose 'n': ", 0), 0u) << msg;
  msg = error_of(
      [&] {
        run1("Concat", {iota({2, 3}), iota({3, 3})}, {{"axis", Attribute::make_int(1)}});
      },
      ErrorCode::kInvalidModel);
  EXPECT_EQ(msg.rfind("Concat 'n': ", 0), 0u) << msg;
  msg = error_of([&] { run1("Frobnicate", {iota({2})}); }, ErrorCode::kUnsupported);
  EXPECT_EQ(msg.rfind("Frobnicate 'n': ", 0), 0u) << msg;
  msg = error_of(
      [&] {
        run1("Reshape", {iota({2, 3}), i64s({-1, -1})});
      },
      ErrorCode::kInvalidModel);
  EXPECT_EQ(msg.rfind("Reshape 'n': cannot reshape [2,3] (6 elements) to [-1,-1]", 0), 0u) << msg;
  msg = error_of([&] { run1("Unsqueeze", {iota({2}), i64s({3})}); }, ErrorCode::kInvalidModel);
  EXPECT_EQ(msg.rfind("Unsqueeze 'n': ", 0), 0u) << msg;
  msg = error_of(
      [&] {
        run1("Constant", {}, {{"sparse_value", Attribute::make_tensor(iota({1}))}});
      },
      ErrorCode::kUnsupported);
  EXPECT_NE(msg.find("sparse"), std::string::npos) << msg;
}

TEST(ShapeOps, NonConstantInputsStayLive) {
  Graph g;
  g.opset = 17;
  ValueId x = g.add_value("x", DType::kF32);
  g.value(x).dims = {2, 3};
  g.value(x).has_shape = true;
  g.inputs.push_back(x);
  Node n;
  n.name = "t";
  n.op_type = "Transpose";
  n.inputs = {x};
  n.outputs = {g.add_value("y")};
  g.add_node(n);
  g.outputs = {n.outputs[0]};
  specialize_shapes(g, evaluator(17));
  EXPECT_FALSE(g.nodes[0].dead);
  EXPECT_EQ(g.value(n.outputs[0]).dims, (Dims{3, 2}));
  EXPECT_EQ(g.value(n.outputs[0]).dtype, DType::kF32);
}

TEST(ShapeOps, PostOpsBroadcast) {
  Node n;
  n.name = "fused";
  n.op_type = "Identity";
  n.inputs = {0, 1, 2};
  n.outputs = {3};
  PostOp add;
  add.kind = PostOp::Kind::kAdd;
  add.input = 1;
  PostOp relu;
  relu.kind = PostOp::Kind::kRelu;
  PostOp mul;
  mul.kind = PostOp::Kind::kMul;
  mul.input = 2;
  n.post_ops = {add, relu, mul};
  Tensor x = f32({2, 3}, {-1, 0, 1, 2, 3, -4});
  Tensor b = f32({3}, {0.5f, -0.5f, 1});
  Tensor s = f32({2, 1}, {2, -1});
  std::vector<Tensor> out = {Tensor(DType::kF32, {2, 3})};
  reference_eval(n, 17, {x, b, s}, out);
  // relu(x + b) * s
  EXPECT_EQ(values(out[0]), (V{0, 0, 4, -2.5, -2.5, 0}));
}

}  // namespace
}  // namespace shoal
