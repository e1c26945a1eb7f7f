// Unit tests of the cpu backend beyond the per-op cases of test_backend_ops.cpp: the compiled
// shape of the shared models, whole models against the reference backend, the outer-axis
// softmax's NaN handling, the stem's cost rule, precision and thread settings, re-entrancy and
// the reported weights and flops.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "backend_test_util.h"
#include "core/error.h"
#include "core/npy.h"
#include "onnx/import.h"
#include "runtime/compiled_model.h"
#include "test_util.h"

namespace shoal {
namespace {

using K = PostOp::Kind;

// The shape of the compiled shared models: every op native, no slow oneDNN reference
// implementations, C2f/SPPF/head Split and Concat as views (the only copy is the head's Concat
// on axis 2), no layout conversions in the YOLOv8 detect graph.
TEST(CpuBackend, SharedModelsCompileNativeWithViews) {
  std::string shared = shared_dir();
  if (shared.empty()) GTEST_SKIP() << "../shared not found: model-structure test skipped";
  struct Expect {
    const char* model;
    int max_copies;
    int max_reorders;
  };
  const Expect models[] = {{"yolov8n.onnx", 1, 0},     {"yolov8s.onnx", 1, 0},
                           {"yolo11n.onnx", 3, 1},     {"yolov8n-seg.onnx", 2, 0},
                           {"yolo11n-seg.onnx", 4, 1}, {"yolov8n-pose.onnx", 5, 0},
                           {"yolov8n-cls.onnx", 0, 0}};
  for (const Expect& m : models) {
    Graph g = import_onnx_file(shared + "/models/" + m.model);
    CompileRequest req;
    req.backend = "cpu";
    auto cm = CompiledModel::compile(g, req);
    CpuProgramSummary s = summarize_cpu_program(cm->program());
    SCOPED_TRACE(std::string(m.model) + ": " + format_cpu_summary(s));
    EXPECT_EQ(s.generic, 0);
    if (cpu_blocked_layouts_native()) {
      EXPECT_EQ(s.slow, 0);
    } else if (s.slow > 0) {
      std::printf("[ cpu   ] no AVX-512: %d steps of %s on oneDNN reference implementations\n",
                  s.slow, m.model);
    }
    EXPECT_LE(s.copies, m.max_copies);
    EXPECT_LE(s.reorders, m.max_reorders);
    EXPECT_GT(s.views, 0);
    std::printf("[ cpu   ] %-18s %s\n", m.model, format_cpu_summary(s).c_str());
  }
}

// Whole models, cpu backend against the reference backend (double precision) on the same
// optimised graph and real input: the fp32 error of the cpu kernels alone, without ONNX
// Runtime's own rounding in the way (ORT itself is ~1e-5 from the reference on mask prototypes).
TEST(CpuBackend, SharedModelsMatchReferenceBackend) {
  std::string shared = shared_dir();
  if (shared.empty()) GTEST_SKIP() << "../shared not found: whole-model test skipped";
  if (std::getenv("SHOAL_SKIP_SLOW")) GTEST_SKIP() << "SHOAL_SKIP_SLOW set: reference runs skipped";
  struct M {
    const char* model;
    const char* input;
  };
  const M models[] = {{"yolo11n-seg.onnx", "bus_640.npy"},
                      {"real/yolox_nano.onnx", "zidane_416_yolox.npy"}};
  for (const M& m : models) {
    Graph g = import_onnx_file(shared + "/models/" + m.model);
    Tensor x = read_npy(shared + "/reference/inputs/" + m.input);
    std::vector<Tensor> outs[2];
    const char* backends[2] = {"cpu", "reference"};
    for (int b = 0; b < 2; ++b) {
      CompileRequest req;
      req.backend = backends[b];
      req.input_dims[g.value(g.inputs[0]).name] = x.dims();
      Session s(CompiledModel::compile(g, req));
      outs[b] = s.run({x});
    }
    for (size_t i = 0; i < outs[0].size(); ++i) {
      Error3 e = compare(outs[0][i], outs[1][i]);
      std::printf("[ cpu   ] %-22s output %zu vs reference: %s\n", m.model, i, e.str().c_str());
      // ~70 fp32 layers: measured 1.0-1.1e-5 (yolo11n-seg's prototypes; AVX-512, stem in
      // double) or 1.25e-5 (AVX2, fp32 stem) and 5.8e-6 (yolox_nano); ONNX Runtime's own
      // distance is 8.9e-6 and 5.5e-6.
      EXPECT_LE(e.norm_rel, 1.6e-5) << m.model << " output " << i << ": " << e.str();
    }
  }
}

// A NaN in a softmax's input (a model's data can hold one) makes its own softmax group NaN and
// leaves the others as the reference computes them; the vectorised exp reads its exponent from
// float bits, so nothing converts NaN to int (undefined; UBSan reported it under the
// compile-and-run fuzzer).
TEST(CpuBackend, OuterAxisSoftmaxPassesNaNThroughItsGroupOnly) {
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    Builder b(3);
    b.output(b.op(op, {b.input({1, 16, 2, 70})}, {{"axis", Attribute::make_int(1)}}));
    Program cpu = make_cpu_backend()->compile(b.graph(), {});
    Program ref = make_reference_backend()->compile(b.graph(), {});
    std::vector<Tensor> in = random_inputs(b.graph(), 5, -3.f, 3.f);
    const int64_t inner = 2 * 70, nan_at = 1 * 70 + 10;  // column (1, 10)
    in[0].data<float>()[5 * inner + nan_at] = std::nanf("");
    Tensor got = ProgramRunner(cpu).run(in)[0];
    Tensor want = ProgramRunner(ref).run(in)[0];
    for (int64_t k = 0; k < 16; ++k) {
      for (int64_t j = 0; j < inner; ++j) {
        const float g = got.data<float>()[k * inner + j], w = want.data<float>()[k * inner + j];
        if (j == nan_at) {
          EXPECT_TRUE(std::isnan(g)) << op << " row " << k;
        } else {
          EXPECT_NEAR(g, w, 1e-6f * std::max(1.f, std::fabs(w)))
              << op << " row " << k << " col " << j;
        }
      }
    }
  }
}

// The double-precision stem is used where it is cheap: a small share of the model's FLOPs
// (<= 1.5%) or a few MFLOPs in absolute terms; a stem that is most of the work stays on oneDNN.
TEST(CpuBackend, StemRunsInDoubleOnlyWhereCheap) {
  auto stem_impl = [](bool heavy_tail) {
    Builder b(7);
    ValueId y =
        b.conv(b.input({1, 3, 96, 96}), 16, 3, {{"pads", Attribute::make_ints({1, 1, 1, 1})}},
               {Builder::silu()});  // 8 MFLOP
    if (heavy_tail) y = b.conv(y, 256, 3, {{"pads", Attribute::make_ints({1, 1, 1, 1})}});  // 680
    b.output(y);
    Program p = make_cpu_backend()->compile(b.graph(), {});
    return p.steps.at(0).label;
  };
  set_cpu_stem_conv_mode(1);  // the cost rule, as on an AVX-512 CPU
  EXPECT_NE(stem_impl(true).find("[shoal:stem_f64]"), std::string::npos) << stem_impl(true);
  EXPECT_EQ(stem_impl(false).find("stem_f64"), std::string::npos) << stem_impl(false);
  set_cpu_stem_conv_mode(-1);
}

// Both forms of a QDQ convolution (ConvInteger with float output) against the reference: oneDNN's
// int8 primitive and fp32 on the dequantized data, whichever this CPU would choose. Even weights:
// without VNNI oneDNN halves the weights (scale_adjust 0.5), exactly so only for even ones, and
// the int8 form must then still give the exact int32 sums.
TEST(CpuBackend, QuantizedConvBothFormsMatchReference) {
  struct Restore {
    ~Restore() { set_cpu_int8_conv_mode(-1); }
  } restore;
  for (int mode : {0, 1}) {
    for (bool signed_data : {false, true}) {
      SCOPED_TRACE(::testing::Message() << (mode ? "int8" : "float") << " form, "
                                        << (signed_data ? "int8" : "uint8") << " data");
      set_cpu_int8_conv_mode(mode);
      Builder b(11);
      const int64_t ic = 12, oc = 20;
      ValueId x = b.input({2, ic, 9, 10});
      Tensor zp(signed_data ? DType::kI8 : DType::kU8, {});
      zp.set_f64(0, signed_data ? -3 : 131);
      ValueId zx = b.constant(zp);
      ValueId xq = b.op("QuantizeLinear", {x, b.floats({1.f / 110}), zx});
      Tensor w(DType::kI8, {oc, ic / 2, 3, 3});
      for (int64_t i = 0; i < w.numel(); ++i) {
        w.data<int8_t>()[i] = static_cast<int8_t>(2 * (static_cast<int>(b.rng()() % 127) - 63));
      }
      ValueId y =
          b.op("ConvInteger", {xq, b.constant(w), zx, kNoValue},
               {{"kernel_shape", Attribute::make_ints({3, 3})},
                {"pads", Attribute::make_ints({1, 0, 1, 2})},
                {"strides", Attribute::make_ints({1, 2})},
                {"group", Attribute::make_int(2)}},
               {Builder::binary(PostOp::Kind::kMul, 4), Builder::binary(PostOp::Kind::kAdd, 5),
                Builder::act(PostOp::Kind::kLeakyRelu, 0.1f)},
               {b.constant({1, oc, 1, 1}, 1e-5f, 4e-5f), b.constant({1, oc, 1, 1})});
      b.graph().value(y).dtype = DType::kF32;
      b.output(y);
      Program cpu = make_cpu_backend()->compile(b.graph(), {});
      Program ref = make_reference_backend()->compile(b.graph(), {});
      std::string labels;
      for (const Step& st : cpu.steps) labels += st.label + "\n";
      EXPECT_NE(labels.find("ConvInteger"), std::string::npos) << labels;
      EXPECT_EQ(labels.find("[generic"), std::string::npos) << labels;
      EXPECT_EQ(labels.find("int8") != std::string::npos, mode == 1) << labels;
      std::vector<Tensor> in = random_inputs(b.graph(), 5, -1.f, 1.f);
      Error3 e = compare(ProgramRunner(cpu).run(in)[0], ProgramRunner(ref).run(in)[0]);
      EXPECT_LE(e.norm_rel, 1e-6) << e.str() << "\n" << labels;
    }
  }
}

TEST(CpuBackend, RejectsOtherPrecisionsClearly) {
  Builder b(1);
  b.output(b.op("Relu", {b.input({2, 3})}));
  CompileOptions o;
  o.precision = DType::kBF16;
  try {
    make_cpu_backend()->compile(b.graph(), o);
    FAIL() << "bf16 compile should throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("bf16"), std::string::npos) << e.what();
  }
}

TEST(CpuBackend, ComputeThreadsConfigurable) {
  int before = compute_threads();
  EXPECT_GE(before, 1);
  set_compute_threads(1);
  EXPECT_EQ(compute_threads(), 1);
  set_compute_threads(0);
  EXPECT_GE(compute_threads(), 1);
}

// One compiled Program run by two threads at once (separate buffers) gives the same results as a
// single run: kernels hold no per-run state (the runtime pools arenas across executions).
TEST(CpuBackend, KernelsAreReentrant) {
  Builder b(5);
  ValueId x = b.bread(b.input({1, 5, 24, 24}), 32);
  std::vector<ValueId> parts =
      b.node("Split", {x, b.ints({16, 16})}, {{"axis", Attribute::make_int(1)}}, 2);
  ValueId m = b.conv(parts[1], 16, 3, {{"pads", Attribute::make_ints({1, 1, 1, 1})}},
                     {Builder::silu(), Builder::binary(K::kAdd, 3)}, {parts[1]});
  ValueId cat = b.op("Concat", {parts[0], parts[1], m}, {{"axis", Attribute::make_int(1)}});
  ValueId r = b.op("Reshape", {b.bread(cat, 16), b.ints({1, 16, -1})});
  b.output(b.op("Softmax", {r}, {{"axis", Attribute::make_int(1)}}));
  Program p = make_cpu_backend()->compile(b.graph(), {});
  std::vector<Tensor> in = random_inputs(b.graph(), 3, -1.f, 1.f);
  std::vector<Tensor> want = ProgramRunner(p).run(in);
  std::vector<Tensor> got[2];
  auto work = [&](int t) {
    for (int i = 0; i < 20; ++i) got[t] = ProgramRunner(p).run(in);
  };
  std::thread t0(work, 0), t1(work, 1);
  t0.join();
  t1.join();
  for (const auto& g : got) {
    ASSERT_EQ(g.size(), 1u);
    EXPECT_EQ(std::memcmp(g[0].raw(), want[0].raw(), want[0].nbytes()), 0);
  }
}

TEST(CpuBackend, ReportsPackedWeightsAndFlops) {
  Builder b(3);
  b.output(b.conv(b.input({1, 16, 8, 8}), 32, 3, {{"pads", Attribute::make_ints({1, 1, 1, 1})}}));
  Program p = make_cpu_backend()->compile(b.graph(), {});
  ASSERT_EQ(p.steps.size(), 1u);
  EXPECT_DOUBLE_EQ(p.steps[0].flops, 2.0 * 32 * 8 * 8 * 16 * 9);
  EXPECT_GE(p.packed_weight_bytes, (32u * 16 * 9 + 32) * 4);
}

}  // namespace
}  // namespace shoal
