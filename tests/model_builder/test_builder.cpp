// The model builder: its YOLO-like detector and classifier import with the right metadata and
// shapes, its bytes are deterministic, and its calibrated weights keep activations of order one
// and outputs that depend on the input (checked on the reference kernels).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

#include "backend/reference/reference.h"
#include "core/error.h"
#include "graph/shape_inference.h"
#include "model_builder/builder.h"
#include "onnx/import.h"

namespace shoal {
namespace {

TEST(OnnxBuilder, DetectorImportsWithMetadataAndShapes) {
  BuilderOptions o;  // yolov8n-like at 640
  std::string bytes = build_yolo_detector_onnx(o);
  Graph g = import_onnx_bytes(bytes.data(), bytes.size(), "");
  EXPECT_EQ(g.metadata.at("task"), "detect");
  EXPECT_EQ(g.metadata.at("stride"), "32");
  EXPECT_EQ(g.metadata.at("imgsz"), "[640, 640]");
  const std::string& names = g.metadata.at("names");
  EXPECT_EQ(names.rfind("{0: 'person', 1: 'bicycle', ", 0), 0u) << names.substr(0, 60);
  EXPECT_NE(names.find("79: 'toothbrush'}"), std::string::npos);
  EXPECT_EQ(g.opset, 17);
  ASSERT_EQ(g.inputs.size(), 1u);
  EXPECT_EQ(g.value(g.inputs[0]).name, "images");
  EXPECT_EQ(g.value(g.inputs[0]).dims, (Dims{1, 3, 640, 640}));
  ASSERT_EQ(g.outputs.size(), 1u);
  EXPECT_EQ(g.value(g.outputs[0]).name, "output0");
  EXPECT_EQ(g.value(g.outputs[0]).dims, (Dims{1, 84, 8400}));
  std::map<std::string, int> ops;
  for (const Node& n : g.nodes) ++ops[n.op_type];
  EXPECT_EQ(ops["Conv"], 64);  // as yolov8n
  EXPECT_EQ(ops["MaxPool"], 3);
  EXPECT_EQ(ops["Resize"], 2);
  EXPECT_EQ(ops["Softmax"], 1);
  EXPECT_GT(ops["Split"], 0);
  int64_t weights = 0;
  for (const Value& v : g.values) {
    if (v.is_constant() && v.dtype == DType::kF32 && v.dims.size() == 4)
      weights += v.constant.numel();
  }
  EXPECT_GT(weights, 3'000'000);  // yolov8n has 3.15M
  EXPECT_LT(weights, 3'300'000);
}

TEST(OnnxBuilder, OptionsAndDeterminism) {
  BuilderOptions o;
  o.imgsz = 320;
  o.num_classes = 3;
  std::string a = build_yolo_detector_onnx(o);
  EXPECT_EQ(a, build_yolo_detector_onnx(o));
  BuilderOptions o2 = o;
  o2.seed = 1;
  EXPECT_NE(a, build_yolo_detector_onnx(o2));
  Graph g = import_onnx_bytes(a.data(), a.size(), "");
  EXPECT_EQ(g.value(g.outputs[0]).dims, (Dims{1, 7, 2100}));
  EXPECT_EQ(g.metadata.at("names"), "{0: 'person', 1: 'bicycle', 2: 'car'}");
  EXPECT_EQ(g.metadata.at("imgsz"), "[320, 320]");

  BuilderOptions c;
  c.imgsz = 64;
  c.num_classes = 10;
  std::string cb = build_classifier_onnx(c);
  Graph gc = import_onnx_bytes(cb.data(), cb.size(), "");
  EXPECT_EQ(gc.metadata.at("task"), "classify");
  EXPECT_EQ(gc.value(gc.outputs[0]).dims, (Dims{1, 10}));

  BuilderOptions bad;
  bad.imgsz = 100;
  EXPECT_THROW(build_yolo_detector_onnx(bad), Error);
}

// Runs a specialised graph through the reference kernels; returns every value's tensor.
std::vector<Tensor> run_reference(Graph& g, const Tensor& input) {
  Value& in = g.value(g.inputs[0]);
  in.dims = input.dims();
  auto eval = [&](const Node& n, const std::vector<Tensor>& i, std::vector<Tensor>& o) {
    reference_eval(n, static_cast<int>(g.opset), i, o);
  };
  specialize_shapes(g, eval);
  std::vector<Tensor> vals(g.values.size());
  for (size_t i = 0; i < g.values.size(); ++i) vals[i] = g.values[i].constant;
  vals[static_cast<size_t>(g.inputs[0])] = input;
  for (NodeId id : g.live_nodes()) {
    const Node& n = g.nodes[static_cast<size_t>(id)];
    std::vector<Tensor> ins, outs;
    for (ValueId v : n.inputs)
      ins.push_back(v == kNoValue ? Tensor() : vals[static_cast<size_t>(v)]);
    for (ValueId o : n.outputs) outs.emplace_back(g.value(o).dtype, g.value(o).dims);
    eval(n, ins, outs);
    for (size_t k = 0; k < n.outputs.size(); ++k) vals[static_cast<size_t>(n.outputs[k])] = outs[k];
  }
  return vals;
}

Tensor random_image(Dims dims, uint32_t seed) {
  Tensor t(DType::kF32, std::move(dims));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
  return t;
}

double stddev(const Tensor& t) {
  double s = 0, s2 = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v = t.get_f64(i);
    s += v;
    s2 += v * v;
  }
  double m = s / static_cast<double>(t.numel());
  return std::sqrt(std::max(0.0, s2 / static_cast<double>(t.numel()) - m * m));
}

// The builder's weights keep activations of order one through the whole network on the inputs
// tests feed (uniform noise in [0, 1]), and the outputs depend on the input.
TEST(OnnxBuilder, ActivationsStayInRangeAndDependOnInput) {
  BuilderOptions o;
  o.imgsz = 320;
  o.num_classes = 5;
  std::string bytes = build_yolo_detector_onnx(o);
  Graph model = import_onnx_bytes(bytes.data(), bytes.size(), "");
  std::vector<Tensor> a, b;
  Graph ga = model, gb = model;
  try {
    a = run_reference(ga, random_image({1, 3, 320, 320}, 1));
    b = run_reference(gb, random_image({1, 3, 320, 320}, 2));
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kUnsupported)
      GTEST_SKIP() << "reference kernels missing: " << e.what();
    throw;
  }
  double sd_min = INFINITY, sd_max = 0;
  for (const Node& n : ga.nodes) {
    if (n.dead || n.op_type != "Mul" || n.name.find("/act/") == std::string::npos) continue;
    double sd = stddev(a[static_cast<size_t>(n.outputs[0])]);
    sd_min = std::min(sd_min, sd);
    sd_max = std::max(sd_max, sd);
    EXPECT_GT(sd, 0.1) << n.name;
    EXPECT_LT(sd, 10.0) << n.name;
  }
  fmt::print("SiLU activation std over the network: {:.3f} .. {:.3f}\n", sd_min, sd_max);
  const Tensor& oa = a[static_cast<size_t>(ga.outputs[0])];
  const Tensor& ob = b[static_cast<size_t>(gb.outputs[0])];
  const int64_t n = 2100;
  ASSERT_EQ(oa.dims(), (Dims{1, 9, n}));
  double max_box_diff = 0, max_score_diff = 0;
  int64_t above = 0;
  for (int64_t c = 0; c < 9; ++c) {
    for (int64_t k = 0; k < n; ++k) {
      double va = oa.get_f64(c * n + k), vb = ob.get_f64(c * n + k);
      ASSERT_TRUE(std::isfinite(va)) << c << "," << k;
      double& m = c < 4 ? max_box_diff : max_score_diff;
      m = std::max(m, std::fabs(va - vb));
      if (c >= 4 && va > 0.25) ++above;
    }
  }
  EXPECT_GT(max_box_diff, 1.0);     // pixels
  EXPECT_GT(max_score_diff, 0.05);  // probabilities
  EXPECT_GT(above, 0);              // something to decode ...
  EXPECT_LT(above, 5 * n / 4);      // ... but not everything
}

TEST(OnnxBuilder, ClassifierOutputsDependOnInput) {
  BuilderOptions o;
  o.imgsz = 64;
  o.num_classes = 10;
  std::string bytes = build_classifier_onnx(o);
  Graph model = import_onnx_bytes(bytes.data(), bytes.size(), "");
  Graph ga = model, gb = model;
  std::vector<Tensor> a, b;
  try {
    a = run_reference(ga, random_image({1, 3, 64, 64}, 1));
    b = run_reference(gb, random_image({1, 3, 64, 64}, 2));
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kUnsupported)
      GTEST_SKIP() << "reference kernels missing: " << e.what();
    throw;
  }
  const Tensor& pa = a[static_cast<size_t>(ga.outputs[0])];
  const Tensor& pb = b[static_cast<size_t>(gb.outputs[0])];
  ASSERT_EQ(pa.dims(), (Dims{1, 10}));
  double sum = 0, max_p = 0, diff = 0;
  for (int64_t k = 0; k < 10; ++k) {
    sum += pa.get_f64(k);
    max_p = std::max(max_p, pa.get_f64(k));
    diff = std::max(diff, std::fabs(pa.get_f64(k) - pb.get_f64(k)));
  }
  EXPECT_NEAR(sum, 1.0, 1e-5);
  EXPECT_GT(max_p, 0.2);    // not uniform
  EXPECT_LT(max_p, 0.999);  // not one-hot
  EXPECT_GT(diff, 1e-3);    // depends on the input
}

}  // namespace
}  // namespace shoal
