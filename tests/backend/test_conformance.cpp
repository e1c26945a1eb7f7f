// The ONNX node conformance suite (libonnx-testdata) run through Shoal: import model.onnx,
// specialise to each data set's input shapes, evaluate, compare with ONNX's rule
// |out - ref| <= atol + rtol * |ref| (rtol 1e-3, atol 1e-7; ints and bools exact; NaN == NaN).
//
// One gtest per test directory whose ops are all in ops.def (so failures are individual), plus a
// summary test printing "conformance(<backend>): N supported, P passed, F failed, S skipped" and
// a per-reason skip tally. Tests that use ops outside ops.def, non-tensor values or dtypes Shoal
// does not support are counted as skipped with a reason, never silently.
//
// Backends plug in through conformance_backends(): a backend is an input mode (how the graph is
// prepared) plus an evaluator running the prepared graph. "reference" folds everything through
// reference_eval; "reference-runtime" keeps float inputs as runtime inputs (the path a compiled
// backend takes); "cpu" compiles that same preparation with the cpu backend through the runtime
// layer (CompiledModel: optimisation passes, lowering, planned arena) and runs it;
// "cpu-const-weights" does the same with weights (Conv/ConvTranspose/BatchNormalization/Gemm
// parameters, MatMul's B) as constants, as real models hold them, so the native kernels that
// pack weights at compile time run instead of the generic fallback.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "backend/reference/reference.h"
#include "core/error.h"
#include "graph/ops.h"
#include "graph/shape_inference.h"
#include "onnx/import.h"
#include "runtime/compiled_model.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;

constexpr const char* kNodeTestDir = "/usr/share/libonnx-testdata/data/node";
constexpr double kRtol = 1e-3;
constexpr double kAtol = 1e-7;

std::string node_test_dir() {
  const char* env = std::getenv("SHOAL_ONNX_NODE_TESTS");
  return env ? env : kNodeTestDir;
}

// ---------------------------------------------------------------------------------------------
// Backends

enum class InputMode {
  kFoldAll,             // every input becomes a constant: the whole graph folds at specialisation
  kFloatInputsRuntime,  // float inputs stay runtime inputs (fixed dims); others fold as constants
  kWeightsConstant      // as kFloatInputsRuntime, but weights (Conv W/B, ...) are constants
};

// Runs a specialised graph; `runtime_inputs` parallel the non-constant entries of g.inputs.
// Returns tensors parallel to g.outputs.
using CaseEvaluator =
    std::function<std::vector<Tensor>(Graph& g, const std::vector<Tensor>& runtime_inputs)>;

struct ConformanceBackend {
  std::string name;
  InputMode mode;
  CaseEvaluator eval;
};

void eval_node_reference(const Node& n, int opset, const std::vector<Tensor>& in,
                         std::vector<Tensor>& out) {
  reference_eval(n, opset, in, out);
}

// The reference path: live nodes in order through reference_eval.
std::vector<Tensor> eval_reference(Graph& g, const std::vector<Tensor>& runtime_inputs) {
  std::vector<Tensor> vals(g.values.size());
  for (size_t i = 0; i < g.values.size(); ++i) {
    if (g.values[i].is_constant()) vals[i] = g.values[i].constant;
  }
  size_t k = 0;
  for (ValueId in : g.inputs) {
    if (!g.value(in).is_constant()) vals[static_cast<size_t>(in)] = runtime_inputs.at(k++);
  }
  for (NodeId id : g.live_nodes()) {
    const Node& n = g.nodes[static_cast<size_t>(id)];
    std::vector<Tensor> in, out;
    for (ValueId v : n.inputs) {
      in.push_back(v == kNoValue ? Tensor() : vals[static_cast<size_t>(v)]);
    }
    for (ValueId o : n.outputs) {
      if (o == kNoValue) {
        out.emplace_back();
      } else {
        out.emplace_back(g.value(o).dtype, g.value(o).dims);
      }
    }
    eval_node_reference(n, static_cast<int>(g.opset), in, out);
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      if (n.outputs[k] != kNoValue) vals[static_cast<size_t>(n.outputs[k])] = out[k];
    }
  }
  std::vector<Tensor> outs;
  for (ValueId o : g.outputs) outs.push_back(vals[static_cast<size_t>(o)]);
  return outs;
}

// The cpu path: the prepared graph compiled by the runtime layer (optimisation passes, the cpu
// backend's lowering, the planned arena) and run once. Constant graph inputs become plain
// constants first, so the compiled model's inputs are exactly the runtime inputs.
std::vector<Tensor> eval_cpu(Graph& g, const std::vector<Tensor>& runtime_inputs) {
  Graph model = g;
  model.inputs.erase(std::remove_if(model.inputs.begin(), model.inputs.end(),
                                    [&](ValueId v) { return model.value(v).is_constant(); }),
                     model.inputs.end());
  CompileRequest req;
  req.backend = "cpu";
  Session session(CompiledModel::compile(model, req));
  return session.run(runtime_inputs);
}

const std::vector<ConformanceBackend>& conformance_backends() {
  static const std::vector<ConformanceBackend> b = {
      {"reference", InputMode::kFoldAll, eval_reference},
      {"reference-runtime", InputMode::kFloatInputsRuntime, eval_reference},
      {"cpu", InputMode::kFloatInputsRuntime, eval_cpu},
      {"cpu-const-weights", InputMode::kWeightsConstant, eval_cpu},
  };
  return b;
}

const ConformanceBackend& find_backend(const std::string& name) {
  for (const auto& b : conformance_backends()) {
    if (b.name == name) return b;
  }
  fail(ErrorCode::kInvalidArgument, "no conformance backend '{}'", name);
}

// ---------------------------------------------------------------------------------------------
// One test case

struct CaseResult {
  enum class Status { kPass, kFail, kSkip };
  Status status = Status::kPass;
  std::string reason;   // skip category (tally key)
  std::string message;  // details: skip message or failure report
  double seconds = 0;   // wall time of the whole case (import, every data set)
};

CaseResult skip(std::string reason, std::string message) {
  return {CaseResult::Status::kSkip, std::move(reason), std::move(message)};
}
CaseResult failure(std::string message) {
  return {CaseResult::Status::kFail, "", std::move(message)};
}

// Maps a kUnsupported message to a skip category.
std::string classify_unsupported(const std::string& msg) {
  if (msg.find("unsupported ops:") != std::string::npos) return "op not in ops.def";
  if (msg.find("opset") != std::string::npos) return "opset";
  if (msg.find("sequence") != std::string::npos || msg.find("optional") != std::string::npos ||
      msg.find("a map") != std::string::npos || msg.find("sparse") != std::string::npos) {
    return "non-tensor value (sequence/optional/map/sparse)";
  }
  if (msg.find("data type") != std::string::npos || msg.find("dtype") != std::string::npos ||
      msg.find("string") != std::string::npos) {
    return "dtype not supported";
  }
  if (msg.find("subgraph") != std::string::npos) return "subgraph attribute";
  return "other unsupported";
}

std::string value_str(const Tensor& t, int64_t i) {
  if (dtype_is_float(t.dtype())) return fmt::format("{:.9g}", t.get_f64(i));
  return std::to_string(t.get_i64(i));
}

// ONNX's comparison; returns "" when `out` matches `ref`.
std::string compare_output(const Tensor& out, const Tensor& ref) {
  if (!out.defined()) return "output not computed";
  if (out.dtype() != ref.dtype()) {
    return fmt::format("dtype {} != expected {}", dtype_name(out.dtype()), dtype_name(ref.dtype()));
  }
  if (out.dims() != ref.dims()) {
    return fmt::format("dims {} != expected {}", dims_str(out.dims()), dims_str(ref.dims()));
  }
  bool exact = !dtype_is_float(ref.dtype());
  int64_t worst = -1, bad = 0;
  double worst_excess = -1;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    bool ok;
    double excess = 0;
    if (exact) {
      ok = out.get_i64(i) == ref.get_i64(i);
      excess = ok ? 0 : 1;
    } else {
      double o = out.get_f64(i), r = ref.get_f64(i);
      if (std::isnan(r) || std::isnan(o)) {
        ok = std::isnan(r) && std::isnan(o);
        excess = ok ? 0 : INFINITY;
      } else if (std::isinf(r) || std::isinf(o)) {
        ok = o == r;
        excess = ok ? 0 : INFINITY;
      } else {
        double d = std::fabs(o - r), tol = kAtol + kRtol * std::fabs(r);
        ok = d <= tol;
        excess = d - tol;
      }
    }
    if (!ok) {
      ++bad;
      if (excess > worst_excess || worst < 0) {
        worst_excess = excess;
        worst = i;
      }
    }
  }
  if (!bad) return "";
  return fmt::format("{} of {} elements differ; worst at index {}: got {}, expected {}", bad,
                     ref.numel(), worst, value_str(out, worst), value_str(ref, worst));
}

// Float inputs that are compile-time parameters of their consumer (real models hold them as
// constants; shape functions need their values): (op, input slot).
bool is_float_parameter_slot(const std::string& op, int slot) {
  return (op == "Resize" && slot >= 1) || (op == "Upsample" && slot == 1) || op == "Range" ||
         (op == "Pad" && slot >= 1) || (op == "Clip" && slot >= 1);
}

// Float inputs real models hold as constant weights; kernels pack them at compile time.
bool is_weight_slot(const std::string& op, int slot) {
  return ((op == "Conv" || op == "ConvTranspose" || op == "BatchNormalization" || op == "Gemm") &&
          slot >= 1) ||
         (op == "MatMul" && slot == 1);
}

bool is_runtime_input(const Graph& g, ValueId v, InputMode mode) {
  if (mode == InputMode::kFoldAll || !dtype_is_float(g.value(v).dtype)) return false;
  for (const Node& n : g.nodes) {
    for (size_t s = 0; s < n.inputs.size(); ++s) {
      if (n.inputs[s] != v) continue;
      if (is_float_parameter_slot(n.op_type, static_cast<int>(s))) return false;
      if (mode == InputMode::kWeightsConstant && is_weight_slot(n.op_type, static_cast<int>(s))) {
        return false;
      }
    }
  }
  return true;
}

// Prepares a copy of the model for one data set: fixed input dims, constants per `mode`.
// Returns the runtime input tensors parallel to the non-constant entries of g.inputs.
std::vector<Tensor> prepare_graph(Graph& g, const std::vector<Tensor>& inputs, InputMode mode) {
  std::vector<Tensor> runtime;
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    Value& v = g.value(g.inputs[i]);
    const Tensor& t = inputs[i];
    v.dtype = t.dtype();
    v.dims = t.dims();
    v.has_shape = true;
    v.dim_params.assign(t.dims().size(), "");
    if (!is_runtime_input(g, g.inputs[i], mode)) {
      v.constant = t;
    } else {
      runtime.push_back(t);
    }
  }
  return runtime;
}

CaseResult run_data_set(const Graph& model, const fs::path& set_dir, const ConformanceBackend& be) {
  std::vector<Tensor> inputs, expected;
  try {
    for (size_t k = 0;; ++k) {
      fs::path p = set_dir / fmt::format("input_{}.pb", k);
      if (!fs::exists(p)) break;
      inputs.push_back(read_tensor_proto_file(p.string()));
    }
    for (size_t k = 0;; ++k) {
      fs::path p = set_dir / fmt::format("output_{}.pb", k);
      if (!fs::exists(p)) break;
      expected.push_back(read_tensor_proto_file(p.string()));
    }
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kUnsupported) return skip(classify_unsupported(e.what()), e.what());
    return failure(fmt::format("reading test data: {}", e.what()));
  }
  if (inputs.size() != model.inputs.size()) {
    return skip("input count differs from the model's inputs",
                fmt::format("{} input files, model has {} runtime inputs", inputs.size(),
                            model.inputs.size()));
  }
  if (expected.size() != model.outputs.size()) {
    return failure(fmt::format("{} output files, model has {} outputs", expected.size(),
                               model.outputs.size()));
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Value& v = model.value(model.inputs[i]);
    if (v.dtype != DType::kUndefined && v.dtype != inputs[i].dtype()) {
      return failure(fmt::format("input '{}' declared {}, test data is {}", v.name,
                                 dtype_name(v.dtype), dtype_name(inputs[i].dtype())));
    }
  }

  Graph g = model;
  std::vector<Tensor> runtime = prepare_graph(g, inputs, be.mode);
  std::vector<Tensor> outs;
  const char* stage = "specialize_shapes";
  try {
    // The cpu path compiles through CompiledModel, which runs nodes whose shapes need run-time
    // values (NonMaxSuppression, NonZero, ...) after its program: they are deferred here too.
    SpecializeOptions specialize;
    specialize.defer_data_dependent = be.name.rfind("cpu", 0) == 0;
    specialize_shapes(
        g,
        [&](const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out) {
          reference_eval(n, static_cast<int>(g.opset), in, out);
        },
        specialize);
    stage = be.name.c_str();
    outs = be.eval(g, runtime);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kUnsupported) {
      return skip(fmt::format("{}: unsupported", stage), e.what());
    }
    return failure(fmt::format("{} threw ({}): {}", stage, error_code_name(e.code()), e.what()));
  }
  std::string report;
  for (size_t k = 0; k < expected.size(); ++k) {
    std::string diff = compare_output(outs.at(k), expected[k]);
    if (!diff.empty()) {
      report += fmt::format("{}output {} '{}': {}", report.empty() ? "" : "\n", k,
                            g.value(g.outputs[k]).name, diff);
    }
  }
  if (!report.empty()) return failure(report);
  return {};
}

// Imports a test's model.onnx as `shoal run` would (tests written at opset 1..6 read at 7 when
// their operators did not change in between: the importer's rule).
Graph import_test_model(const fs::path& dir) {
  const fs::path file = dir / "model.onnx";
  std::ifstream f(file, std::ios::binary);
  std::stringstream buf;
  buf << f.rdbuf();
  const std::string bytes = buf.str();
  return import_onnx_bytes(bytes.data(), bytes.size(), dir.string());
}

// Evaluates one conformance test directory on backend `backend_name`.
CaseResult run_conformance_case(const fs::path& dir, const std::string& backend_name) {
  const ConformanceBackend& be = find_backend(backend_name);
  Graph model;
  try {
    model = import_test_model(dir);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kUnsupported) return skip(classify_unsupported(e.what()), e.what());
    return failure(fmt::format("import failed ({}): {}", error_code_name(e.code()), e.what()));
  }
  std::vector<fs::path> sets;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_directory() && entry.path().filename().string().rfind("test_data_set_", 0) == 0) {
      sets.push_back(entry.path());
    }
  }
  std::sort(sets.begin(), sets.end());
  if (sets.empty()) return skip("no test data sets", dir.string());
  for (const fs::path& s : sets) {
    CaseResult r = run_data_set(model, s, be);
    if (r.status != CaseResult::Status::kPass) {
      r.message = fmt::format("{}: {}", s.filename().string(), r.message);
      return r;
    }
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// Test list and cached results

struct TestEntry {
  std::string name;
  bool ops_supported = false;  // every op in ops.def (gets its own gtest)
};

// Every test directory; whether its ops are all supported (model parsed once, ops looked up).
const std::vector<TestEntry>& all_tests() {
  static const std::vector<TestEntry> tests = [] {
    std::vector<TestEntry> r;
    std::error_code ec;
    if (!fs::is_directory(node_test_dir(), ec)) return r;
    for (const auto& entry : fs::directory_iterator(node_test_dir(), ec)) {
      if (!entry.is_directory() || !fs::exists(entry.path() / "model.onnx")) continue;
      TestEntry t;
      t.name = entry.path().filename().string();
      try {
        import_test_model(entry.path());
        t.ops_supported = true;
      } catch (const Error& e) {
        t.ops_supported = classify_unsupported(e.what()) != "op not in ops.def";
      }
      r.push_back(std::move(t));
    }
    std::sort(r.begin(), r.end(),
              [](const TestEntry& a, const TestEntry& b) { return a.name < b.name; });
    return r;
  }();
  return tests;
}

std::vector<std::string> supported_test_names() {
  std::vector<std::string> r;
  for (const auto& t : all_tests()) {
    if (t.ops_supported) r.push_back(t.name);
  }
  if (r.empty()) r.push_back("no_conformance_data");  // one visible skipped test
  return r;
}

const CaseResult& cached_result(const std::string& test, const std::string& backend) {
  static std::mutex mu;
  static std::map<std::pair<std::string, std::string>, CaseResult> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto key = std::make_pair(test, backend);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  CaseResult r;
  auto t0 = std::chrono::steady_clock::now();
  try {
    r = run_conformance_case(fs::path(node_test_dir()) / test, backend);
  } catch (const std::exception& e) {
    r = failure(fmt::format("unexpected exception: {}", e.what()));
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return cache.emplace(key, std::move(r)).first->second;
}

// ---------------------------------------------------------------------------------------------
// gtests

using Param = std::tuple<std::string, std::string>;  // backend, test name

class Conformance : public ::testing::TestWithParam<Param> {};

TEST_P(Conformance, Case) {
  const auto& [backend, test] = GetParam();
  if (all_tests().empty()) {
    GTEST_SKIP() << "ONNX conformance data not found at " << node_test_dir()
                 << " (apt install libonnx-testdata)";
  }
  const CaseResult& r = cached_result(test, backend);
  switch (r.status) {
    case CaseResult::Status::kPass:
      break;
    case CaseResult::Status::kSkip:
      GTEST_SKIP() << "[" << r.reason << "] " << r.message;
    case CaseResult::Status::kFail:
      ADD_FAILURE() << test << " (" << backend << "): " << r.message;
  }
}

// Backends run by ctest.
const std::vector<std::string> kRunBackends = {"reference", "reference-runtime", "cpu",
                                               "cpu-const-weights"};

INSTANTIATE_TEST_SUITE_P(Onnx, Conformance,
                         ::testing::Combine(::testing::ValuesIn(kRunBackends),
                                            ::testing::ValuesIn(supported_test_names())),
                         [](const ::testing::TestParamInfo<Param>& info) {
                           std::string b = std::get<0>(info.param);
                           std::replace(b.begin(), b.end(), '-', '_');
                           return b + "__" + std::get<1>(info.param);
                         });

class ConformanceSummary : public ::testing::TestWithParam<std::string> {};

// Runs every test directory (supported or not) and prints the summary and skip tally.
TEST_P(ConformanceSummary, AllTests) {
  const std::string backend = GetParam();
  if (all_tests().empty()) {
    GTEST_SKIP() << "ONNX conformance data not found at " << node_test_dir()
                 << " (apt install libonnx-testdata)";
  }
  double secs = 0;  // summed per case, whether the per-case gtests ran them first or not
  int passed = 0, failed = 0, skipped = 0;
  std::map<std::string, int> reasons;
  std::vector<std::string> failures;
  bool verbose = std::getenv("SHOAL_CONFORMANCE_VERBOSE") != nullptr;
  for (const auto& t : all_tests()) {
    const CaseResult& r = cached_result(t.name, backend);
    secs += r.seconds;
    switch (r.status) {
      case CaseResult::Status::kPass:
        ++passed;
        break;
      case CaseResult::Status::kFail:
        ++failed;
        failures.push_back(t.name);
        if (verbose) fmt::print("FAIL {}: {}\n", t.name, r.message);
        break;
      case CaseResult::Status::kSkip:
        ++skipped;
        ++reasons[r.reason];
        if (verbose) fmt::print("SKIP {} [{}]: {}\n", t.name, r.reason, r.message);
        break;
    }
  }
  fmt::print("conformance({}): {} supported, {} passed, {} failed, {} skipped ({:.1f} s)\n",
             backend, passed + failed, passed, failed, skipped, secs);
  for (const auto& [reason, n] : reasons) fmt::print("  skipped {:4d}: {}\n", n, reason);
  if (!failures.empty()) {
    std::string list;
    for (const auto& f : failures) list += (list.empty() ? "" : " ") + f;
    fmt::print("  failed: {}\n", list);
  }
  EXPECT_GT(passed, 0) << "no conformance test passed on " << backend;
}

INSTANTIATE_TEST_SUITE_P(Onnx, ConformanceSummary, ::testing::ValuesIn(kRunBackends),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string b = info.param;
                           std::replace(b.begin(), b.end(), '-', '_');
                           return b;
                         });

}  // namespace
}  // namespace shoal
