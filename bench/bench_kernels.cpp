// Kernel benchmarks for the cpu backend: single Conv steps at YOLOv8n shapes (fused SiLU,
// nChw16c in and out as inside the network) and the detect head's non-conv kernels. Reports
// FLOP/s for convs. Threads: SHOAL_THREADS (default: compute_threads(), i.e. all cores).
//   build-cpu/shoal_bench --benchmark_filter=Conv
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <random>

#include "backend/backend.h"
#include "graph/shape_inference.h"
#include "onnx/import.h"
#include "runtime/compiled_model.h"

namespace shoal {
namespace {


Tensor random_tensor(const Dims& d, float scale, std::mt19937& rng) {
  Tensor t(DType::kF32, d);
  std::uniform_real_distribution<float> u(-scale, scale);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
  return t;
}

ValueId add_node(Graph& g, const std::string& op, std::vector<ValueId> in,
                 std::map<std::string, Attribute> attrs, std::vector<PostOp> post = {}) {
  Node n;
  n.name = fmt::format("{}{}", op, g.nodes.size());
  n.op_type = op;
  n.inputs = std::move(in);
  n.attrs = std::move(attrs);
  n.outputs.push_back(g.add_value(n.name + "_out"));
  NodeId id = g.add_node(std::move(n));
  infer_node(g, id);
  g.nodes[static_cast<size_t>(id)].post_ops = std::move(post);
  return g.nodes[static_cast<size_t>(id)].outputs[0];
}

ValueId add_conv(Graph& g, ValueId x, int64_t oc, int64_t k, int64_t stride, std::mt19937& rng,
                 bool silu = true) {
  Dims xd = g.value(x).dims;
  float s = 1.f / std::sqrt(static_cast<float>(xd[1] * k * k));
  ValueId w =
      g.add_constant(fmt::format("w{}", g.values.size()), random_tensor({oc, xd[1], k, k}, s, rng));
  ValueId b = g.add_constant(fmt::format("b{}", g.values.size()), random_tensor({oc}, 0.1f, rng));
  PostOp p;
  p.kind = PostOp::Kind::kSilu;
  std::vector<PostOp> post;
  if (silu) post.push_back(p);
  int64_t pad = k / 2;
  return add_node(g, "Conv", {x, w, b},
                  {{"kernel_shape", Attribute::make_ints({k, k})},
                   {"strides", Attribute::make_ints({stride, stride})},
                   {"pads", Attribute::make_ints({pad, pad, pad, pad})}},
                  post);
}

// A compiled Program with every root value in its own buffer, ready to run step by step.
class BoundProgram {
 public:
  explicit BoundProgram(Graph& g) : p_(make_cpu_backend()->compile(g, {})) {
    ptr_.assign(p_.values.size(), nullptr);
    for (size_t v = 0; v < p_.values.size(); ++v) {
      const ProgramValue& pv = p_.values[v];
      if (pv.constant.defined())
        ptr_[v] = const_cast<void*>(pv.constant.raw());
      else if (pv.alias_of < 0)
        ptr_[v] = alloc(pv.bytes);
    }
    for (size_t v = 0; v < p_.values.size(); ++v) {
      const ProgramValue& pv = p_.values[v];
      if (pv.alias_of >= 0)
        ptr_[v] = static_cast<char*>(ptr_[static_cast<size_t>(pv.alias_of)]) + pv.alias_offset;
    }
    size_t scratch = 0;
    for (const Step& s : p_.steps) scratch = std::max(scratch, s.scratch_bytes);
    scratch_ = alloc(scratch);
    for (const Step& s : p_.steps) {
      std::vector<const void*> in;
      std::vector<void*> out;
      for (int v : s.inputs) in.push_back(v < 0 ? nullptr : ptr_[static_cast<size_t>(v)]);
      for (int v : s.outputs) out.push_back(v < 0 ? nullptr : ptr_[static_cast<size_t>(v)]);
      ins_.push_back(std::move(in));
      outs_.push_back(std::move(out));
    }
  }
  const Program& program() const { return p_; }
  // Runs step `i` (all steps when i < 0).
  void run(int i = -1) {
    for (size_t s = 0; s < p_.steps.size(); ++s) {
      if (i >= 0 && static_cast<size_t>(i) != s) continue;
      KernelIO io{ins_[s], outs_[s], scratch_};
      p_.steps[s].kernel->run(io);
    }
  }
  // Index of the first step whose op is `op`.
  int find(const std::string& op) const {
    for (size_t s = 0; s < p_.steps.size(); ++s) {
      if (p_.steps[s].op == op) return static_cast<int>(s);
    }
    return -1;
  }

 private:
  void* alloc(size_t bytes) {
    size_t n = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
    std::shared_ptr<void> b(std::aligned_alloc(64, n), std::free);
    std::memset(b.get(), 0, n);
    buffers_.push_back(b);
    return b.get();
  }
  Program p_;
  std::vector<void*> ptr_;
  void* scratch_ = nullptr;
  std::vector<std::vector<const void*>> ins_;
  std::vector<std::vector<void*>> outs_;
  std::vector<std::shared_ptr<void>> buffers_;
};

void apply_threads() {
  if (const char* t = std::getenv("SHOAL_THREADS")) set_compute_threads(std::atoi(t));
}

// Conv + SiLU at (ic, oc, size, k, stride). A 1x1 producer makes the input nChw16c (as in the
// network) unless ic is 3 (the stem reads the plain image); a 1x1 consumer keeps the output
// blocked. Only the conv under test is timed.
void BM_Conv(benchmark::State& state) {
  apply_threads();
  const int64_t ic = state.range(0), oc = state.range(1), hw = state.range(2), k = state.range(3),
                stride = state.range(4);
  std::mt19937 rng(7);
  Graph g;
  g.opset = 17;
  ValueId in = g.add_value("x", DType::kF32);
  g.value(in).dims = {1, ic == 3 ? 3 : 8, hw, hw};
  g.value(in).has_shape = true;
  g.inputs.push_back(in);
  ValueId x = ic == 3 ? in : add_conv(g, in, ic, 1, 1, rng);
  ValueId y = add_conv(g, x, oc, k, stride, rng);
  g.outputs.push_back(add_conv(g, y, 16, 1, 1, rng));
  BoundProgram bp(g);
  bp.run();
  int step = ic == 3 ? 0 : 1;
  const Step& s = bp.program().steps[static_cast<size_t>(step)];
  for (auto _ : state) bp.run(step);
  state.counters["GFLOP/s"] =
      benchmark::Counter(s.flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(s.label.substr(s.label.find('[')));
}
BENCHMARK(BM_Conv)
    ->ArgNames({"ic", "oc", "hw", "k", "s"})
    ->Args({3, 16, 640, 3, 2})    // stem
    ->Args({16, 32, 320, 3, 2})   // model.1
    ->Args({16, 16, 160, 3, 1})   // C2f bottleneck at 160
    ->Args({32, 64, 160, 3, 2})   // model.3
    ->Args({64, 128, 80, 3, 2})   // model.5
    ->Args({32, 32, 160, 1, 1})   // C2f cv1 at 160
    ->Args({64, 64, 160, 3, 1})   // NOTES.md reference shape
    ->Args({64, 64, 80, 3, 1})    // head cv2/cv3 at 80
    ->Args({128, 128, 80, 3, 1})  // NOTES.md reference shape
    ->Args({256, 256, 40, 1, 1})  // NOTES.md reference shape
    ->Args({64, 80, 80, 1, 1})    // head class conv
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The detect head's DFL softmax over axis 1 of [1,16,4,8400].
void BM_DflSoftmax(benchmark::State& state) {
  apply_threads();
  Graph g;
  g.opset = 17;
  ValueId in = g.add_value("x", DType::kF32);
  g.value(in).dims = {1, 16, 4, 8400};
  g.value(in).has_shape = true;
  g.inputs.push_back(in);
  g.outputs.push_back(add_node(g, "Softmax", {in}, {{"axis", Attribute::make_int(1)}}));
  BoundProgram bp(g);
  for (auto _ : state) bp.run();
  state.SetLabel(bp.program().steps[0].label.substr(bp.program().steps[0].label.find('[')));
}
BENCHMARK(BM_DflSoftmax)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Element-wise Sigmoid on the class scores [1,80,8400].
void BM_HeadSigmoid(benchmark::State& state) {
  apply_threads();
  Graph g;
  g.opset = 17;
  ValueId in = g.add_value("x", DType::kF32);
  g.value(in).dims = {1, 80, 8400};
  g.value(in).has_shape = true;
  g.inputs.push_back(in);
  g.outputs.push_back(add_node(g, "Sigmoid", {in}, {}));
  BoundProgram bp(g);
  for (auto _ : state) bp.run();
}
BENCHMARK(BM_HeadSigmoid)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Fixed cost of one oneDNN step (binding pointers, dispatch): Relu on 64 floats.
void BM_StepOverhead(benchmark::State& state) {
  apply_threads();
  Graph g;
  g.opset = 17;
  ValueId in = g.add_value("x", DType::kF32);
  g.value(in).dims = {1, 16, 2, 2};
  g.value(in).has_shape = true;
  g.inputs.push_back(in);
  g.outputs.push_back(add_node(g, "Relu", {in}, {}));
  BoundProgram bp(g);
  for (auto _ : state) bp.run();
}
BENCHMARK(BM_StepOverhead)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Whole YOLOv8n (640x640, batch 1): "session" through Session::run (input copy, output tensors),
// "steps" the Program's kernels alone on a planned arena. Needs ../shared (skips without).
std::string shared_model(const char* name) {
  const char* env = std::getenv("SHOAL_SHARED_DIR");
  std::string dir = env ? env : "../shared";
  std::string path = dir + "/models/" + name;
  return std::ifstream(path).good() ? path : std::string();
}

void BM_Yolov8n(benchmark::State& state) {
  apply_threads();
  std::string path = shared_model("yolov8n.onnx");
  if (path.empty()) {
    state.SkipWithError("../shared/models/yolov8n.onnx not found (set SHOAL_SHARED_DIR)");
    return;
  }
  Graph g = import_onnx_file(path);
  CompileRequest req;
  req.backend = "cpu";
  auto cm = CompiledModel::compile(g, req);
  std::mt19937 rng(1);
  Tensor x = random_tensor(cm->inputs()[0].dims, 1.f, rng);
  if (state.range(0) == 0) {
    Session s(cm);
    for (auto _ : state) benchmark::DoNotOptimize(s.run({x}));
    state.SetLabel("session");
  } else {
    Session s(cm);
    for (auto _ : state) {
      std::vector<double> t = s.profile({x});
      benchmark::DoNotOptimize(t);
    }
    state.SetLabel("steps (input copy, kernels; no output tensors)");
  }
}
BENCHMARK(BM_Yolov8n)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3);

}  // namespace
}  // namespace shoal

