// Reference kernels and shape functions of the compute ops (conv, pooling, normalisation,
// resampling, matrix products, softmax, element-wise, reductions) on small odd shapes:
// hand-computed expectations, plus Conv/ConvTranspose checked against a naive N-D loop on random
// data over strides, pads, dilations and groups. Each case is a one-node graph: shape inference
// (infer_node) sizes the outputs, reference_eval computes them.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "backend/reference/reference.h"
#include "core/error.h"
#include "graph/shape_inference.h"

namespace shoal {
namespace {

using Attrs = std::map<std::string, Attribute>;


Tensor T(Dims dims, std::vector<double> v, DType t = DType::kF32) {
  Tensor r(t, std::move(dims));
  EXPECT_EQ(r.numel(), static_cast<int64_t>(v.size()));
  for (int64_t i = 0; i < r.numel(); ++i) r.set_f64(i, v[static_cast<size_t>(i)]);
  return r;
}

Tensor I64(Dims dims, std::vector<int64_t> v) {
  Tensor r(DType::kI64, std::move(dims));
  for (int64_t i = 0; i < r.numel(); ++i) r.data<int64_t>()[i] = v[static_cast<size_t>(i)];
  return r;
}

Tensor B(Dims dims, std::vector<int> v) {
  Tensor r(DType::kBool, std::move(dims));
  for (int64_t i = 0; i < r.numel(); ++i) r.data<uint8_t>()[i] = v[static_cast<size_t>(i)] != 0;
  return r;
}

Tensor random_tensor(Dims dims, std::mt19937& rng) {
  Tensor r(DType::kF32, std::move(dims));
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (int64_t i = 0; i < r.numel(); ++i) r.data<float>()[i] = u(rng);
  return r;
}

std::vector<double> values(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = t.get_f64(i);
  return v;
}

std::vector<int64_t> ivalues(const Tensor& t) {
  std::vector<int64_t> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = t.get_i64(i);
  return v;
}

// Runs `op` as a one-node graph whose inputs are constants (an undefined Tensor = omitted input):
// shape inference sizes the outputs, reference_eval fills them.
std::vector<Tensor> run_op(const std::string& op, const std::vector<Tensor>& inputs,
                           const Attrs& attrs = {}, int opset = 17, int num_outputs = 1) {
  Graph g;
  g.opset = opset;
  Node n;
  n.name = "node";
  n.op_type = op;
  n.attrs = attrs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    n.inputs.push_back(inputs[i].defined() ? g.add_constant("in" + std::to_string(i), inputs[i])
                                           : kNoValue);
  }
  for (int i = 0; i < num_outputs; ++i) n.outputs.push_back(g.add_value("out" + std::to_string(i)));
  NodeId id = g.add_node(n);
  infer_node(g, id);
  std::vector<Tensor> out;
  for (ValueId v : g.nodes[0].outputs) out.emplace_back(g.value(v).dtype, g.value(v).dims);
  reference_eval(g.nodes[0], opset, inputs, out);
  return out;
}

void expect_near(const std::vector<double>& got, const std::vector<double>& want,
                 double tol = 1e-5) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << "at " << i;
    } else {
      EXPECT_NEAR(got[i], want[i], tol * std::max(1.0, std::fabs(want[i]))) << "at " << i;
    }
  }
}

// Expects `f` to throw shoal::Error with `code` and a message containing `text`.
void expect_error(const std::function<void()>& f, ErrorCode code, const std::string& text) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing: " << text;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
}

// ------------------------------------------------------------------------------------------
// Naive N-D oracles for Conv and ConvTranspose (explicit pads).

struct ConvCase {
  Dims x;  // [N, C, spatial...]
  int64_t m;
  std::vector<int64_t> k, s, d, pads, out_pad;
  int64_t group;
};

// Row-major offset of a multi-index.
int64_t offset(const Dims& dims, const std::vector<int64_t>& idx) {
  int64_t o = 0;
  for (size_t i = 0; i < dims.size(); ++i) o = o * dims[i] + idx[i];
  return o;
}

// Advances an odometer over `dims`; false when it wraps to all zeros.
bool next_index(std::vector<int64_t>& idx, const Dims& dims) {
  for (size_t i = idx.size(); i-- > 0;) {
    if (++idx[i] < dims[i]) return true;
    idx[i] = 0;
  }
  return false;
}

Tensor naive_conv(const ConvCase& c, const Tensor& x, const Tensor& w, const Tensor& b) {
  const size_t sp = c.k.size();
  Dims out = {c.x[0], c.m};
  for (size_t i = 0; i < sp; ++i) {
    int64_t dk = (c.k[i] - 1) * c.d[i] + 1;
    out.push_back((c.x[2 + i] + c.pads[i] + c.pads[sp + i] - dk) / c.s[i] + 1);
  }
  Tensor y(DType::kF32, out);
  const int64_t cg = c.x[1] / c.group, mg = c.m / c.group;
  Dims osp(out.begin() + 2, out.end());
  for (int64_t n = 0; n < c.x[0]; ++n) {
    for (int64_t m = 0; m < c.m; ++m) {
      std::vector<int64_t> o(sp, 0);
      do {
        double acc = b.get_f64(m);
        for (int64_t ci = 0; ci < cg; ++ci) {
          std::vector<int64_t> k(sp, 0);
          do {
            std::vector<int64_t> xi = {n, (m / mg) * cg + ci};
            bool inside = true;
            for (size_t j = 0; j < sp; ++j) {
              int64_t p = o[j] * c.s[j] - c.pads[j] + k[j] * c.d[j];
              inside &= p >= 0 && p < c.x[2 + j];
              xi.push_back(p);
            }
            if (!inside) continue;
            std::vector<int64_t> wi = {m, ci};
            wi.insert(wi.end(), k.begin(), k.end());
            acc += x.get_f64(offset(x.dims(), xi)) * w.get_f64(offset(w.dims(), wi));
          } while (next_index(k, c.k));
        }
        std::vector<int64_t> yi = {n, m};
        yi.insert(yi.end(), o.begin(), o.end());
        y.set_f64(offset(out, yi), acc);
      } while (next_index(o, osp));
    }
  }
  return y;
}

Tensor naive_conv_transpose(const ConvCase& c, const Tensor& x, const Tensor& w, const Tensor& b) {
  const size_t sp = c.k.size();
  Dims out = {c.x[0], c.m};
  for (size_t i = 0; i < sp; ++i) {
    out.push_back(c.s[i] * (c.x[2 + i] - 1) + c.out_pad[i] + (c.k[i] - 1) * c.d[i] + 1 - c.pads[i] -
                  c.pads[sp + i]);
  }
  std::vector<double> acc(static_cast<size_t>(num_elements(out)));
  const int64_t cg = c.x[1] / c.group, mg = c.m / c.group;
  const int64_t plane = num_elements(Dims(out.begin() + 2, out.end()));
  for (int64_t n = 0; n < c.x[0]; ++n) {
    for (int64_t m = 0; m < c.m; ++m) {
      for (int64_t i = 0; i < plane; ++i)
        acc[static_cast<size_t>((n * c.m + m) * plane + i)] = b.get_f64(m);
    }
  }
  Dims isp(c.x.begin() + 2, c.x.end());
  for (int64_t n = 0; n < c.x[0]; ++n) {
    for (int64_t ic = 0; ic < c.x[1]; ++ic) {
      std::vector<int64_t> i(sp, 0);
      do {
        std::vector<int64_t> xi = {n, ic};
        xi.insert(xi.end(), i.begin(), i.end());
        const double xv = x.get_f64(offset(x.dims(), xi));
        for (int64_t mm = 0; mm < mg; ++mm) {
          std::vector<int64_t> k(sp, 0);
          do {
            std::vector<int64_t> yi = {n, (ic / cg) * mg + mm};
            bool inside = true;
            for (size_t j = 0; j < sp; ++j) {
              int64_t p = i[j] * c.s[j] - c.pads[j] + k[j] * c.d[j];
              inside &= p >= 0 && p < out[2 + j];
              yi.push_back(p);
            }
            if (!inside) continue;
            std::vector<int64_t> wi = {ic, mm};
            wi.insert(wi.end(), k.begin(), k.end());
            acc[static_cast<size_t>(offset(out, yi))] += xv * w.get_f64(offset(w.dims(), wi));
          } while (next_index(k, c.k));
        }
      } while (next_index(i, isp));
    }
  }
  Tensor y(DType::kF32, out);
  for (int64_t e = 0; e < y.numel(); ++e) y.set_f64(e, acc[static_cast<size_t>(e)]);
  return y;
}

Attrs conv_attrs(const ConvCase& c) {
  Attrs a = {{"strides", Attribute::make_ints(c.s)},
             {"dilations", Attribute::make_ints(c.d)},
             {"pads", Attribute::make_ints(c.pads)},
             {"group", Attribute::make_int(c.group)},
             {"kernel_shape", Attribute::make_ints(c.k)}};
  if (!c.out_pad.empty()) a["output_padding"] = Attribute::make_ints(c.out_pad);
  return a;
}

// ------------------------------------------------------------------------------------------
// Convolution

TEST(ReferenceConv, HandComputed2x2Kernel) {
  Tensor x = T({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Tensor w = T({1, 1, 2, 2}, {1, 0, 0, -1});
  Tensor b = T({1}, {10});
  auto y = run_op("Conv", {x, w, b});
  EXPECT_EQ(y[0].dims(), (Dims{1, 1, 2, 2}));
  expect_near(values(y[0]), {6, 6, 6, 6});  // x[i][j] - x[i+1][j+1] + 10
}

TEST(ReferenceConv, StridePadDilationGroupMatchNaive) {
  std::mt19937 rng(7);
  const std::vector<ConvCase> cases = {
      {{1, 3, 7, 9}, 5, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, {}, 1},
      {{2, 6, 11, 8}, 4, {3, 2}, {2, 3}, {1, 2}, {1, 0, 2, 1}, {}, 2},  // groups of 2 outputs
      {{1, 6, 9, 9}, 6, {3, 3}, {2, 2}, {2, 2}, {2, 2, 2, 2}, {}, 6},   // depthwise
      {{1, 9, 6, 7}, 15, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}, {}, 3},  // 5 outputs per group
      {{1, 4, 5, 13}, 7, {5, 3}, {1, 2}, {1, 3}, {2, 1, 2, 3}, {}, 1},
      {{1, 2, 17}, 3, {4}, {3}, {2}, {1, 2}, {}, 1},                                     // 1-D
      {{1, 2, 5, 4, 6}, 4, {2, 3, 2}, {2, 1, 2}, {1, 1, 2}, {0, 1, 1, 1, 1, 0}, {}, 2},  // 3-D
  };
  for (const ConvCase& c : cases) {
    Dims wd = {c.m, c.x[1] / c.group};
    wd.insert(wd.end(), c.k.begin(), c.k.end());
    Tensor x = random_tensor(c.x, rng), w = random_tensor(wd, rng), b = random_tensor({c.m}, rng);
    Tensor want = naive_conv(c, x, w, b);
    auto y = run_op("Conv", {x, w, b}, conv_attrs(c));
    ASSERT_EQ(y[0].dims(), want.dims()) << dims_str(c.x);
    expect_near(values(y[0]), values(want), 1e-5);
  }
}

TEST(ReferenceConv, AutoPadSameLowerAndUpper) {
  Tensor x = T({1, 1, 4, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});
  Tensor w = T({1, 1, 2, 2}, {1, 1, 1, 1});
  // SAME_UPPER: total pad 1 at the end; SAME_LOWER: at the start.
  auto up = run_op("Conv", {x, w}, {{"auto_pad", Attribute::make_string("SAME_UPPER")}});
  auto lo = run_op("Conv", {x, w}, {{"auto_pad", Attribute::make_string("SAME_LOWER")}});
  ASSERT_EQ(up[0].dims(), (Dims{1, 1, 4, 4}));
  EXPECT_EQ(values(up[0])[0], 1 + 2 + 5 + 6);
  EXPECT_EQ(values(up[0])[15], 16);
  EXPECT_EQ(values(lo[0])[0], 1);
  EXPECT_EQ(values(lo[0])[15], 11 + 12 + 15 + 16);
  auto st = run_op("Conv", {x, w}, {{"auto_pad", Attribute::make_string("SAME_UPPER")}, {"strides", Attribute::make_ints({3, 3})}});
  EXPECT_EQ(st[0].dims(), (Dims{1, 1, 2, 2}));  // ceil(4 / 3)
}

TEST(ReferenceConv, Float16InAndOut) {
  Tensor x = T({1, 1, 1, 3}, {1, 2, 3}, DType::kF16);
  Tensor w = T({1, 1, 1, 2}, {0.5, 0.25}, DType::kF16);
  auto y = run_op("Conv", {x, w});
  EXPECT_EQ(y[0].dtype(), DType::kF16);
  expect_near(values(y[0]), {1.0, 1.75});
}

TEST(ReferenceConv, ShapeErrorsNameTheNode) {
  Tensor x(DType::kF32, {1, 32, 8, 8});
  expect_error(
      [&] {
        run_op("Conv", {x, Tensor(DType::kF32, {16, 3, 3, 3})});
      },
      ErrorCode::kInvalidModel, "Conv 'node': weight [16,3,3,3] does not match input channels 32");
  expect_error(
      [&] {
        run_op("Conv", {x, Tensor(DType::kF32, {4, 32, 11, 3})});
      },
      ErrorCode::kInvalidModel, "larger than the padded input");
  expect_error(
      [&] {
        run_op("Conv", {x, Tensor(DType::kF32, {4, 16, 3, 3})}, {{"group", Attribute::make_int(4)}});
      },
      ErrorCode::kInvalidModel, "does not match input channels 32 with group 4");
  expect_error(
      [&] {
        run_op("Conv", {x, Tensor(DType::kF32, {4, 32, 3, 3}), Tensor(DType::kF32, {5})});
      },
      ErrorCode::kInvalidModel, "bias [5] does not match 4 output channels");
  expect_error(
      [&] {
        run_op("Conv", {Tensor(DType::kI32, {1, 1, 3, 3}), Tensor(DType::kI32, {1, 1, 1, 1})});
      },
      ErrorCode::kUnsupported, "int32");
}

// ------------------------------------------------------------------------------------------
// ConvTranspose

TEST(ReferenceConvTranspose, OutputPaddingHandComputed) {
  Tensor x = T({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor w = T({1, 1, 2, 2}, {1, 1, 1, 1});
  auto y =
      run_op("ConvTranspose", {x, w}, {{"strides", Attribute::make_ints({2, 2})}, {"output_padding", Attribute::make_ints({1, 1})}});
  ASSERT_EQ(y[0].dims(), (Dims{1, 1, 5, 5}));
  // Each input pixel fills its own 2x2 block; row/column 4 is the zero output padding.
  expect_near(values(y[0]),
              {1, 1, 2, 2, 0, 1, 1, 2, 2, 0, 3, 3, 4, 4, 0, 3, 3, 4, 4, 0, 0, 0, 0, 0, 0});
}

TEST(ReferenceConvTranspose, MatchesNaive) {
  std::mt19937 rng(11);
  const std::vector<ConvCase> cases = {
      {{1, 2, 3, 4}, 3, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, {1, 0}, 1},
      {{2, 4, 5, 3}, 6, {2, 3}, {3, 2}, {2, 1}, {0, 1, 2, 0}, {1, 1}, 2},
      {{1, 3, 4, 4}, 3, {3, 3}, {1, 1}, {2, 2}, {0, 0, 0, 0}, {1, 0}, 3},  // depthwise, dilated
      {{1, 2, 7}, 5, {3}, {2}, {1}, {1, 0}, {1}, 1},                       // 1-D
  };
  for (const ConvCase& c : cases) {
    Dims wd = {c.x[1], c.m / c.group};
    wd.insert(wd.end(), c.k.begin(), c.k.end());
    Tensor x = random_tensor(c.x, rng), w = random_tensor(wd, rng), b = random_tensor({c.m}, rng);
    Tensor want = naive_conv_transpose(c, x, w, b);
    auto y = run_op("ConvTranspose", {x, w, b}, conv_attrs(c));
    ASSERT_EQ(y[0].dims(), want.dims()) << dims_str(c.x);
    expect_near(values(y[0]), values(want), 1e-5);
  }
}

TEST(ReferenceConvTranspose, OutputShapeAndSamePads) {
  Tensor x(DType::kF32, {1, 1, 3, 3});
  Tensor w(DType::kF32, {1, 2, 3, 3});
  auto y =
      run_op("ConvTranspose", {x, w}, {{"strides", Attribute::make_ints({3, 2})}, {"output_shape", Attribute::make_ints({10, 8})}});
  EXPECT_EQ(y[0].dims(), (Dims{1, 2, 10, 8}));
  auto s =
      run_op("ConvTranspose", {x, w}, {{"strides", Attribute::make_ints({2, 2})}, {"auto_pad", Attribute::make_string("SAME_UPPER")}});
  EXPECT_EQ(s[0].dims(), (Dims{1, 2, 6, 6}));
  expect_error(
      [&] {
        run_op("ConvTranspose", {x, Tensor(DType::kF32, {2, 2, 3, 3})});
      },
      ErrorCode::kInvalidModel, "does not match input channels 1");
}

// ------------------------------------------------------------------------------------------
// Pooling

TEST(ReferencePool, MaxPoolCeilModeAndIndices) {
  std::vector<double> v(25);
  for (int i = 0; i < 25; ++i) v[static_cast<size_t>(i)] = i;
  Tensor x = T({1, 1, 5, 5}, v);
  auto y = run_op("MaxPool", {x},
                  {{"kernel_shape", Attribute::make_ints({2, 2})}, {"strides", Attribute::make_ints({2, 2})}, {"ceil_mode", Attribute::make_int(1)}},
                  17, 2);
  ASSERT_EQ(y[0].dims(), (Dims{1, 1, 3, 3}));
  expect_near(values(y[0]), {6, 8, 9, 16, 18, 19, 21, 23, 24});
  EXPECT_EQ(ivalues(y[1]), (std::vector<int64_t>{6, 8, 9, 16, 18, 19, 21, 23, 24}));
  auto f = run_op("MaxPool", {x}, {{"kernel_shape", Attribute::make_ints({2, 2})}, {"strides", Attribute::make_ints({2, 2})}});
  EXPECT_EQ(f[0].dims(), (Dims{1, 1, 2, 2}));
  // Column-major indices (storage_order 1): w * H + h.
  auto c = run_op("MaxPool", {x}, {{"kernel_shape", Attribute::make_ints({2, 2})}, {"storage_order", Attribute::make_int(1)}}, 17, 2);
  EXPECT_EQ(ivalues(c[1])[0], 1 * 5 + 1);
}

TEST(ReferencePool, CeilModeDropsWindowStartingInPadding) {
  Tensor x(DType::kF32, {1, 1, 4, 4});
  auto y = run_op("MaxPool", {x},
                  {{"kernel_shape", Attribute::make_ints({1, 1})},
                   {"strides", Attribute::make_ints({2, 2})},
                   {"pads", Attribute::make_ints({0, 0, 1, 1})},
                   {"ceil_mode", Attribute::make_int(1)}});
  EXPECT_EQ(y[0].dims(), (Dims{1, 1, 2, 2}));
}

TEST(ReferencePool, MaxPoolPadsDilationsAndInt8) {
  Tensor x = T({1, 1, 1, 6}, {-5, 3, -2, 7, 1, -9}, DType::kI8);
  auto y = run_op(
      "MaxPool", {x},
      {{"kernel_shape", Attribute::make_ints({1, 2})}, {"dilations", Attribute::make_ints({1, 2})}, {"pads", Attribute::make_ints({0, 1, 0, 1})}});
  ASSERT_EQ(y[0].dtype(), DType::kI8);
  // Windows (dilation 2) over padded positions -1..6: {-1,1} {0,2} {1,3} {2,4} {3,5} {4,6}.
  expect_near(values(y[0]), {3, -2, 7, 1, 7, 1});
}

TEST(ReferencePool, AveragePoolCountIncludePad) {
  Tensor x = T({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Attrs a = {{"kernel_shape", Attribute::make_ints({3, 3})}, {"pads", Attribute::make_ints({1, 1, 1, 1})}};
  auto ex = run_op("AveragePool", {x}, a);
  a["count_include_pad"] = Attribute::make_int(1);
  auto in = run_op("AveragePool", {x}, a);
  ASSERT_EQ(ex[0].dims(), (Dims{1, 1, 3, 3}));
  EXPECT_NEAR(values(ex[0])[0], (1 + 2 + 4 + 5) / 4.0, 1e-6);
  EXPECT_NEAR(values(in[0])[0], (1 + 2 + 4 + 5) / 9.0, 1e-6);
  EXPECT_NEAR(values(ex[0])[4], 5, 1e-6);
  EXPECT_NEAR(values(in[0])[1], (1 + 2 + 3 + 4 + 5 + 6) / 9.0, 1e-6);
}

TEST(ReferencePool, AveragePoolCeilModeDividesByValidTaps) {
  Tensor x = T({1, 1, 1, 5}, {1, 2, 3, 4, 5});
  auto y = run_op("AveragePool", {x},
                  {{"kernel_shape", Attribute::make_ints({1, 2})}, {"strides", Attribute::make_ints({1, 2})}, {"ceil_mode", Attribute::make_int(1)}});
  ASSERT_EQ(y[0].dims(), (Dims{1, 1, 1, 3}));
  expect_near(values(y[0]), {1.5, 3.5, 5});
}

TEST(ReferencePool, GlobalPools) {
  Tensor x = T({1, 2, 1, 3}, {1, 2, 6, -1, -7, -4});
  auto avg = run_op("GlobalAveragePool", {x});
  auto mx = run_op("GlobalMaxPool", {x});
  EXPECT_EQ(avg[0].dims(), (Dims{1, 2, 1, 1}));
  expect_near(values(avg[0]), {3, -4});
  expect_near(values(mx[0]), {6, -1});
}

TEST(ReferencePool, KernelLargerThanInputIsAnError) {
  expect_error(
      [] {
        run_op("MaxPool", {Tensor(DType::kF32, {1, 1, 2, 2})}, {{"kernel_shape", Attribute::make_ints({3, 3})}});
      },
      ErrorCode::kInvalidModel, "MaxPool 'node': kernel 3");
}

// ------------------------------------------------------------------------------------------
// BatchNormalization

TEST(ReferenceBatchNorm, InferenceForm) {
  Tensor x = T({1, 2, 1, 2}, {1, 2, 3, 4});
  auto y = run_op("BatchNormalization",
                  {x, T({2}, {2, 1}), T({2}, {0.5, -1}), T({2}, {1, 3}), T({2}, {4, 0.25})},
                  {{"epsilon", Attribute::make_float(0.0f)}});
  expect_near(values(y[0]), {0.5, 1.5, -1, 1});  // (x-m)/sqrt(v)*s+b
}

// ------------------------------------------------------------------------------------------
// Resize / Upsample

TEST(ReferenceResize, NearestAsymmetricFloorUpsample) {
  Tensor x = T({1, 1, 2, 2}, {1, 2, 3, 4});
  auto y = run_op("Resize", {x, Tensor(), T({4}, {1, 1, 2, 2})},
                  {{"mode", Attribute::make_string("nearest")},
                   {"coordinate_transformation_mode", Attribute::make_string("asymmetric")},
                   {"nearest_mode", Attribute::make_string("floor")}},
                  13);
  ASSERT_EQ(y[0].dims(), (Dims{1, 1, 4, 4}));
  expect_near(values(y[0]), {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
}

TEST(ReferenceResize, LinearHalfPixelAndAlignCorners) {
  Tensor x = T({1, 1, 1, 2}, {1, 3});
  auto hp = run_op("Resize", {x, Tensor(), T({4}, {1, 1, 1, 2})}, {{"mode", Attribute::make_string("linear")}}, 13);
  expect_near(values(hp[0]), {1, 1.5, 2.5, 3});
  auto ac =
      run_op("Resize", {x, Tensor(), Tensor(), I64({4}, {1, 1, 1, 4})},
             {{"mode", Attribute::make_string("linear")}, {"coordinate_transformation_mode", Attribute::make_string("align_corners")}}, 13);
  expect_near(values(ac[0]), {1, 5.0 / 3, 7.0 / 3, 3});
}

TEST(ReferenceResize, TrilinearOverEveryAxis) {
  // Rank 3, all axes scaled x2 (asymmetric): separable linear interpolation.
  Tensor x = T({2, 1, 2}, {0, 1, 2, 3});
  auto y =
      run_op("Resize", {x, Tensor(), T({3}, {2, 1, 2})},
             {{"mode", Attribute::make_string("linear")}, {"coordinate_transformation_mode", Attribute::make_string("asymmetric")}}, 13);
  ASSERT_EQ(y[0].dims(), (Dims{4, 1, 4}));
  expect_near(values(y[0]), {0, 0.5, 1, 1, 1, 1.5, 2, 2, 2, 2.5, 3, 3, 2, 2.5, 3, 3});
}

TEST(ReferenceResize, NearestModesAndCubic) {
  Tensor x = T({1, 4}, {10, 20, 30, 40});
  // half_pixel, scale 0.5 (sizes [1,2]): x_orig = 0.5 and 2.5.
  auto fl = run_op("Resize", {x, Tensor(), Tensor(), I64({2}, {1, 2})},
                   {{"nearest_mode", Attribute::make_string("round_prefer_floor")}}, 13);
  auto ce = run_op("Resize", {x, Tensor(), Tensor(), I64({2}, {1, 2})},
                   {{"nearest_mode", Attribute::make_string("round_prefer_ceil")}}, 13);
  expect_near(values(fl[0]), {10, 30});
  expect_near(values(ce[0]), {20, 40});
  // Cubic (A = -0.75, edge-clamped taps): integer source positions reproduce the input; x = 0.5
  // weighs 10, 10, 20, 30 by -0.09375, 0.59375, 0.59375, -0.09375.
  auto cu =
      run_op("Resize", {x, Tensor(), T({2}, {1, 2})},
             {{"mode", Attribute::make_string("cubic")}, {"coordinate_transformation_mode", Attribute::make_string("asymmetric")}}, 13);
  ASSERT_EQ(cu[0].dims(), (Dims{1, 8}));
  std::vector<double> cv = values(cu[0]);
  expect_near({cv[0], cv[1], cv[2], cv[4], cv[6]}, {10, 14.0625, 20, 30, 40});
}

TEST(ReferenceResize, Opset10AndUpsample) {
  Tensor x = T({1, 1, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  auto r10 = run_op("Resize", {x, T({4}, {1, 1, 0.6, 0.6})}, {{"mode", Attribute::make_string("nearest")}}, 10);
  ASSERT_EQ(r10[0].dims(), (Dims{1, 1, 1, 2}));
  expect_near(values(r10[0]), {1, 3});  // asymmetric, ceil when downsampling
  Tensor s = T({1, 1, 2, 2}, {1, 2, 3, 4});
  auto u9 = run_op("Upsample", {s, T({4}, {1, 1, 2, 3})}, {{"mode", Attribute::make_string("nearest")}}, 9);
  ASSERT_EQ(u9[0].dims(), (Dims{1, 1, 4, 6}));
  expect_near(values(u9[0]),
              {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4});
  auto u7 = run_op("Upsample", {T({1, 1, 1, 2}, {1, 3})},
                   {{"mode", Attribute::make_string("linear")}, {"scales", Attribute::make_floats({1, 1, 1, 2})}}, 7);
  expect_near(values(u7[0]), {1, 2, 3, 3});
}

TEST(ReferenceResize, Opset18AxesAndAspectRatio) {
  Tensor x(DType::kF32, {1, 1, 2, 4});
  auto y = run_op("Resize", {x, Tensor(), Tensor(), I64({2}, {4, 4})},
                  {{"axes", Attribute::make_ints({2, 3})}, {"keep_aspect_ratio_policy", Attribute::make_string("not_larger")}}, 18);
  EXPECT_EQ(y[0].dims(), (Dims{1, 1, 2, 4}));
  auto z = run_op("Resize", {x, Tensor(), Tensor(), I64({2}, {4, 4})},
                  {{"axes", Attribute::make_ints({2, 3})}, {"keep_aspect_ratio_policy", Attribute::make_string("not_smaller")}}, 18);
  EXPECT_EQ(z[0].dims(), (Dims{1, 1, 4, 8}));
  expect_error(
      [&] {
        run_op("Resize", {x, Tensor(), T({4}, {1, 1, 2, 2}), I64({4}, {1, 1, 4, 8})}, {}, 13);
      },
      ErrorCode::kInvalidModel, "only one of scales and sizes");
}

TEST(ReferenceResize, TfCropAndResizeExtrapolates) {
  Tensor x = T({1, 3}, {1, 2, 3});
  auto y = run_op("Resize", {x, T({4}, {0, 0.5, 1, 1.5}), Tensor(), I64({2}, {1, 3})},
                  {{"mode", Attribute::make_string("linear")},
                   {"coordinate_transformation_mode", Attribute::make_string("tf_crop_and_resize")},
                   {"extrapolation_value", Attribute::make_float(-1.0f)}},
                  13);
  // Columns sample x = 1, 2, 3 (out of range -> -1).
  expect_near(values(y[0]), {2, 3, -1});
}

// ------------------------------------------------------------------------------------------
// MatMul / Gemm

TEST(ReferenceMatMul, BatchBroadcastAndVectors) {
  std::mt19937 rng(3);
  Tensor a = random_tensor({2, 1, 2, 3}, rng), b = random_tensor({3, 3, 4}, rng);
  auto y = run_op("MatMul", {a, b});
  ASSERT_EQ(y[0].dims(), (Dims{2, 3, 2, 4}));
  for (int64_t i = 0; i < 2; ++i) {
    for (int64_t j = 0; j < 3; ++j) {
      for (int64_t r = 0; r < 2; ++r) {
        for (int64_t c = 0; c < 4; ++c) {
          double s = 0;
          for (int64_t k = 0; k < 3; ++k)
            s += a.get_f64(i * 6 + r * 3 + k) * b.get_f64(j * 12 + k * 4 + c);
          EXPECT_NEAR(y[0].get_f64(((i * 3 + j) * 2 + r) * 4 + c), s, 1e-6);
        }
      }
    }
  }
  auto v1 = run_op("MatMul", {T({3}, {1, 2, 3}), T({3, 2}, {1, 0, 0, 1, 1, 1})});
  EXPECT_EQ(v1[0].dims(), (Dims{2}));
  expect_near(values(v1[0]), {4, 5});
  auto v2 = run_op("MatMul", {T({2, 3}, {1, 0, 0, 1, 1, 1}), T({3}, {1, 2, 3})});
  EXPECT_EQ(v2[0].dims(), (Dims{2}));
  expect_near(values(v2[0]), {1, 6});
  const int64_t big = (int64_t{1} << 40) + 1;
  auto iy = run_op("MatMul", {I64({1, 2}, {big, 1}), I64({2, 1}, {1 << 12, 3})});
  EXPECT_EQ(ivalues(iy[0]), (std::vector<int64_t>{big * 4096 + 3}));
  expect_error(
      [] {
        run_op("MatMul", {Tensor(DType::kF32, {2, 3}), Tensor(DType::kF32, {2, 3})});
      },
      ErrorCode::kInvalidModel, "inner dims");
}

TEST(ReferenceGemm, TransposesAlphaBetaBroadcastC) {
  Tensor a = T({3, 2}, {1, 4, 2, 5, 3, 6});  // A^T = [[1,2,3],[4,5,6]]
  Tensor b = T({2, 3}, {1, 0, 1, 0, 1, 1});  // B^T = [[1,0],[0,1],[1,1]]
  auto y = run_op("Gemm", {a, b, T({2}, {10, 20})},
                  {{"transA", Attribute::make_int(1)}, {"transB", Attribute::make_int(1)}, {"alpha", Attribute::make_float(2)}, {"beta", Attribute::make_float(0.5)}});
  ASSERT_EQ(y[0].dims(), (Dims{2, 2}));
  // A'B' = [[4,5],[10,11]]
  expect_near(values(y[0]), {13, 20, 25, 32});
  auto col = run_op("Gemm", {T({2, 2}, {1, 2, 3, 4}), T({2, 2}, {1, 0, 0, 1}), T({2, 1}, {1, -1})});
  expect_near(values(col[0]), {2, 3, 2, 3});
  auto nc = run_op("Gemm", {T({1, 2}, {1, 2}), T({2, 1}, {3, 4})});
  expect_near(values(nc[0]), {11});
}

// ------------------------------------------------------------------------------------------
// Softmax

TEST(ReferenceSoftmax, AxisSemanticsBeforeAndFromOpset13) {
  Tensor x = T({2, 2}, {0, 0, 0, std::log(3.0)});
  // opset 11, axis 0: coerced to [1, 4]: softmax over all four.
  auto old = run_op("Softmax", {x}, {{"axis", Attribute::make_int(0)}}, 11);
  expect_near(values(old[0]), {1 / 6.0, 1 / 6.0, 1 / 6.0, 0.5});
  // opset 13, axis 0: per column.
  auto col = run_op("Softmax", {x}, {{"axis", Attribute::make_int(0)}}, 13);
  expect_near(values(col[0]), {0.5, 0.25, 0.5, 0.75});
  auto def = run_op("Softmax", {x}, {}, 13);  // axis -1: per row
  expect_near(values(def[0]), {0.5, 0.5, 0.25, 0.75});
  auto lg = run_op("LogSoftmax", {x}, {}, 13);
  expect_near(values(lg[0]), {std::log(0.5), std::log(0.5), std::log(0.25), std::log(0.75)});
  auto big = run_op("Softmax", {T({3}, {1000, 1000, -1e30})}, {}, 13);
  expect_near(values(big[0]), {0.5, 0.5, 0});
}

// ------------------------------------------------------------------------------------------
// Element-wise

TEST(ReferenceUnary, RoundingAndActivations) {
  auto r = run_op("Round", {T({6}, {0.5, 1.5, 2.5, -0.5, -1.5, 2.4})});
  expect_near(values(r[0]), {0, 2, 2, 0, -2, 2});
  Tensor x = T({4}, {-3, -1, 1, 4});
  expect_near(values(run_op("HardSwish", {x})[0]), {0, -1.0 / 3, 2.0 / 3, 4});
  expect_near(values(run_op("HardSigmoid", {x}, {{"alpha", Attribute::make_float(0.5f)}})[0]), {0, 0, 1, 1});
  expect_near(values(run_op("LeakyRelu", {x})[0]), {-0.03, -0.01, 1, 4});
  expect_near(values(run_op("Sigmoid", {T({2}, {-800, 0})})[0]), {0, 0.5});
  expect_near(values(run_op("Erf", {T({1}, {0.5})})[0]), {std::erf(0.5)});
  expect_near(values(run_op("Reciprocal", {T({1}, {4})})[0]), {0.25});
  auto f16 = run_op("Exp", {T({1}, {1}, DType::kF16)});
  EXPECT_EQ(f16[0].dtype(), DType::kF16);
  EXPECT_NEAR(f16[0].get_f64(0), std::exp(1.0), 2e-3);
}

TEST(ReferenceUnary, IntegerAbsNegReluAndNot) {
  Tensor x = T({3}, {-7, 0, 5}, DType::kI32);
  EXPECT_EQ(ivalues(run_op("Abs", {x})[0]), (std::vector<int64_t>{7, 0, 5}));
  EXPECT_EQ(ivalues(run_op("Neg", {x})[0]), (std::vector<int64_t>{7, 0, -5}));
  EXPECT_EQ(ivalues(run_op("Relu", {x})[0]), (std::vector<int64_t>{0, 0, 5}));
  auto n = run_op("Not", {B({3}, {1, 0, 1})});
  EXPECT_EQ(ivalues(n[0]), (std::vector<int64_t>{0, 1, 0}));
  expect_error([] { run_op("Sqrt", {Tensor(DType::kI32, {2})}); }, ErrorCode::kUnsupported,
               "int32");
}

TEST(ReferenceUnary, ClipAttributesAndInputs) {
  Tensor x = T({4}, {-2, 0.5, 3, NAN});
  auto a = run_op("Clip", {x}, {{"min", Attribute::make_float(0)}, {"max", Attribute::make_float(1)}}, 6 + 1);
  expect_near(values(a[0]), {0, 0.5, 1, NAN});
  auto b = run_op("Clip", {x, T({}, {-1}), Tensor()}, {}, 13);
  expect_near(values(b[0]), {-1, 0.5, 3, NAN});
  auto c = run_op("Clip", {x, Tensor(), T({}, {0})}, {}, 13);
  expect_near(values(c[0]), {-2, 0, 0, NAN});
  auto i8 = run_op(
      "Clip",
      {T({3}, {-100, 5, 100}, DType::kI8), T({}, {-10}, DType::kI8), T({}, {10}, DType::kI8)}, {},
      13);
  EXPECT_EQ(ivalues(i8[0]), (std::vector<int64_t>{-10, 5, 10}));
}

TEST(ReferenceBinary, BroadcastingArithmetic) {
  Tensor a = T({2, 1, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = T({4, 1}, {0, 10, 20, 30});
  auto y = run_op("Add", {a, b});
  ASSERT_EQ(y[0].dims(), (Dims{2, 4, 3}));
  EXPECT_EQ(y[0].get_f64(0), 1);
  EXPECT_EQ(y[0].get_f64(5), 13);
  EXPECT_EQ(y[0].get_f64(23), 36);
  expect_near(values(run_op("Sub", {T({2}, {1, 2}), T({}, {3})})[0]), {-2, -1});
  expect_near(values(run_op("Div", {T({2}, {1, 3}), T({2}, {4, -2})})[0]), {0.25, -1.5});
  expect_error(
      [] {
        run_op("Add", {Tensor(DType::kF32, {2, 3}), Tensor(DType::kF32, {4})});
      },
      ErrorCode::kInvalidModel, "");
}

TEST(ReferenceBinary, IntegerMathIsExact) {
  EXPECT_EQ(ivalues(run_op("Div", {T({4}, {-7, 7, -8, 9}, DType::kI32),
                                   T({4}, {2, -2, 3, 3}, DType::kI32)})[0]),
            (std::vector<int64_t>{-3, -3, -2, 3}));
  const int64_t big = (int64_t{1} << 60) + 1;
  EXPECT_EQ(ivalues(run_op("Add", {I64({1}, {big}), I64({1}, {2})})[0]),
            (std::vector<int64_t>{big + 2}));
  EXPECT_EQ(ivalues(run_op("Mul", {I64({1}, {big}), I64({1}, {1})})[0]),
            (std::vector<int64_t>{big}));
  auto u8 = run_op("Add", {T({2}, {250, 3}, DType::kU8), T({2}, {10, 4}, DType::kU8)});
  EXPECT_EQ(ivalues(u8[0]), (std::vector<int64_t>{4, 7}));  // wraps like NumPy
  EXPECT_EQ(ivalues(run_op("Pow", {I64({3}, {3, -2, 2}), I64({3}, {4, 3, 62})})[0]),
            (std::vector<int64_t>{81, -8, int64_t{1} << 62}));
  auto pf = run_op("Pow", {T({2}, {2, 9}), I64({2}, {-1, 2})});
  EXPECT_EQ(pf[0].dtype(), DType::kF32);
  expect_near(values(pf[0]), {0.5, 81});
  auto pi = run_op("Pow", {T({2}, {2, 3}, DType::kI32), T({2}, {0.5, 2})});
  EXPECT_EQ(ivalues(pi[0]), (std::vector<int64_t>{1, 9}));  // int base: truncated
}

TEST(ReferenceBinary, VariadicMaxMinAndComparisons) {
  auto mx = run_op("Max", {T({3}, {1, 5, NAN}), T({1}, {3}), T({2, 1}, {0, 4})});
  ASSERT_EQ(mx[0].dims(), (Dims{2, 3}));
  expect_near(values(mx[0]), {3, 5, NAN, 4, 5, NAN});
  auto mn = run_op("Min", {I64({2}, {-5, 9}), I64({2}, {3, 2})});
  EXPECT_EQ(ivalues(mn[0]), (std::vector<int64_t>{-5, 2}));
  auto one = run_op("Max", {T({2}, {1, 2})});
  expect_near(values(one[0]), {1, 2});
  auto eq = run_op("Equal", {T({3}, {1, 2, 3}, DType::kI32), T({1}, {2}, DType::kI32)});
  EXPECT_EQ(eq[0].dtype(), DType::kBool);
  EXPECT_EQ(ivalues(eq[0]), (std::vector<int64_t>{0, 1, 0}));
  EXPECT_EQ(ivalues(run_op("Equal", {B({2}, {1, 0}), B({2}, {1, 1})})[0]),
            (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(ivalues(run_op("Less", {T({3}, {1, 2, NAN}), T({}, {2})})[0]),
            (std::vector<int64_t>{1, 0, 0}));
  EXPECT_EQ(ivalues(run_op("Greater", {T({2, 1}, {1, 3}), T({2}, {2, 0})})[0]),
            (std::vector<int64_t>{0, 1, 1, 1}));
}

TEST(ReferenceWhere, ThreeWayBroadcast) {
  auto y = run_op("Where", {B({2, 1}, {1, 0}), I64({3}, {1, 2, 3}), I64({}, {-1})});
  ASSERT_EQ(y[0].dims(), (Dims{2, 3}));
  EXPECT_EQ(ivalues(y[0]), (std::vector<int64_t>{1, 2, 3, -1, -1, -1}));
  expect_error(
      [] {
        run_op("Where",
               {Tensor(DType::kF32, {2}), Tensor(DType::kF32, {2}), Tensor(DType::kF32, {2})});
      },
      ErrorCode::kUnsupported, "float32");
}

// ------------------------------------------------------------------------------------------
// Reductions

TEST(ReferenceReduce, AxesAttributeAndInputForms) {
  Tensor x = T({2, 3}, {1, 2, 3, 4, 5, 6});
  auto s11 = run_op("ReduceSum", {x}, {{"axes", Attribute::make_ints({1})}}, 11);
  EXPECT_EQ(s11[0].dims(), (Dims{2, 1}));
  expect_near(values(s11[0]), {6, 15});
  auto s13 = run_op("ReduceSum", {x, I64({1}, {-2})}, {{"keepdims", Attribute::make_int(0)}}, 13);
  EXPECT_EQ(s13[0].dims(), (Dims{3}));
  expect_near(values(s13[0]), {5, 7, 9});
  auto all = run_op("ReduceSum", {x}, {{"keepdims", Attribute::make_int(0)}}, 13);
  EXPECT_EQ(all[0].dims(), (Dims{}));
  expect_near(values(all[0]), {21});
  auto noop = run_op("ReduceSum", {x, I64({0}, {})}, {{"noop_with_empty_axes", Attribute::make_int(1)}}, 13);
  EXPECT_EQ(noop[0].dims(), (Dims{2, 3}));
  expect_near(values(noop[0]), {1, 2, 3, 4, 5, 6});
  auto mean = run_op("ReduceMean", {x}, {{"axes", Attribute::make_ints({0})}}, 17);
  expect_near(values(mean[0]), {2.5, 3.5, 4.5});
  auto mean18 = run_op("ReduceMean", {x, I64({1}, {1})}, {}, 18);
  expect_near(values(mean18[0]), {2, 5});
  auto mx = run_op("ReduceMax", {T({2, 2}, {-3, 7, 2, -9}, DType::kI32)},
                   {{"axes", Attribute::make_ints({1})}, {"keepdims", Attribute::make_int(0)}}, 13);
  EXPECT_EQ(ivalues(mx[0]), (std::vector<int64_t>{7, 2}));
  const int64_t big = (int64_t{1} << 55) + 1;
  EXPECT_EQ(ivalues(run_op("ReduceSum", {I64({2}, {big, 2})}, {}, 13)[0]),
            (std::vector<int64_t>{big + 2}));
  expect_error(
      [&] {
        run_op("ReduceSum", {x}, {{"axes", Attribute::make_ints({2})}}, 11);
      },
      ErrorCode::kInvalidModel, "axis 2 out of range");
}

TEST(ReferenceReduce, ArgMax) {
  Tensor x = T({2, 3}, {1, 5, 5, 7, 2, 7});
  auto first = run_op("ArgMax", {x}, {{"axis", Attribute::make_int(1)}}, 13);
  EXPECT_EQ(first[0].dims(), (Dims{2, 1}));
  EXPECT_EQ(ivalues(first[0]), (std::vector<int64_t>{1, 0}));
  auto last = run_op("ArgMax", {x},
                     {{"axis", Attribute::make_int(-1)}, {"select_last_index", Attribute::make_int(1)}, {"keepdims", Attribute::make_int(0)}}, 13);
  EXPECT_EQ(last[0].dims(), (Dims{2}));
  EXPECT_EQ(ivalues(last[0]), (std::vector<int64_t>{2, 2}));
  auto ax0 = run_op("ArgMax", {I64({2, 2}, {1, 9, 3, 2})}, {{"keepdims", Attribute::make_int(0)}}, 13);
  EXPECT_EQ(ivalues(ax0[0]), (std::vector<int64_t>{1, 0}));
}

}  // namespace
}  // namespace shoal
