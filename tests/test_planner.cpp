// The static activation planner: hand-computed plans, random validity checks, and pinned arena
// sizes of the shared models so a memory regression fails loudly; zero-copy runs in the arena.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "memory/planner.h"
#include "core/error.h"
#include "onnx/builder.h"
#include "onnx/import.h"
#include "runtime/compiled_model.h"
#include "test_util.h"

namespace shoal {
namespace {

TEST(Planner, ChainReusesMemory) {
  // a(0..1) -> b(1..2) -> c(2..3): a and c never live together, so they share offset 0.
  std::vector<BufferRequest> r = {{640, 0, 1}, {128, 1, 2}, {640, 2, 3}};
  ArenaPlan p = plan_arena(r);
  EXPECT_EQ(p.naive_bytes, 640u + 128u + 640u);
  EXPECT_EQ(p.max_live_bytes, 768u);
  EXPECT_EQ(p.arena_bytes, 768u);
  EXPECT_EQ(p.offsets[0], p.offsets[2]);
  EXPECT_EQ(validate_plan(r, p), "");
}

TEST(Planner, AlignsTo64Bytes) {
  std::vector<BufferRequest> r = {{1, 0, 0}, {1, 0, 0}, {65, 0, 0}};
  ArenaPlan p = plan_arena(r);
  for (size_t o : p.offsets) EXPECT_EQ(o % kArenaAlignment, 0u);
  EXPECT_EQ(p.arena_bytes, 64u + 64u + 128u);
}

TEST(Planner, BestFitFillsGap) {
  // Two long-lived buffers with a hole between them once the middle one dies.
  std::vector<BufferRequest> r = {{1024, 0, 10}, {512, 0, 2}, {1024, 0, 10}, {448, 5, 6}};
  ArenaPlan p = plan_arena(r);
  EXPECT_EQ(validate_plan(r, p), "");
  EXPECT_EQ(p.arena_bytes, 2560u);  // the 448-byte buffer reuses the 512-byte hole
}

TEST(Planner, RandomPlansAreValidAndNearBound) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<BufferRequest> r;
    int n = 5 + static_cast<int>(rng() % 60);
    for (int i = 0; i < n; ++i) {
      int a = static_cast<int>(rng() % 40);
      int b = a + static_cast<int>(rng() % 8);
      r.push_back({1 + rng() % 100000, a, b});
    }
    ArenaPlan p = plan_arena(r);
    ASSERT_EQ(validate_plan(r, p), "") << "trial " << trial;
    EXPECT_GE(p.arena_bytes, p.max_live_bytes);
    EXPECT_LE(p.arena_bytes, p.naive_bytes);
  }
}

TEST(Planner, EmptyIsZero) {
  ArenaPlan p = plan_arena({});
  EXPECT_EQ(p.arena_bytes, 0u);
}

// Pinned numbers: the planned fp32 batch-1 arena of the shared models on the cpu backend.
TEST(PlannerPinned, Yolov8nArenaAtMost12MiB) {
  std::string shared = shared_dir();
  if (shared.empty()) GTEST_SKIP() << "../shared not found: pinned arena test skipped";
  Graph g = import_onnx_file(shared + "/models/yolov8n.onnx");
  CompileRequest req;
  auto cm = CompiledModel::compile(g, req);
  const MemoryReport& m = cm->memory();
  std::printf("[ memory ] yolov8n naive %zu exported-max-live %zu max-live %zu arena %zu weights %zu\n",
              m.naive_activation_bytes, m.exported_max_live_bytes, m.max_live_bytes, m.arena_bytes,
              m.weights_bytes);
  EXPECT_LE(m.arena_bytes, size_t{12} << 20);
  EXPECT_GE(m.arena_bytes, m.max_live_bytes);
  // As exported: about 237 MiB naive and 18.75 MiB max-live.
  EXPECT_NEAR(static_cast<double>(m.naive_activation_bytes) / (1 << 20), 237.0, 6.0);
  EXPECT_NEAR(static_cast<double>(m.exported_max_live_bytes) / (1 << 20), 18.75, 1.0);
  // Weights: 3,151,904 float32 parameters, stored once (packed or plain). The 3x3 convs on 40x40
  // planes and above keep Winograd-transformed weights (16/9 of the direct bytes, for speed),
  // the 128->64 and 128->80 head convs at 40x40 included (as output-channel slices: +0.5 MiB
  // for ~0.4 ms a frame): 20.9% over the parameters in all (SHOAL_CONV_WINOGRAD=large or
  // =0 trade the speed back for bytes).
  EXPECT_LE(m.weights_bytes, static_cast<size_t>(3151904 * 4 * 1.22));
}

}  // namespace
}  // namespace shoal

namespace shoal {
namespace {

// Zero-copy runs (input_view / run_in_place / output_view) give exactly Session::run's outputs,
// also when the input is written again between runs into memory the program reused.
TEST(ZeroCopy, RunInPlaceMatchesRun) {
  BuilderOptions bo;
  bo.imgsz = 96;
  bo.num_classes = 5;
  const std::string bytes = build_yolo_detector_onnx(bo);
  Graph g = import_onnx_bytes(bytes.data(), bytes.size(), ".");
  CompileRequest req;
  req.input_dims[g.value(g.inputs[0]).name] = {1, 3, 96, 96};
  auto cm = CompiledModel::compile(g, req);
  Session copy(cm), inplace(cm);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  for (int round = 0; round < 2; ++round) {
    Tensor x(DType::kF32, cm->inputs()[0].dims);
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = u(rng);
    std::vector<Tensor> want = copy.run({x});
    Tensor in = inplace.input_view(0);
    ASSERT_EQ(in.dims(), x.dims());
    std::memcpy(in.raw(), x.raw(), x.nbytes());
    inplace.run_in_place();
    for (size_t i = 0; i < want.size(); ++i) {
      Tensor out = inplace.output_view(i);
      ASSERT_EQ(out.dims(), want[i].dims());
      EXPECT_EQ(std::memcmp(out.raw(), want[i].raw(), out.nbytes()), 0) << "round " << round;
    }
  }
  EXPECT_THROW(inplace.input_view(1), Error);
  EXPECT_THROW(inplace.output_view(cm->outputs().size()), Error);
}

}  // namespace
}  // namespace shoal
