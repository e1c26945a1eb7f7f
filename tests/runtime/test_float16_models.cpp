// Half-precision models (float16 weights, input and output, as Ultralytics' half=True writes
// them) compute in float32 behind float16 I/O: the cpu backend against the reference backend on
// the same file, and against the float32 model they were made from.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "model_builder/builder.h"
#include "onnx/import.h"
#include "runtime/compiled_model.h"

namespace shoal {
namespace {

double normwise(const Tensor& a, const Tensor& ref) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    const double d = a.get_f64(i) - ref.get_f64(i);
    num += d * d;
    den += ref.get_f64(i) * ref.get_f64(i);
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

std::vector<Tensor> run(const Graph& g, const std::string& backend, const Tensor& x) {
  CompileRequest req;
  req.backend = backend;
  Session s(CompiledModel::compile(g, req));
  return s.run({x});
}

TEST(Float16Models, HalfDetectorRunsInFloat32BehindFloat16Io) {
  BuilderOptions o;
  o.imgsz = 64;
  o.num_classes = 5;
  o.seed = 3;
  const std::string f32_bytes = build_yolo_detector_onnx(o);
  const std::string f16_bytes = to_float16_onnx(f32_bytes);
  EXPECT_LT(f16_bytes.size(), f32_bytes.size() * 6 / 10);  // the weights take half the bytes
  Graph half = import_onnx_bytes(f16_bytes.data(), f16_bytes.size(), "", "half");
  Graph full = import_onnx_bytes(f32_bytes.data(), f32_bytes.size(), "", "full");

  Tensor x16(DType::kF16, {1, 3, 64, 64});
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  for (int64_t i = 0; i < x16.numel(); ++i) x16.data<uint16_t>()[i] = f32_to_f16(u(rng));
  const Tensor x32 = cast_tensor(x16, DType::kF32);  // the same values

  CompileRequest req;
  auto cm = CompiledModel::compile(half, req);
  ASSERT_EQ(cm->inputs().size(), 1u);
  EXPECT_EQ(cm->inputs()[0].dtype, DType::kF16);
  EXPECT_EQ(cm->inputs()[0].name, "images");
  ASSERT_EQ(cm->outputs().size(), 1u);
  EXPECT_EQ(cm->outputs()[0].dtype, DType::kF16);
  EXPECT_EQ(cm->outputs()[0].name, "output0");
  EXPECT_GT(cm->pass_stats().at("float16_to_float32"), 0);
  EXPECT_GT(cm->pass_stats().at("fuse_activations"), 0);  // the fusions still apply

  const std::vector<Tensor> cpu = run(half, "cpu", x16);
  const std::vector<Tensor> ref = run(half, "reference", x16);
  const std::vector<Tensor> f32 = run(full, "cpu", x32);
  ASSERT_EQ(cpu[0].dtype(), DType::kF16);
  ASSERT_EQ(cpu[0].dims(), f32[0].dims());
  // Same file, same float32 arithmetic: the outputs differ by at most about one float16 rounding.
  double range = 0;
  for (int64_t i = 0; i < ref[0].numel(); ++i) range = std::max(range, std::abs(ref[0].get_f64(i)));
  int64_t off = 0;
  for (int64_t i = 0; i < ref[0].numel(); ++i) {
    const double r = ref[0].get_f64(i);
    off += std::abs(cpu[0].get_f64(i) - r) > 2e-3 * std::abs(r) + 1e-4 * range;
  }
  EXPECT_EQ(off, 0) << "of " << ref[0].numel();
  // Against the float32 model: only the weights' and the I/O's rounding to float16 differ.
  EXPECT_LT(normwise(cpu[0], f32[0]), 2e-2);
}

TEST(Float16Models, HalfClassifierMatchesItsFloat32Model) {
  BuilderOptions o;
  o.imgsz = 32;
  o.num_classes = 10;
  const std::string f32_bytes = build_classifier_onnx(o);
  const std::string f16_bytes = to_float16_onnx(f32_bytes);
  Graph half = import_onnx_bytes(f16_bytes.data(), f16_bytes.size(), "", "half");
  Graph full = import_onnx_bytes(f32_bytes.data(), f32_bytes.size(), "", "full");
  Tensor x16(DType::kF16, {1, 3, 32, 32});
  for (int64_t i = 0; i < x16.numel(); ++i) x16.data<uint16_t>()[i] = f32_to_f16((i % 97) / 97.f);
  const Tensor p16 = run(half, "cpu", x16)[0];
  const Tensor p32 = run(full, "cpu", cast_tensor(x16, DType::kF32))[0];
  ASSERT_EQ(p16.dtype(), DType::kF16);
  double sum = 0;
  for (int64_t i = 0; i < p16.numel(); ++i) {
    sum += p16.get_f64(i);
    EXPECT_NEAR(p16.get_f64(i), p32.get_f64(i), 5e-3) << "class " << i;
  }
  EXPECT_NEAR(sum, 1.0, 1e-2);  // still a softmax
}

}  // namespace
}  // namespace shoal
