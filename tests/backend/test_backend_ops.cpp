// Backend-ops test (after ggml's test-backend-ops): every op the cpu backend implements natively
// (each row of backend/cpu/cpu_ops.def), in plain and channel-blocked layouts (nChw16c and
// nChw8c), with fused post-ops, views and Concat elision, checked against the reference backend
// on random data (fixed seeds, never zeros). Each case is a tiny hand-built graph; "sandwich"
// cases put the op between two 1x1 convs so it runs on blocked values. Cpu/BackendOpsCoverage
// iterates the op table and fails, naming the op, for a row no case runs natively.
//
// Tolerances (fp32 kernels vs the double-precision oracle): norm-wise relative error
// ||out - ref|| / ||ref|| <= 1e-5 for most ops; 2e-5 for exp-based ops (softmax, sigmoid chains);
// 0 for pure data movement (views, copies, reorders, pools with max). Also max |out - ref| <=
// 50 * tol * max(1, max |ref|).
//
// At the end the test prints how many cases ran fully native, how many steps fell back to the
// generic reference kernel (with reasons) and how many used a slow oneDNN reference
// implementation. The cpu backend's other unit tests are in test_cpu_backend.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "backend_test_util.h"
#include "test_util.h"

namespace shoal {
namespace {

struct OpCase {
  std::string name;
  std::function<void(Builder&)> build;
  double tol = 1e-5;
  bool expect_native = true;  // no generic steps
  bool expect_fast = true;    // no oneDNN reference implementations
  int max_copies = -1;        // -1: not checked
  int max_reorders = -1;
  bool expect_blocked = false;        // at least one channel-blocked value
  const char* expect_impl = nullptr;  // some step's label names this implementation
  float in_lo = -1.f, in_hi = 1.f;    // range of the random inputs
};

void PrintTo(const OpCase& c, std::ostream* os) { *os << c.name; }

struct Totals {
  int cases = 0, native_cases = 0, generic_steps = 0, slow_steps = 0;
  std::map<std::string, int> generic_reasons;
};
Totals& totals() {
  static Totals t;
  return t;
}

class SummaryPrinter : public ::testing::Environment {
 public:
  void TearDown() override {
    const Totals& t = totals();
    if (t.cases == 0) return;
    std::printf(
        "\nbackend-ops summary (cpu vs reference): %d cases, %d fully native, "
        "%d generic steps, %d steps on oneDNN reference implementations\n",
        t.cases, t.native_cases, t.generic_steps, t.slow_steps);
    for (const auto& [why, n] : t.generic_reasons) {
      std::printf("  NOT NATIVE x%d: %s\n", n, why.c_str());
    }
  }
};
[[maybe_unused]] ::testing::Environment* const g_summary =
    ::testing::AddGlobalTestEnvironment(new SummaryPrinter);

// check_impls: also the expectations on implementations (no oneDNN reference implementations,
// the named kernel), which hold only for the channel block this CPU has JIT kernels for.
void check_case(const OpCase& c, bool check_impls = true) {
  // The double-precision stem kernel is checked on every CPU, though only AVX-512 ones use it.
  struct StemMode {
    explicit StemMode(bool force) {
      if (force) set_cpu_stem_conv_mode(1);
    }
    ~StemMode() { set_cpu_stem_conv_mode(-1); }
  } stem_mode(c.expect_impl && std::string(c.expect_impl) == "stem_f64");
  Builder b(1234);
  c.build(b);
  Graph& g = b.graph();
  Program ref = make_reference_backend()->compile(g, {});
  Program cpu = make_cpu_backend()->compile(g, {});
  ProgramRunner(cpu).validate();
  std::vector<Tensor> in = random_inputs(g, 99, c.in_lo, c.in_hi);
  std::vector<Tensor> want = ProgramRunner(ref).run(in);
  std::vector<Tensor> got = ProgramRunner(cpu).run(in);
  ASSERT_EQ(want.size(), got.size());

  CpuProgramSummary s = summarize_cpu_program(cpu);
  Totals& t = totals();
  ++t.cases;
  if (s.generic == 0) ++t.native_cases;
  t.generic_steps += s.generic;
  t.slow_steps += s.slow;
  std::string steps;
  for (const Step& st : cpu.steps) {
    steps += "\n    " + st.label;
    if (st.label.find("[generic") != std::string::npos) {
      std::string why = st.label.substr(st.label.find("[generic") + 1);
      why.pop_back();
      ++t.generic_reasons[st.op + ": " + why];
    }
  }
  SCOPED_TRACE(c.name + ": " + format_cpu_summary(s) + steps);
  for (size_t i = 0; i < want.size(); ++i) {
    Error3 e = compare(got[i], want[i]);
    EXPECT_LE(e.norm_rel, c.tol) << "output " << i << ": " << e.str();
    EXPECT_LE(e.max_abs, 50 * c.tol * std::max(1.0, e.ref_max_abs))
        << "output " << i << ": " << e.str();
  }
  if (c.expect_native) {
    EXPECT_EQ(s.generic, 0);
  }
  if (check_impls && c.expect_fast && cpu_blocked_layouts_native()) {
    EXPECT_EQ(s.slow, 0);
  }
  if (c.max_copies >= 0) {
    EXPECT_LE(s.copies, c.max_copies);
  }
  if (c.max_reorders >= 0) {
    EXPECT_LE(s.reorders, c.max_reorders);
  }
  if (c.expect_blocked) {
    EXPECT_GT(s.blocked_values, 0);
  }
  // oneDNN 2.6's Winograd kernel is AVX-512 only (on nChw16c).
  const bool winograd_here = cpu_channel_block() == 16 && cpu_blocked_layouts_native();
  if (check_impls && c.expect_impl &&
      (winograd_here || std::string(c.expect_impl).find("wino") == std::string::npos)) {
    EXPECT_NE(steps.find(c.expect_impl), std::string::npos) << "no step runs " << c.expect_impl;
  }
}

// ---- the cases ----

using K = PostOp::Kind;

std::vector<OpCase> conv_cases() {
  std::vector<OpCase> v;
  struct Shape {
    int64_t n, ic, oc, h, w, k, s, p, g, d;
  };
  const Shape shapes[] = {
      {1, 3, 16, 32, 32, 3, 2, 1, 1, 1},    // YOLO stem
      {1, 3, 32, 17, 19, 3, 1, 1, 1, 1},    // odd spatial
      {1, 17, 24, 15, 13, 3, 1, 1, 1, 1},   // odd channels
      {1, 16, 48, 20, 20, 1, 1, 0, 1, 1},   // 1x1
      {2, 32, 32, 12, 12, 3, 1, 1, 1, 1},   // batch 2
      {1, 24, 24, 14, 14, 3, 1, 1, 24, 1},  // depthwise
      {1, 32, 32, 15, 15, 3, 2, 1, 32, 1},  // depthwise stride 2
      {1, 16, 32, 16, 16, 3, 1, 2, 1, 2},   // dilation 2
      {1, 32, 64, 10, 10, 3, 2, 1, 2, 1},   // groups 2
      {1, 64, 64, 20, 20, 3, 1, 1, 1, 1},   // yolov8 bottleneck
      {1, 48, 17, 9, 11, 5, 1, 2, 1, 1},    // 5x5, odd out channels
      {1, 128, 128, 10, 10, 3, 2, 1, 1, 1},
  };
  for (const Shape& sh : shapes) {
    std::string base = fmt::format("Conv_n{}_{}to{}_{}x{}_k{}s{}p{}g{}d{}", sh.n, sh.ic, sh.oc,
                                   sh.h, sh.w, sh.k, sh.s, sh.p, sh.g, sh.d);
    Attrs a = {{"strides", Attribute::make_ints({sh.s, sh.s})},
               {"pads", Attribute::make_ints({sh.p, sh.p, sh.p, sh.p})},
               {"dilations", Attribute::make_ints({sh.d, sh.d})},
               {"group", Attribute::make_int(sh.g)}};
    v.push_back({base + "_plain", [=](Builder& b) {
                   b.output(b.conv(b.input({sh.n, sh.ic, sh.h, sh.w}), sh.oc, sh.k, a));
                 }});
    v.push_back({base + "_sandwich", [=](Builder& b) {
                   ValueId x = b.bread(b.input({sh.n, 5, sh.h, sh.w}), sh.ic);
                   ValueId y = b.conv(x, sh.oc, sh.k, a, {Builder::silu()});
                   b.output(b.bread(y, 16));
                 }});
  }
  // A depthwise conv on plain data (yolo11's attention `pe` conv reads a reshaped MatMul output)
  // runs oneDNN's jit_dw on blocked data, not its per-group GEMM kernel (80x slower there).
  v.push_back({"Conv_depthwise_plain_input_takes_jit_dw",
               [](Builder& b) {
                 ValueId x = b.input({1, 128, 20, 20});
                 ValueId r = b.input({1, 128, 20, 20});
                 b.output(b.conv(x, 128, 3,
                                 {{"pads", Attribute::make_ints({1, 1, 1, 1})},
                                  {"group", Attribute::make_int(128)}},
                                 {Builder::binary(PostOp::Kind::kAdd, 3)}, {r}));
               },
               1e-5, true, true, -1, -1, false, "jit_dw"});
  // A 1x1 conv on channels off the block (a ShuffleNet stage's 116) runs as oneDNN's GEMM
  // convolution; its fused activation and residual Add run after it as primitives (GEMM applies
  // a binary post-op element by element, 20x slower).
  v.push_back({"Conv1x1_off_block_gemm_leaky_add",
               [](Builder& b) {
                 ValueId x = b.input({1, 116, 13, 11});
                 ValueId r = b.input({1, 24, 13, 11});
                 b.output(b.conv(x, 24, 1, {},
                                 {Builder::act(PostOp::Kind::kLeakyRelu, 0.1f),
                                  Builder::binary(PostOp::Kind::kAdd, 3)},
                                 {r}));
               },
               1e-5, true, true, -1, -1, false, "gemm"});
  // A 3x3 conv with channels off the 16-block on plain data (yolov8n-pose's 51-channel keypoint
  // head) runs the blocked jit kernel with reorders, not oneDNN's im2col GEMM (1.7x slower there).
  v.push_back({"Conv_51ch_3x3_plain_takes_blocked_jit",
               [](Builder& b) {
                 b.output(b.conv(b.input({1, 51, 20, 20}), 51, 3,
                                 {{"pads", Attribute::make_ints({1, 1, 1, 1})}},
                                 {Builder::silu()}));
               },
               1e-5, true, true, -1, -1, false, "[jit:"});
  // Asymmetric pads, no bias, auto_pad.
  v.push_back({"Conv_asym_pads_nobias", [](Builder& b) {
                 b.output(b.conv(b.input({1, 16, 11, 9}), 32, 3,
                                 {{"pads", Attribute::make_ints({0, 1, 2, 1})}}, {}, {}, false));
               }});
  for (const char* ap : {"SAME_UPPER", "SAME_LOWER", "VALID"}) {
    v.push_back({std::string("Conv_auto_pad_") + ap, [ap](Builder& b) {
                   ValueId x = b.bread(b.input({1, 4, 13, 13}), 32);
                   b.output(b.conv(x, 16, 4,
                                   {{"auto_pad", Attribute::make_string(ap)},
                                    {"strides", Attribute::make_ints({2, 2})}}));
                 }});
  }
  v.push_back({"Conv1d", [](Builder& b) {
                 b.output(b.conv(b.input({1, 16, 50}), 24, 3,
                                 {{"pads", Attribute::make_ints({1, 1})}}, {b.silu()}));
               }});
  v.push_back({"Conv3d", [](Builder& b) {
                 b.output(b.conv(b.input({1, 4, 6, 7, 8}), 8, 3,
                                 {{"pads", Attribute::make_ints({1, 1, 1, 1, 1, 1})}}));
               }});
  // Every fused activation, plain and blocked.
  struct Act {
    const char* name;
    PostOp p;
  };
  const Act acts[] = {{"relu", Builder::act(K::kRelu)},
                      {"leaky_relu", Builder::act(K::kLeakyRelu, 0.1f)},
                      {"sigmoid", Builder::act(K::kSigmoid)},
                      {"silu", Builder::act(K::kSilu)},
                      {"hard_sigmoid", Builder::act(K::kHardSigmoid, 0.2f, 0.5f)},
                      {"hard_swish", Builder::act(K::kHardSwish)},
                      {"clip", Builder::act(K::kClip, -0.5f, 0.7f)},
                      {"tanh", Builder::act(K::kTanh)},
                      {"mish", Builder::act(K::kMish)},
                      {"elu", Builder::act(K::kElu, 0.7f)}};
  for (const Act& act : acts) {
    PostOp p = act.p;
    v.push_back({std::string("Conv_post_") + act.name + "_plain", [p](Builder& b) {
                   b.output(b.conv(b.input({1, 24, 12, 12}), 40, 3,
                                   {{"pads", Attribute::make_ints({1, 1, 1, 1})}}, {p}));
                 }});
    v.push_back({std::string("Conv_post_") + act.name + "_blocked", [p](Builder& b) {
                   ValueId x = b.bread(b.input({1, 8, 12, 12}), 32);
                   b.output(b.bread(
                       b.conv(x, 32, 3, {{"pads", Attribute::make_ints({1, 1, 1, 1})}}, {p}), 16));
                 }});
  }
  // Residual forms: silu(conv(x)) + r, same shape, blocked and plain; broadcast Mul.
  v.push_back(
      {"Conv_silu_add_blocked",
       [](Builder& b) {
         ValueId x = b.bread(b.input({1, 8, 16, 16}), 32);
         ValueId h = b.conv(x, 32, 3, {{"pads", Attribute::make_ints({1, 1, 1, 1})}}, {b.silu()});
         ValueId y = b.conv(h, 32, 3, {{"pads", Attribute::make_ints({1, 1, 1, 1})}},
                            {b.silu(), b.binary(K::kAdd, 3)}, {x});
         b.output(b.bread(y, 16));
       },
       1e-5, true, true, 0, 0, true});
  v.push_back({"Conv_silu_add_plain", [](Builder& b) {
                 ValueId x = b.input({1, 12, 9, 9});
                 ValueId r = b.input({1, 20, 9, 9});
                 b.output(b.conv(x, 20, 3, {{"pads", Attribute::make_ints({1, 1, 1, 1})}},
                                 {b.silu(), b.binary(K::kAdd, 3)}, {r}));
               }});
  v.push_back({"Conv_add_then_relu_blocked_graph_input_residual", [](Builder& b) {
                 // The residual is a graph input (plain) while the conv output is blocked.
                 ValueId x = b.bread(b.input({1, 8, 10, 10}), 32);
                 ValueId r = b.input({1, 32, 10, 10});
                 ValueId y = b.conv(x, 32, 1, {}, {b.binary(K::kAdd, 3), b.act(K::kRelu)}, {r});
                 b.output(b.bread(y, 16));
               }});
  v.push_back({"Conv_mul_broadcast_blocked", [](Builder& b) {
                 ValueId x = b.bread(b.input({1, 8, 10, 10}), 32);
                 ValueId s = b.constant({1, 32, 1, 1});
                 ValueId y = b.conv(x, 32, 3, {{"pads", Attribute::make_ints({1, 1, 1, 1})}},
                                    {b.silu(), b.binary(K::kMul, 3)}, {s});
                 b.output(b.bread(y, 16));
               }});
  // Winograd F(2x2,3x3) (3x3 stride 1, nChw16c, output plane >= 40x40): odd planes, fused and
  // separately run post-ops (SiLU, SiLU + residual Add, Relu), no padding, no bias.
  struct Wino {
    const char* name;
    int64_t ic, oc, h, w;
    std::vector<PostOp> post;
    bool residual, bias;
    Dims pads;
  };
  const Wino winos[] = {
      {"silu", 64, 32, 81, 83, {Builder::silu()}, false, true, {1, 1, 1, 1}},
      {"silu_add",
       64,
       64,
       40,
       45,
       {Builder::silu(), Builder::binary(K::kAdd, 3)},
       true,
       true,
       {1, 1, 1, 1}},
      {"relu", 80, 16, 57, 41, {Builder::act(K::kRelu)}, false, true, {1, 1, 1, 1}},
      {"none_nobias_valid", 64, 16, 50, 51, {}, false, false, {0, 0, 0, 0}},
      // ic x oc beyond what one Winograd primitive takes: run as output-channel slices.
      {"split_silu", 128, 80, 41, 43, {Builder::silu()}, false, true, {1, 1, 1, 1}},
      {"split_silu_add",
       128,
       128,
       40,
       40,
       {Builder::silu(), Builder::binary(K::kAdd, 3)},
       true,
       true,
       {1, 1, 1, 1}},
      {"split_nobias_valid", 96, 112, 44, 42, {}, false, false, {0, 0, 0, 0}},
      // Channels off the 16-block: zero-padded to it around the Winograd kernel.
      {"padded_51to51_silu", 51, 51, 41, 45, {Builder::silu()}, false, true, {1, 1, 1, 1}},
      {"padded_64to51_silu", 64, 51, 40, 40, {Builder::silu()}, false, true, {1, 1, 1, 1}},
      {"padded_24to40_nobias_valid", 24, 40, 46, 44, {}, false, false, {0, 0, 0, 0}},
  };
  for (const Wino& wc : winos) {
    v.push_back({std::string("Conv_winograd_") + wc.name,
                 [wc](Builder& b) {
                   ValueId x = b.bread(b.input({1, 5, wc.h, wc.w}), wc.ic);
                   std::vector<ValueId> extra;
                   if (wc.residual) extra.push_back(x);
                   ValueId y = b.conv(x, wc.oc, 3, {{"pads", Attribute::make_ints(wc.pads)}},
                                      wc.post, extra, wc.bias);
                   b.output(b.bread(y, 16));
                 },
                 1e-5, true, true, -1, -1, wc.ic % 16 == 0 && wc.oc % 16 == 0, "wino_2x3"});
  }
  // Large biases (BatchNorm folded into the conv; |b| >= 2 ||w||): the bias is added after the
  // products are summed, so the result is about one fp32 rounding of the output from the double
  // reference (0.6-1.0e-8 here). Adding the products onto the bias, as oneDNN's direct kernels do
  // with a bias argument, is 5-20x further away (5e-8 to 1.9e-7) and fails the 3e-8 bound.
  struct BigBias {
    const char* name;
    int64_t ic, oc, hw, k, group;
  };
  const BigBias bigs[] = {{"1x1", 64, 64, 20, 1, 1},
                          {"3x3", 64, 64, 12, 3, 1},
                          {"depthwise", 64, 64, 20, 3, 64},
                          {"winograd", 64, 64, 40, 3, 1}};
  for (const BigBias& bb : bigs) {
    v.push_back({std::string("Conv_large_bias_") + bb.name,
                 [bb](Builder& b) {
                   ValueId x = b.bread(b.input({1, 5, bb.hw, bb.hw}), bb.ic);
                   b.output(b.conv(x, bb.oc, bb.k,
                                   {{"pads", Attribute::make_ints(Dims(4, bb.k / 2))},
                                    {"group", Attribute::make_int(bb.group)}},
                                   {}, {}, true, 30.f));
                 },
                 3e-8, true, true, -1, -1, true});
  }
  v.push_back(
      {"Conv_large_bias_convtranspose_k2s2",
       [](Builder& b) {
         ValueId x = b.bread(b.input({1, 5, 20, 20}), 64);
         b.output(b.op("ConvTranspose",
                       {x, b.constant({64, 64, 2, 2}, -0.2f, 0.2f), b.constant({64}, -30.f, 30.f)},
                       {{"kernel_shape", Attribute::make_ints({2, 2})},
                        {"strides", Attribute::make_ints({2, 2})}}));
       },
       3e-8, true, true, -1, -1, true, "jit_1x1"});
  // ConvTranspose (yolov8-seg's proto upsampler k2 s2; padded with output_padding; groups).
  v.push_back({"ConvTranspose_k2s2_blocked", [](Builder& b) {
                 ValueId x = b.bread(b.input({1, 8, 10, 10}), 32);
                 ValueId y = b.op("ConvTranspose",
                                  {x, b.constant({32, 32, 2, 2}, -0.2f, 0.2f), b.constant({32})},
                                  {{"kernel_shape", Attribute::make_ints({2, 2})},
                                   {"strides", Attribute::make_ints({2, 2})}},
                                  {b.silu()});
                 b.output(b.bread(y, 16));
               }});
  // Kernel = stride, no padding: run as a 1x1 conv to taps*oc channels and a depth-to-space
  // reorder (batch 2, 3x3 taps, non-square; and 2x3 taps without bias).
  v.push_back({"ConvTranspose_k3s3_batch2_as_1x1",
               [](Builder& b) {
                 ValueId x = b.bread(b.input({2, 5, 7, 9}), 48);
                 ValueId y = b.op("ConvTranspose",
                                  {x, b.constant({48, 32, 3, 3}, -0.2f, 0.2f), b.constant({32})},
                                  {{"kernel_shape", Attribute::make_ints({3, 3})},
                                   {"strides", Attribute::make_ints({3, 3})}},
                                  {b.silu()});
                 b.output(b.bread(y, 16));
               },
               1e-5, true, true, -1, -1, true, "jit_1x1"});
  v.push_back({"ConvTranspose_k2x3s2x3_nobias_as_1x1",
               [](Builder& b) {
                 ValueId x = b.bread(b.input({1, 5, 6, 5}), 32);
                 ValueId y = b.op("ConvTranspose", {x, b.constant({32, 16, 2, 3}, -0.2f, 0.2f)},
                                  {{"kernel_shape", Attribute::make_ints({2, 3})},
                                   {"strides", Attribute::make_ints({2, 3})}});
                 b.output(b.bread(y, 16));
               },
               1e-5, true, true, -1, -1, true, "jit_1x1"});
  // Output channels off the block (a text detector's probability map): the taps fill one
  // channel block of the 1x1 conv, the output is plain.
  v.push_back({"ConvTranspose_k2s2_one_channel_as_1x1",
               [](Builder& b) {
                 ValueId x = b.bread(b.input({1, 5, 10, 12}), 32);
                 b.output(b.op("ConvTranspose",
                               {x, b.constant({32, 1, 2, 2}, -0.3f, 0.3f), b.constant({1})},
                               {{"kernel_shape", Attribute::make_ints({2, 2})},
                                {"strides", Attribute::make_ints({2, 2})}},
                               {b.act(PostOp::Kind::kSigmoid)}));
               },
               1e-5, true, true, -1, -1, true, "jit_1x1"});
  v.push_back({"ConvTranspose_k2s2_two_channels_batch2_nobias_as_1x1",
               [](Builder& b) {
                 ValueId x = b.bread(b.input({2, 5, 7, 9}), 16);
                 b.output(b.op("ConvTranspose", {x, b.constant({16, 2, 2, 2}, -0.3f, 0.3f)},
                               {{"kernel_shape", Attribute::make_ints({2, 2})},
                                {"strides", Attribute::make_ints({2, 2})}}));
               },
               1e-5, true, true, -1, -1, true, "jit_1x1"});
  v.push_back({"ConvTranspose_k3s2p1op1_plain", [](Builder& b) {
                 b.output(b.op("ConvTranspose",
                               {b.input({1, 8, 7, 9}), b.constant({8, 12, 3, 3}, -0.3f, 0.3f)},
                               {{"kernel_shape", Attribute::make_ints({3, 3})},
                                {"strides", Attribute::make_ints({2, 2})},
                                {"pads", Attribute::make_ints({1, 1, 1, 1})},
                                {"output_padding", Attribute::make_ints({1, 1})}}));
               }});
  v.push_back(
      {"ConvTranspose_groups2", [](Builder& b) {
         b.output(b.op(
             "ConvTranspose",
             {b.input({1, 8, 6, 6}), b.constant({8, 3, 3, 3}, -0.3f, 0.3f), b.constant({6})},
             {{"kernel_shape", Attribute::make_ints({3, 3})}, {"group", Attribute::make_int(2)}}));
       }});
  // ConvInteger: int8 data and weights, exact int32 sums; the fused form fuse_quantized_conv
  // writes (float32 output, post-ops Mul(scale per channel), Add(bias), an activation) after a
  // QuantizeLinear with a zero point, and the plain int32 form.
  for (bool blocked_after : {false, true}) {
    v.push_back({std::string("ConvInteger_fused_u8_zp_silu") + (blocked_after ? "_blocked" : ""),
                 [blocked_after](Builder& b) {
                   const int64_t ic = 16, oc = 24;
                   ValueId x = b.input({1, ic, 11, 13});
                   Tensor zp(DType::kU8, {});
                   zp.data<uint8_t>()[0] = 120;
                   ValueId zx = b.constant(zp);
                   ValueId xq = b.op("QuantizeLinear", {x, b.floats({1.f / 100}), zx});
                   Tensor w(DType::kI8, {oc, ic, 3, 3});
                   for (int64_t i = 0; i < w.numel(); ++i) {
                     w.data<int8_t>()[i] =
                         static_cast<int8_t>(static_cast<int>(b.rng()() % 255) - 127);
                   }
                   ValueId scale = b.constant({1, oc, 1, 1}, 1e-5f, 4e-5f);
                   ValueId bias = b.constant({1, oc, 1, 1}, -0.5f, 0.5f);
                   ValueId y = b.op(
                       "ConvInteger", {xq, b.constant(w), zx, kNoValue},
                       {{"kernel_shape", Attribute::make_ints({3, 3})},
                        {"pads", Attribute::make_ints({1, 1, 1, 1})}},
                       {Builder::binary(K::kMul, 4), Builder::binary(K::kAdd, 5), Builder::silu()},
                       {scale, bias});
                   b.graph().value(y).dtype = DType::kF32;
                   b.output(blocked_after ? b.bread(y, 16) : y);
                 },
                 1e-5, false, true, -1, -1, false, "ConvInteger"});
  }
  // QuantizeLinear -> DequantizeLinear (uint8 with a zero point, int8 without), inputs beyond
  // the quantized range so both saturate: bit for bit what the reference gives.
  for (bool s8 : {false, true}) {
    v.push_back({std::string("QuantizeDequantize_") + (s8 ? "s8" : "u8_zp"),
                 [s8](Builder& b) {
                   Tensor zp(s8 ? DType::kI8 : DType::kU8, {});
                   zp.set_f64(0, s8 ? 0 : 100);
                   ValueId z = b.constant(zp), s = b.floats({1.f / 60});
                   ValueId q = b.op("QuantizeLinear", {b.input({2, 5, 7, 9}), s, z});
                   b.output(b.op("DequantizeLinear", {q, s, z}));
                 },
                 0, true, true, -1, -1, false, "quantize", -3.f, 3.f});
  }
  v.push_back({"ConvInteger_int32_s8_stride2",
               [](Builder& b) {
                 ValueId x = b.input({1, 8, 10, 10});
                 Tensor zp(DType::kI8, {});
                 zp.data<int8_t>()[0] = 0;
                 ValueId xq = b.op("QuantizeLinear", {x, b.floats({1.f / 120}), b.constant(zp)});
                 Tensor w(DType::kI8, {12, 8, 3, 3});
                 for (int64_t i = 0; i < w.numel(); ++i) {
                   w.data<int8_t>()[i] =
                       static_cast<int8_t>(static_cast<int>(b.rng()() % 255) - 127);
                 }
                 b.output(b.op("ConvInteger", {xq, b.constant(w)},
                               {{"kernel_shape", Attribute::make_ints({3, 3})},
                                {"strides", Attribute::make_ints({2, 2})}}));
               },
               0, false});
  return v;
}

// Wraps a single-input op: plain on `plain_dims`, and between two 1x1 convs with `blocked_c`
// channels (nChw16c) when blocked_c > 0.
void add_unary_cases(std::vector<OpCase>& v, const std::string& name,
                     std::function<ValueId(Builder&, ValueId)> f, Dims plain_dims,
                     int64_t blocked_c, double tol = 1e-5, bool expect_native = true) {
  v.push_back({name + "_plain", [=](Builder& b) { b.output(f(b, b.input(plain_dims))); }, tol,
               expect_native});
  if (blocked_c > 0) {
    v.push_back({name + "_blocked",
                 [=](Builder& b) {
                   ValueId x = b.bread(b.input({1, 5, 12, 14}), blocked_c);
                   b.output(b.bread(f(b, x), 16));
                 },
                 std::max(tol, 1e-5), expect_native, true, -1, expect_native ? 0 : -1,
                 expect_native});
  }
}

std::vector<OpCase> pool_resize_cases() {
  std::vector<OpCase> v;
  auto pool = [](const std::string& type, Attrs a) {
    return [=](Builder& b, ValueId x) { return b.op(type, {x}, a); };
  };
  auto slow_ok = [](std::vector<OpCase>& v, size_t n) {
    for (size_t i = v.size() - n; i < v.size(); ++i) v[i].expect_fast = false;
  };
  add_unary_cases(v, "MaxPool_k5s1p2",
                  pool("MaxPool", {{"kernel_shape", Attribute::make_ints({5, 5})},
                                   {"pads", Attribute::make_ints({2, 2, 2, 2})}}),
                  {1, 8, 10, 10}, 32, 0);
  add_unary_cases(v, "MaxPool_k3s2p1",
                  pool("MaxPool", {{"kernel_shape", Attribute::make_ints({3, 3})},
                                   {"strides", Attribute::make_ints({2, 2})},
                                   {"pads", Attribute::make_ints({1, 1, 1, 1})}}),
                  {2, 8, 11, 11}, 32, 0);
  add_unary_cases(v, "MaxPool_k2s2_ceil",
                  pool("MaxPool", {{"kernel_shape", Attribute::make_ints({2, 2})},
                                   {"strides", Attribute::make_ints({2, 2})},
                                   {"ceil_mode", Attribute::make_int(1)}}),
                  {1, 3, 7, 9}, 16, 0);
  add_unary_cases(v, "MaxPool_k3_dilation2",
                  pool("MaxPool", {{"kernel_shape", Attribute::make_ints({3, 3})},
                                   {"dilations", Attribute::make_ints({2, 2})}}),
                  {1, 4, 9, 9}, 16, 0);
  slow_ok(v, 2);  // oneDNN 2.6 has no jit kernel for dilated pooling
  add_unary_cases(v, "AveragePool_k3s2p1_exclude",
                  pool("AveragePool", {{"kernel_shape", Attribute::make_ints({3, 3})},
                                       {"strides", Attribute::make_ints({2, 2})},
                                       {"pads", Attribute::make_ints({1, 1, 1, 1})}}),
                  {1, 6, 9, 9}, 32);
  add_unary_cases(v, "AveragePool_k3s2p1_include",
                  pool("AveragePool", {{"kernel_shape", Attribute::make_ints({3, 3})},
                                       {"strides", Attribute::make_ints({2, 2})},
                                       {"pads", Attribute::make_ints({1, 1, 1, 1})},
                                       {"count_include_pad", Attribute::make_int(1)}}),
                  {1, 6, 9, 9}, 32);
  add_unary_cases(v, "AveragePool_k2s2_ceil_exclude",
                  pool("AveragePool", {{"kernel_shape", Attribute::make_ints({2, 2})},
                                       {"strides", Attribute::make_ints({2, 2})},
                                       {"ceil_mode", Attribute::make_int(1)}}),
                  {1, 6, 7, 7}, 16);
  add_unary_cases(v, "AveragePool_ceil_include_overhang",
                  pool("AveragePool", {{"kernel_shape", Attribute::make_ints({2, 2})},
                                       {"strides", Attribute::make_ints({2, 2})},
                                       {"ceil_mode", Attribute::make_int(1)},
                                       {"count_include_pad", Attribute::make_int(1)}}),
                  {1, 6, 7, 7}, 0, 1e-5, false);
  add_unary_cases(v, "GlobalAveragePool", pool("GlobalAveragePool", {}), {2, 7, 5, 6}, 32);
  add_unary_cases(v, "GlobalMaxPool", pool("GlobalMaxPool", {}), {2, 7, 5, 6}, 32, 0);

  auto resize = [](Attrs a, std::vector<float> scales) {
    return [=](Builder& b, ValueId x) {
      ValueId roi = b.floats({});
      return b.op("Resize", {x, roi, b.floats(scales)}, a);
    };
  };
  Attrs nearest_floor = {{"mode", Attribute::make_string("nearest")},
                         {"coordinate_transformation_mode", Attribute::make_string("asymmetric")},
                         {"nearest_mode", Attribute::make_string("floor")}};
  add_unary_cases(v, "Resize_nearest_asym_floor_x2", resize(nearest_floor, {1, 1, 2, 2}),
                  {1, 6, 5, 7}, 32, 0);
  add_unary_cases(v, "Resize_nearest_asym_floor_x3x2", resize(nearest_floor, {1, 1, 3, 2}),
                  {2, 3, 4, 5}, 16, 0);
  add_unary_cases(v, "Resize_nearest_half_pixel_x2",
                  resize({{"mode", Attribute::make_string("nearest")}}, {1, 1, 2, 2}), {1, 6, 5, 7},
                  16, 0);
  add_unary_cases(v, "Resize_linear_half_pixel_x2",
                  resize({{"mode", Attribute::make_string("linear")}}, {1, 1, 2, 2}), {1, 6, 5, 7},
                  32);
  add_unary_cases(
      v, "Resize_linear_pytorch_half_pixel_x2",
      resize({{"mode", Attribute::make_string("linear")},
              {"coordinate_transformation_mode", Attribute::make_string("pytorch_half_pixel")}},
             {1, 1, 2, 2}),
      {1, 6, 5, 7}, 16);
  add_unary_cases(
      v, "Resize_linear_align_corners",
      resize({{"mode", Attribute::make_string("linear")},
              {"coordinate_transformation_mode", Attribute::make_string("align_corners")}},
             {1, 1, 2, 2}),
      {1, 6, 5, 7}, 0, 1e-5, false);
  add_unary_cases(v, "Resize_nearest_x1.5", resize(nearest_floor, {1, 1, 1.5f, 1.5f}), {1, 6, 6, 6},
                  0, 1e-5, false);
  // Upsample (opsets 7-9; deprecated by Resize-10): nearest with scales as an input.
  add_unary_cases(
      v, "Upsample_opset9_nearest_x2",
      [](Builder& b, ValueId x) {
        b.graph().opset = 9;
        return b.op("Upsample", {x, b.floats({1, 1, 2, 2})},
                    {{"mode", Attribute::make_string("nearest")}});
      },
      {1, 5, 4, 7}, 16, 0);
  v.push_back({"Resize_nearest_sizes",
               [](Builder& b) {
                 ValueId x = b.input({1, 4, 5, 6});
                 b.output(
                     b.op("Resize", {x, b.floats({}), b.floats({}), b.ints({1, 4, 10, 18})},
                          {{"mode", Attribute::make_string("nearest")},
                           {"coordinate_transformation_mode", Attribute::make_string("asymmetric")},
                           {"nearest_mode", Attribute::make_string("floor")}}));
               },
               0});
  return v;
}

std::vector<OpCase> eltwise_cases() {
  std::vector<OpCase> v;
  for (const char* op :
       {"Relu", "Sigmoid", "HardSwish", "Tanh", "Abs", "Neg", "Exp", "Softplus", "Mish"}) {
    std::string o = op;
    add_unary_cases(
        v, o, [o](Builder& b, ValueId x) { return b.op(o, {x}); }, {2, 5, 7}, 32);
  }
  add_unary_cases(
      v, "LeakyRelu",
      [](Builder& b, ValueId x) {
        return b.op("LeakyRelu", {x}, {{"alpha", Attribute::make_float(0.2f)}});
      },
      {2, 5, 7}, 32);
  add_unary_cases(
      v, "Elu",
      [](Builder& b, ValueId x) {
        return b.op("Elu", {x}, {{"alpha", Attribute::make_float(0.7f)}});
      },
      {2, 5, 7}, 32);
  add_unary_cases(
      v, "Selu",
      [](Builder& b, ValueId x) {
        return b.op(
            "Selu", {x},
            {{"alpha", Attribute::make_float(1.5f)}, {"gamma", Attribute::make_float(1.1f)}});
      },
      {2, 5, 7}, 32);
  add_unary_cases(
      v, "HardSigmoid",
      [](Builder& b, ValueId x) {
        return b.op(
            "HardSigmoid", {x},
            {{"alpha", Attribute::make_float(0.3f)}, {"beta", Attribute::make_float(0.4f)}});
      },
      {2, 5, 7}, 32);
  add_unary_cases(
      v, "Clip",
      [](Builder& b, ValueId x) {
        ValueId lo = b.constant(Tensor(DType::kF32, {}));
        Tensor hi(DType::kF32, {});
        hi.data<float>()[0] = 0.3f;
        return b.op("Clip", {x, lo, b.constant(hi)});
      },
      {2, 5, 7}, 32);
  add_unary_cases(
      v, "Clip_max_only",
      [](Builder& b, ValueId x) {
        Tensor hi(DType::kF32, {});
        hi.data<float>()[0] = 0.3f;
        return b.op("Clip", {x, kNoValue, b.constant(hi)});
      },
      {2, 5, 7}, 0);
  add_unary_cases(
      v, "Sqrt_of_Abs", [](Builder& b, ValueId x) { return b.op("Sqrt", {b.op("Abs", {x})}); },
      {2, 5, 7}, 32);
  // Log runs generic (oneDNN 2.6's eltwise_log misses ONNX's atol near 1); Exp natively.
  add_unary_cases(
      v, "Log_of_Exp", [](Builder& b, ValueId x) { return b.op("Log", {b.op("Exp", {x})}); },
      {2, 5, 7}, 32, 1e-5, false);
  add_unary_cases(
      v, "Sigmoid_Mul_unfused_SiLU",
      [](Builder& b, ValueId x) {
        return b.op("Mul", {x, b.op("Sigmoid", {x})});
      },
      {1, 6, 5, 5}, 32, 2e-5);
  add_unary_cases(
      v, "Erf_generic", [](Builder& b, ValueId x) { return b.op("Erf", {x}); }, {2, 5, 7}, 0, 1e-5,
      false);
  return v;
}

std::vector<OpCase> binary_cases() {
  std::vector<OpCase> v;
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Max", "Min"}) {
    std::string o = op;
    v.push_back({o + "_same_plain", [o](Builder& b) {
                   b.output(b.op(o, {b.input({2, 3, 5, 7}), b.input({2, 3, 5, 7})}));
                 }});
    v.push_back({o + "_same_blocked",
                 [o](Builder& b) {
                   ValueId x = b.input({1, 5, 9, 9});
                   ValueId y = b.op(o, {b.bread(x, 32), b.op("Exp", {b.bread(x, 32)})});
                   b.output(b.bread(y, 16));
                 },
                 1e-5, true, true, -1, 0, true});
    v.push_back({o + "_channel_broadcast_blocked",
                 [o](Builder& b) {
                   ValueId x = b.bread(b.input({1, 5, 9, 9}), 32);
                   ValueId y = b.op(o, {x, b.constant({1, 32, 1, 1}, 0.5f, 2.f)});
                   b.output(b.bread(y, 16));
                 },
                 1e-5, true, true, -1, 0, true});
    v.push_back({o + "_scalar", [o](Builder& b) {
                   Tensor s(DType::kF32, {});
                   s.data<float>()[0] = 1.7f;
                   b.output(b.op(o, {b.input({3, 4, 5}), b.constant(s)}));
                 }});
    v.push_back({o + "_first_operand_broadcast",
                 [o](Builder& b) {
                   b.output(b.op(o, {b.constant({1, 2, 1}, 0.5f, 2.f), b.input({3, 2, 40})}));
                 },
                 2e-6 * 5});
  }
  v.push_back({"Mul_scalar_blocked",
               [](Builder& b) {
                 ValueId x = b.bread(b.input({1, 5, 9, 9}), 32);
                 b.output(b.bread(b.op("Mul", {x, b.floats({0.7f})}), 16));
               },
               1e-5, true, true, -1, 0, true});
  v.push_back({"Mul_head_strides", [](Builder& b) {
                 b.output(b.op("Mul", {b.input({1, 4, 8400}), b.constant({1, 8400}, 8.f, 32.f)}));
               }});
  v.push_back({"Add_both_broadcast_generic",
               [](Builder& b) {
                 b.output(b.op("Add", {b.input({1, 3, 1, 5}), b.input({1, 1, 4, 1})}));
               },
               1e-5, false});
  // PRelu: slope per channel, scalar, and full-size at run time; blocked between convs.
  v.push_back(
      {"PRelu_channel_plain", [](Builder& b) {
         b.output(b.op("PRelu", {b.input({2, 3, 5, 7}), b.constant({3, 1, 1}, 0.05f, 0.5f)}));
       }});
  v.push_back({"PRelu_scalar_slope", [](Builder& b) {
                 b.output(b.op("PRelu", {b.input({3, 4, 5}), b.constant({1}, 0.1f, 0.3f)}));
               }});
  v.push_back({"PRelu_runtime_slope", [](Builder& b) {
                 b.output(b.op("PRelu", {b.input({2, 6, 5}), b.input({2, 6, 5})}));
               }});
  v.push_back({"PRelu_channel_blocked",
               [](Builder& b) {
                 ValueId x = b.conv(b.bread(b.input({1, 5, 9, 9}), 32), 32, 3,
                                    {{"pads", Attribute::make_ints({1, 1, 1, 1})}});
                 ValueId y = b.op("PRelu", {x, b.constant({32, 1, 1}, 0.05f, 0.5f)});
                 b.output(b.bread(y, 16));
               },
               1e-5, true, true, -1, 0, true});
  v.push_back(
      {"Add_then_relu_fused", [](Builder& b) {
         b.output(b.op("Add", {b.input({2, 3, 5}), b.input({2, 3, 5})}, {}, {b.act(K::kRelu)}));
       }});
  return v;
}

std::vector<OpCase> softmax_matmul_cases() {
  std::vector<OpCase> v;
  struct Sm {
    const char* name;
    Dims d;
    int64_t axis;
    int opset;
    const char* op;
  };
  const Sm sms[] = {{"Softmax_dfl_axis1", {1, 16, 4, 200}, 1, 17, "Softmax"},
                    {"Softmax_axis1_odd", {2, 5, 3, 37}, 1, 17, "Softmax"},
                    {"Softmax_last", {3, 7, 33}, -1, 17, "Softmax"},
                    {"Softmax_axis0", {6, 5, 4}, 0, 17, "Softmax"},
                    {"Softmax_opset11_flatten", {2, 3, 4, 5}, 1, 11, "Softmax"},
                    {"Softmax_cls_1000", {1, 1000}, 1, 17, "Softmax"},
                    {"LogSoftmax_axis1", {2, 16, 3, 70}, 1, 17, "LogSoftmax"},
                    {"LogSoftmax_last", {4, 50}, -1, 17, "LogSoftmax"}};
  for (const Sm& s : sms) {
    v.push_back({s.name,
                 [s](Builder& b) {
                   b.graph().opset = s.opset;
                   b.output(b.op(s.op, {b.input(s.d)}, {{"axis", Attribute::make_int(s.axis)}}));
                 },
                 2e-6 * 5});
  }
  v.push_back({"Softmax_large_logits",
               [](Builder& b) {
                 ValueId x = b.op("Mul", {b.input({1, 16, 4, 50}), b.floats({40.f})});
                 b.output(b.op("Softmax", {x}, {{"axis", Attribute::make_int(1)}}));
               },
               1e-5});
  struct Mm {
    const char* name;
    Dims a, b;
    bool const_b;
  };
  const Mm mms[] = {{"MatMul_2d", {5, 7}, {7, 3}, false},
                    {"MatMul_2d_constB", {5, 7}, {7, 3}, true},
                    {"MatMul_batched_constB", {2, 3, 5, 7}, {7, 4}, true},
                    {"MatMul_batch_broadcast", {2, 1, 5, 7}, {3, 7, 4}, false},
                    {"MatMul_vec_mat", {7}, {7, 3}, false},
                    {"MatMul_mat_vec", {2, 5, 7}, {7}, false},
                    {"MatMul_proto_masks", {1, 32}, {32, 400}, false}};
  for (const Mm& m : mms) {
    v.push_back({m.name, [m](Builder& b) {
                   ValueId bb = m.const_b ? b.constant(m.b) : b.input(m.b);
                   b.output(b.op("MatMul", {b.input(m.a), bb}));
                 }});
  }
  v.push_back(
      {"MatMul_relu_fused", [](Builder& b) {
         b.output(b.op("MatMul", {b.input({4, 9}), b.constant({9, 6})}, {}, {b.act(K::kRelu)}));
       }});
  v.push_back({"Gemm_cls_head_transB", [](Builder& b) {
                 b.output(b.op("Gemm", {b.input({1, 64}), b.constant({100, 64}), b.constant({100})},
                               {{"transB", Attribute::make_int(1)}}));
               }});
  v.push_back({"Gemm_transA_alpha_beta_constC", [](Builder& b) {
                 b.output(b.op("Gemm", {b.input({7, 5}), b.constant({7, 6}), b.constant({5, 6})},
                               {{"transA", Attribute::make_int(1)},
                                {"alpha", Attribute::make_float(0.5f)},
                                {"beta", Attribute::make_float(2.f)}}));
               }});
  v.push_back({"Gemm_runtimeB_alpha_runtimeC", [](Builder& b) {
                 b.output(b.op(
                     "Gemm", {b.input({4, 5}), b.input({6, 5}), b.input({1, 6})},
                     {{"transB", Attribute::make_int(1)}, {"alpha", Attribute::make_float(1.5f)}}));
               }});
  v.push_back({"Gemm_noC_scalarC", [](Builder& b) {
                 Tensor c(DType::kF32, {});
                 c.data<float>()[0] = 0.25f;
                 b.output(b.op("Gemm", {b.input({3, 8}), b.constant({8, 2}), b.constant(c)}));
               }});
  for (auto perm :
       std::vector<std::vector<int64_t>>{{0, 2, 1, 3}, {0, 1, 3, 2}, {}, {3, 1, 0, 2}}) {
    v.push_back({fmt::format("Transpose_{}", dims_str(perm)),
                 [perm](Builder& b) {
                   Attrs a;
                   if (!perm.empty()) a["perm"] = Attribute::make_ints(perm);
                   b.output(b.op("Transpose", {b.input({2, 3, 4, 5})}, a));
                 },
                 0});
  }
  v.push_back({"Transpose_rows_dfl",
               [](Builder& b) {
                 b.output(b.op("Transpose", {b.input({2, 4, 16, 100})},
                               {{"perm", Attribute::make_ints({0, 2, 1, 3})}}));
               },
               0});
  v.push_back({"Transpose_rows_3axes",
               [](Builder& b) {
                 b.output(b.op("Transpose", {b.input({3, 4, 5, 70})},
                               {{"perm", Attribute::make_ints({2, 0, 1, 3})}}));
               },
               0});
  v.push_back(
      {"Transpose_2d",
       [](Builder& b) {
         b.output(b.op("Transpose", {b.input({37, 19})}, {{"perm", Attribute::make_ints({1, 0})}}));
       },
       0});
  // ReduceMean over the last axis (LayerNorm's statistics: contiguous rows) and over two middle
  // axes, not kept (strided columns).
  v.push_back({"ReduceMean_last_axis_and_middle_axes", [](Builder& b) {
                 ValueId x = b.input({3, 7, 5, 9});
                 b.output(b.op("ReduceMean", {x}, {{"axes", Attribute::make_ints({-1})}}));
                 b.output(b.op("ReduceMean", {x},
                               {{"axes", Attribute::make_ints({1, 2})},
                                {"keepdims", Attribute::make_int(0)}}));
               }});
  add_unary_cases(
      v, "BatchNormalization",
      [](Builder& b, ValueId x) {
        int64_t c = b.graph().value(x).dims[1];
        return b.op(
            "BatchNormalization",
            {x, b.constant({c}), b.constant({c}), b.constant({c}), b.constant({c}, 0.5f, 2.f)},
            {{"epsilon", Attribute::make_float(1e-3f)}});
      },
      {2, 8, 5, 5}, 32);
  return v;
}

std::vector<OpCase> view_cases() {
  std::vector<OpCase> v;
  // YOLOv8's C2f: cv1 -> Split -> bottlenecks -> Concat -> cv2. Split and Concat cost nothing.
  auto c2f = [](int64_t n, int64_t c) {
    return [=](Builder& b) {
      ValueId x = b.input({n, 5, 12, 12});
      ValueId y = b.bread(x, 2 * c);
      std::vector<ValueId> parts =
          b.node("Split", {y, b.ints({c, c})}, {{"axis", Attribute::make_int(1)}}, 2);
      Attrs p1 = {{"pads", Attribute::make_ints({1, 1, 1, 1})}};
      ValueId h = b.conv(parts[1], c, 3, p1, {b.silu()});
      ValueId m1 = b.conv(h, c, 3, p1, {b.silu(), b.binary(K::kAdd, 3)}, {parts[1]});
      ValueId h2 = b.conv(m1, c, 3, p1, {b.silu()});
      ValueId m2 = b.conv(h2, c, 3, p1, {b.silu(), b.binary(K::kAdd, 3)}, {m1});
      ValueId cat =
          b.op("Concat", {parts[0], parts[1], m1, m2}, {{"axis", Attribute::make_int(1)}});
      b.output(b.bread(cat, 16));
    };
  };
  v.push_back({"C2f_blocked_elided", c2f(1, 16), 1e-5, true, true, 0, 0, true});
  v.push_back({"C2f_plain_elided", c2f(1, 4), 1e-5, true, true, 0, -1});
  v.push_back({"C2f_blocked_batch2_copies", c2f(2, 16), 1e-5, true, true, -1, 0, true});
  v.push_back({"C2f_misaligned_24", c2f(1, 24)});
  // SPPF: cv1 -> MaxPool x3 -> Concat(x, y1, y2, y3) -> cv2.
  v.push_back(
      {"SPPF_blocked_elided",
       [](Builder& b) {
         ValueId x = b.bread(b.input({1, 5, 10, 10}), 32);
         Attrs a = {{"kernel_shape", Attribute::make_ints({5, 5})},
                    {"pads", Attribute::make_ints({2, 2, 2, 2})}};
         ValueId y1 = b.op("MaxPool", {x}, a);
         ValueId y2 = b.op("MaxPool", {y1}, a);
         ValueId y3 = b.op("MaxPool", {y2}, a);
         b.output(b.bread(b.op("Concat", {x, y1, y2, y3}, {{"axis", Attribute::make_int(1)}}), 16));
       },
       1e-5, true, true, 0, 0, true});
  v.push_back({"Concat_with_graph_input",
               [](Builder& b) {
                 ValueId x = b.input({1, 16, 6, 6});
                 ValueId y = b.bread(x, 16);
                 b.output(b.bread(b.op("Concat", {y, x}, {{"axis", Attribute::make_int(1)}}), 16));
               },
               1e-5, true, true, 1});
  v.push_back(
      {"Concat_same_input_twice", [](Builder& b) {
         ValueId y = b.bread(b.input({1, 5, 6, 6}), 16);
         b.output(b.bread(b.op("Concat", {y, y, y}, {{"axis", Attribute::make_int(1)}}), 16));
       }});
  v.push_back({"Concat_nested",
               [](Builder& b) {
                 ValueId x = b.input({1, 5, 6, 6});
                 ValueId a = b.bread(x, 16), c = b.bread(x, 16), d = b.bread(x, 32);
                 ValueId ac = b.op("Concat", {a, c}, {{"axis", Attribute::make_int(1)}});
                 ValueId all = b.op("Concat", {d, ac}, {{"axis", Attribute::make_int(1)}});
                 b.output(b.bread(all, 16));
               },
               1e-5, true, true, 0, 0, true});
  v.push_back(
      {"Concat_axis2_head", [](Builder& b) {
         ValueId a = b.op("Reshape", {b.bread(b.input({1, 5, 8, 8}), 144), b.ints({1, 144, -1})});
         ValueId c = b.op("Reshape", {b.bread(b.input({1, 5, 4, 4}), 144), b.ints({1, 144, -1})});
         b.output(b.op("Concat", {a, c}, {{"axis", Attribute::make_int(2)}}));
       }});
  v.push_back({"Concat_output_is_graph_output_elided",
               [](Builder& b) {
                 ValueId x = b.input({1, 5, 6, 6});
                 b.output(b.op("Concat", {b.bread(x, 4), b.op("Sigmoid", {b.bread(x, 80)})},
                               {{"axis", Attribute::make_int(1)}}));
               },
               1e-5, true, true, 0});
  v.push_back({"Split_output_is_graph_output", [](Builder& b) {
                 ValueId y = b.bread(b.input({1, 5, 6, 6}), 32);
                 std::vector<ValueId> p =
                     b.node("Split", {y, b.ints({16, 16})}, {{"axis", Attribute::make_int(1)}}, 2);
                 b.output(p[0]);
                 b.output(b.bread(p[1], 16));
               }});
  v.push_back({"Split_head_axis1_plain",
               [](Builder& b) {
                 std::vector<ValueId> p = b.node("Split", {b.input({1, 144, 50}), b.ints({64, 80})},
                                                 {{"axis", Attribute::make_int(1)}}, 2);
                 b.output(b.op("Sigmoid", {p[1]}));
                 b.output(b.op("Relu", {p[0]}));
               },
               1e-5, true, true, 0});
  v.push_back({"Split_axis2_batch2",
               [](Builder& b) {
                 std::vector<ValueId> p = b.node("Split", {b.input({2, 3, 10}), b.ints({4, 6})},
                                                 {{"axis", Attribute::make_int(2)}}, 2);
                 b.output(b.op("Neg", {p[0]}));
                 b.output(b.op("Neg", {p[1]}));
               },
               0});
  v.push_back({"Slice_axis1_view_and_blocked",
               [](Builder& b) {
                 ValueId y = b.bread(b.input({1, 5, 6, 6}), 64);
                 ValueId s = b.op("Slice", {y, b.ints({16}), b.ints({48}), b.ints({1})});
                 b.output(b.bread(s, 16));
               },
               1e-5, true, true, 0, 0, true});
  v.push_back({"Slice_head_plain",
               [](Builder& b) {
                 ValueId x = b.input({1, 4, 30});
                 ValueId lt = b.op("Slice", {x, b.ints({0}), b.ints({2}), b.ints({1})});
                 ValueId rb = b.op("Slice", {x, b.ints({2}), b.ints({4}), b.ints({1})});
                 b.output(b.op("Sub", {lt, rb}));
               },
               1e-5, true, true, 0});
  v.push_back({"Slice_step2_generic",
               [](Builder& b) {
                 b.output(b.op("Slice", {b.input({2, 8, 5}), b.ints({1}), b.ints({8}), b.ints({1}),
                                         b.ints({2})}));
               },
               0, false});
  v.push_back(
      {"Slice_negative_and_batch2",
       [](Builder& b) {
         b.output(b.op("Slice", {b.input({2, 8, 5}), b.ints({-3}), b.ints({1000}), b.ints({-1})}));
       },
       0});
  v.push_back({"Reshape_Flatten_Squeeze_Unsqueeze_views",
               [](Builder& b) {
                 ValueId x = b.op("Relu", {b.input({2, 3, 4, 5})});
                 ValueId r = b.op("Reshape", {x, b.ints({6, 20})});
                 ValueId u = b.op("Unsqueeze", {r, b.ints({0})});
                 ValueId s = b.op("Squeeze", {u, b.ints({0})});
                 ValueId f = b.op("Flatten", {s}, {{"axis", Attribute::make_int(1)}});
                 b.output(b.op("Neg", {f}));
               },
               0, true, true, 0});
  v.push_back({"Reshape_to_graph_output",
               [](Builder& b) {
                 b.output(b.op("Reshape", {b.op("Relu", {b.input({2, 3, 4})}), b.ints({4, 6})}));
               },
               0});
  v.push_back({"Reshape_of_blocked", [](Builder& b) {
                 ValueId y = b.bread(b.input({1, 5, 4, 4}), 32);
                 b.output(b.op("Reshape", {y, b.ints({1, 32, 16})}));
               }});
  // Generic ops (exact data movement).
  v.push_back(
      {"Gather_Pad_Expand_generic",
       [](Builder& b) {
         ValueId x = b.input({4, 6});
         Tensor idx(DType::kI64, {3});
         idx.data<int64_t>()[0] = 2;
         idx.data<int64_t>()[1] = 0;
         idx.data<int64_t>()[2] = 3;
         ValueId g = b.op("Gather", {x, b.constant(idx)}, {{"axis", Attribute::make_int(0)}});
         ValueId p = b.op("Pad", {g, b.ints({1, 0, 0, 2})});
         b.output(b.op("Expand", {p, b.ints({2, 4, 8})}));
       },
       0, false});
  // The YOLOv8 detect-head tail: DFL (Reshape, Transpose, Softmax, 1x1 conv) and box decoding.
  v.push_back({"YOLO_head_tail",
               [](Builder& b) {
                 const int64_t a = 300;
                 ValueId x = b.input({1, 144, a});
                 std::vector<ValueId> p =
                     b.node("Split", {x, b.ints({64, 80})}, {{"axis", Attribute::make_int(1)}}, 2);
                 ValueId r = b.op("Reshape", {p[0], b.ints({1, 4, 16, a})});
                 ValueId t = b.op("Transpose", {r}, {{"perm", Attribute::make_ints({0, 2, 1, 3})}});
                 ValueId s = b.op("Softmax", {t}, {{"axis", Attribute::make_int(1)}});
                 Tensor w(DType::kF32, {1, 16, 1, 1});
                 for (int i = 0; i < 16; ++i) w.data<float>()[i] = static_cast<float>(i);
                 ValueId d = b.op("Conv", {s, b.constant(w)},
                                  {{"kernel_shape", Attribute::make_ints({1, 1})}});
                 ValueId dist = b.op("Reshape", {d, b.ints({1, 4, a})});
                 ValueId lt = b.op("Slice", {dist, b.ints({0}), b.ints({2}), b.ints({1})});
                 ValueId rb = b.op("Slice", {dist, b.ints({2}), b.ints({4}), b.ints({1})});
                 ValueId anchors = b.constant({1, 2, a}, 0.f, 80.f);
                 ValueId x1y1 = b.op("Sub", {anchors, lt});
                 ValueId x2y2 = b.op("Add", {anchors, rb});
                 ValueId c_xy = b.op("Div", {b.op("Add", {x1y1, x2y2}), b.floats({2.f})});
                 ValueId wh = b.op("Sub", {x2y2, x1y1});
                 ValueId box = b.op("Concat", {c_xy, wh}, {{"axis", Attribute::make_int(1)}});
                 ValueId dbox = b.op("Mul", {box, b.constant({1, a}, 8.f, 32.f)});
                 b.output(b.op("Concat", {dbox, b.op("Sigmoid", {p[1]})},
                               {{"axis", Attribute::make_int(1)}}));
               },
               1e-5, true, true, 0});
  return v;
}

// Image stems (<= 4 input channels, group 1) run shoal's double-accumulating kernel on pixels in
// [0, 1]: the output is about one float rounding from the double reference (0 to 4.7e-8 here),
// where oneDNN's fp32 kernels miss the bound on 9 of the 11 cases (6.1e-8 to 1.8e-7;
// SHOAL_CONV_STEM=0 shows it). Activations the kernel applies itself are in double too; binary
// post-ops and the rest run after it in fp32. Blocked outputs are checked through an exact
// consumer (an identity 1x1 conv).
std::vector<OpCase> stem_cases() {
  std::vector<OpCase> v;
  struct Stem {
    const char* name;
    int64_t n, ic, oc, h, w;
    Dims kernel, strides, pads, dilations;
    std::vector<PostOp> post;
    bool bias, blocked;
  };
  const Stem stems[] = {
      {"yolo_rgb_k3s2_silu",
       1,
       3,
       16,
       64,
       48,
       {3, 3},
       {2, 2},
       {1, 1, 1, 1},
       {1, 1},
       {Builder::silu()},
       true,
       false},
      {"yolo_rgb_k3s2_silu_blocked",
       1,
       3,
       32,
       41,
       37,
       {3, 3},
       {2, 2},
       {1, 1, 1, 1},
       {1, 1},
       {Builder::silu()},
       true,
       true},
      {"yolov5_k6s2p2_oc24",
       1,
       3,
       24,
       40,
       40,
       {6, 6},
       {2, 2},
       {2, 2, 2, 2},
       {1, 1},
       {Builder::silu()},
       true,
       false},
      {"gray_k7s2p3_relu_batch2",
       2,
       1,
       8,
       33,
       30,
       {7, 7},
       {2, 2},
       {3, 3, 3, 3},
       {1, 1},
       {Builder::act(K::kRelu)},
       true,
       false},
      {"rgba_patchify_k4s4_nobias_blocked",
       1,
       4,
       48,
       32,
       36,
       {4, 4},
       {4, 4},
       {0, 0, 0, 0},
       {1, 1},
       {},
       false,
       true},
      {"asym_stride_dilation_pads",
       1,
       3,
       20,
       23,
       29,
       {3, 3},
       {1, 2},
       {0, 1, 2, 1},
       {2, 2},
       {Builder::act(K::kLeakyRelu, 0.1f)},
       true,
       false},
      {"stride3_k5_sigmoid_blocked",
       1,
       3,
       32,
       31,
       34,
       {5, 5},
       {3, 3},
       {2, 2, 2, 2},
       {1, 1},
       {Builder::act(K::kSigmoid)},
       true,
       true},
      {"hard_sigmoid",
       1,
       3,
       16,
       20,
       20,
       {3, 3},
       {1, 1},
       {1, 1, 1, 1},
       {1, 1},
       {Builder::act(K::kHardSigmoid, 0.2f, 0.5f)},
       true,
       false},
      {"hard_swish_clip",
       1,
       2,
       16,
       20,
       20,
       {3, 3},
       {2, 2},
       {1, 1, 1, 1},
       {1, 1},
       {Builder::act(K::kHardSwish), Builder::act(K::kClip, -0.1f, 0.4f)},
       true,
       false},
  };
  for (const Stem& st : stems) {
    v.push_back({std::string("Stem_") + st.name,
                 [st](Builder& b) {
                   ValueId y = b.conv(b.input({st.n, st.ic, st.h, st.w}), st.oc, st.kernel[0],
                                      {{"kernel_shape", Attribute::make_ints(st.kernel)},
                                       {"strides", Attribute::make_ints(st.strides)},
                                       {"pads", Attribute::make_ints(st.pads)},
                                       {"dilations", Attribute::make_ints(st.dilations)}},
                                      st.post, {}, st.bias);
                   if (st.blocked) {
                     // A 1x1 conv with identity weights: exact, and it takes nChw16c input.
                     Tensor eye(DType::kF32, {st.oc, st.oc, 1, 1});
                     for (int64_t i = 0; i < st.oc * st.oc; ++i) {
                       eye.data<float>()[i] = i % (st.oc + 1) == 0 ? 1.f : 0.f;
                     }
                     y = b.op("Conv", {y, b.constant(eye)},
                              {{"kernel_shape", Attribute::make_ints({1, 1})}});
                   }
                   b.output(y);
                 },
                 6e-8, true, true, -1, -1, st.blocked, "stem_f64", 0.f, 1.f});
  }
  // Post-ops the kernel leaves to oneDNN: a residual Add, then Relu after it; Tanh.
  v.push_back({"Stem_add_then_relu",
               [](Builder& b) {
                 ValueId x = b.input({1, 3, 24, 24});
                 ValueId r = b.input({1, 16, 24, 24});
                 b.output(b.conv(x, 16, 3, {{"pads", Attribute::make_ints({1, 1, 1, 1})}},
                                 {Builder::binary(K::kAdd, 3), Builder::act(K::kRelu)}, {r}));
               },
               1e-7, true, true, -1, -1, false, "stem_f64", 0.f, 1.f});
  v.push_back({"Stem_silu_then_tanh",
               [](Builder& b) {
                 b.output(b.conv(b.input({1, 3, 24, 24}), 16, 3,
                                 {{"pads", Attribute::make_ints({1, 1, 1, 1})}},
                                 {Builder::silu(), Builder::act(K::kTanh)}));
               },
               1e-7, true, true, -1, -1, false, "stem_f64", 0.f, 1.f});
  return v;
}

std::vector<OpCase> all_cases() {
  std::vector<OpCase> v;
  for (auto f : {conv_cases, stem_cases, pool_resize_cases, eltwise_cases, binary_cases,
                 softmax_matmul_cases, view_cases}) {
    std::vector<OpCase> part = f();
    v.insert(v.end(), part.begin(), part.end());
  }
  return v;
}

class BackendOps : public ::testing::TestWithParam<OpCase> {};

TEST_P(BackendOps, CpuMatchesReference) { check_case(GetParam()); }

// The same case compiled with the other channel block than this CPU's (nChw16c where the CPU
// chose nChw8c, and the reverse), so both layouts' kernels are checked on any machine.
TEST_P(BackendOps, CpuMatchesReferenceWithOtherChannelBlock) {
  struct Restore {
    ~Restore() { set_cpu_channel_block(0); }
  } restore;
  set_cpu_channel_block(cpu_channel_block() == 16 ? 8 : 16);
  check_case(GetParam(), /*check_impls=*/false);
}

INSTANTIATE_TEST_SUITE_P(Cpu, BackendOps, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<OpCase>& i) {
                           std::string n = i.param.name;
                           for (char& ch : n) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return n;
                         });

// The ops of the cpu backend's native op table, read from the table itself.
const std::vector<std::string>& cpu_table_ops() {
  static const std::vector<std::string> ops = {
#define SHOAL_CPU_OP(op, ...) #op,
#include "backend/cpu/cpu_ops.def"
#undef SHOAL_CPU_OP
  };
  return ops;
}

// The op types the cases run natively on the cpu backend (some step of that op that is not the
// generic kernel); every case compiled once.
const std::set<std::string>& ops_run_natively() {
  static const std::set<std::string> ops = [] {
    std::set<std::string> r;
    for (const OpCase& c : all_cases()) {
      Builder b(1234);
      c.build(b);
      Program p = make_cpu_backend()->compile(b.graph(), {});
      for (const Step& st : p.steps) {
        if (st.label.find("[generic") == std::string::npos) r.insert(st.op);
      }
    }
    return r;
  }();
  return ops;
}

class BackendOpsCoverage : public ::testing::TestWithParam<std::string> {};

// A row of the op table without a case that runs it natively fails here, by name.
TEST_P(BackendOpsCoverage, TableOpHasANativeCase) {
  const std::string& op = GetParam();
  EXPECT_EQ(ops_run_natively().count(op), 1u)
      << op << " is a row of backend/cpu/cpu_ops.def, but no backend-ops case runs it natively "
      << "on the cpu backend: add one to all_cases()";
}

INSTANTIATE_TEST_SUITE_P(Cpu, BackendOpsCoverage, ::testing::ValuesIn(cpu_table_ops()),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
}  // namespace shoal
