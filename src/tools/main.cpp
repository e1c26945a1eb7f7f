// The `shoal` command line: the first user of the C++ library API.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.h"
#include "core/npy.h"
#include "onnx/import.h"
#include "runtime/model_loader.h"
#include "tools/commands.h"

namespace shoal {
namespace {

size_t peak_rss_bytes() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<size_t>(ru.ru_maxrss) * 1024;
}

std::string mib(size_t b) { return fmt::format("{:.2f} MiB", static_cast<double>(b) / (1 << 20)); }

// "images=1,3,640,480" -> {"images", [1,3,640,480]}
std::pair<std::string, Dims> parse_shape_arg(const std::string& s) {
  auto eq = s.find('=');
  if (eq == std::string::npos || eq == 0) {
    fail(ErrorCode::kInvalidArgument, "--shape '{}': expected NAME=d0,d1,...", s);
  }
  Dims d;
  std::string rest = s.substr(eq + 1);
  size_t pos = 0;
  while (pos <= rest.size()) {
    size_t c = rest.find(',', pos);
    std::string item = rest.substr(pos, c == std::string::npos ? std::string::npos : c - pos);
    try {
      size_t used = 0;
      long long v = std::stoll(item, &used);
      if (used != item.size() || v <= 0) throw std::invalid_argument("dim");
      d.push_back(v);
    } catch (const std::exception&) {
      fail(ErrorCode::kInvalidArgument, "--shape '{}': '{}' is not a positive integer", s, item);
    }
    if (c == std::string::npos) break;
    pos = c + 1;
  }
  return {s.substr(0, eq), d};
}

std::string safe_filename(const std::string& name) {
  std::string r = name;
  for (char& c : r) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) c = '_';
  }
  if (r.empty() || r == "." || r == "..") r = "_" + r;
  return r;
}

Tensor random_input(const TensorInfo& info, uint32_t seed) {
  Tensor t(info.dtype, info.dims);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (dtype_is_float(info.dtype)) {
      t.set_f64(i, u(rng));
    } else {
      t.set_f64(i, static_cast<double>(rng() % 10));
    }
  }
  return t;
}

struct CommonOptions {
  std::string model;
  std::string backend = "cpu";
  int threads = 0;
  std::vector<std::string> shapes;
  bool no_optimize = false;
};

void add_common(CLI::App* sub, CommonOptions& o) {
  sub->add_option("model", o.model, "ONNX model file")->required();
  sub->add_option("--backend", o.backend, "cpu or reference")
      ->check(CLI::IsMember({"cpu", "reference"}));
  sub->add_option("--threads", o.threads, "compute threads (default: all cores)");
  sub->add_option("--shape", o.shapes, "input dims NAME=d0,d1,... (for dynamic models)");
  sub->add_flag("--no-optimize", o.no_optimize, "skip graph fusions (for debugging)");
}

std::map<std::string, Dims> shape_overrides(const CommonOptions& o) {
  std::map<std::string, Dims> m;
  for (const std::string& s : o.shapes) m.insert(parse_shape_arg(s));
  return m;
}

LoadOptions load_options(const CommonOptions& o) {
  LoadOptions lo;
  lo.backend = o.backend;
  lo.optimize_graph = !o.no_optimize;
  lo.dims.input_dims = shape_overrides(o);
  lo.warmup = false;  // the commands run (or only inspect) the model themselves
  return lo;
}

// The memory a model loaded through the loader holds, as `shoal plan` reports it per model.
void add_accounting(nlohmann::json& j, const LoadedModel& m) {
  const ModelBytes b = m.bytes();
  j["accounted_bytes"] = b.accounted();
  j["accounted"] = {{"weight_blob_bytes", b.weights},
                    {"program_bytes", b.program},
                    {"arena_bytes", b.arena},
                    {"budget_used_bytes", m.memory().budget().used()}};
}

std::string accounting_line(const LoadedModel& m) {
  const ModelBytes b = m.bytes();
  return fmt::format("accounted {} = weights {} + program {} + arena {}", mib(b.accounted()),
                     mib(b.weights), mib(b.program), mib(b.arena));
}

int cmd_inspect(const CommonOptions& o, bool json) {
  // The file as exported (ops, parameters, opset), then the model as the loader compiles it.
  Graph g = import_onnx_file(o.model);
  std::map<std::string, int> ops;
  size_t params = 0;
  for (const Node& n : g.nodes) ops[n.op_type]++;
  for (const Value& v : g.values) {
    if (v.is_constant()) params += v.constant.nbytes();
  }
  std::shared_ptr<LoadedModel> lm = LoadedModel::load(ModelSource::file(o.model), load_options(o));
  std::shared_ptr<const CompiledModel> cm = lm->default_plan();
  const MemoryReport& m = cm->memory();
  size_t views = 0;
  for (const ProgramValue& pv : cm->program().values) views += pv.alias_of >= 0 ? 1 : 0;
  if (json) {
    nlohmann::json j;
    j["model"] = o.model;
    j["backend"] = cm->backend_name();
    j["opset"] = g.opset;
    j["ops"] = ops;
    j["nodes"] = g.nodes.size();
    j["parameter_bytes"] = params;
    j["weights_bytes"] = m.weights_bytes;
    j["packed_weight_bytes"] = m.packed_weight_bytes;
    j["flops"] = cm->flops();
    j["naive_activation_bytes"] = m.naive_activation_bytes;
    j["exported_max_live_bytes"] = m.exported_max_live_bytes;
    j["max_live_bytes"] = m.max_live_bytes;
    j["program_naive_bytes"] = m.program_naive_bytes;
    j["arena_bytes"] = m.arena_bytes;
    j["steps"] = cm->program().steps.size();
    j["views"] = views;
    j["data_dependent_nodes"] = cm->data_dependent_nodes();
    j["passes"] = cm->pass_stats();
    nlohmann::json ins = nlohmann::json::array(), outs = nlohmann::json::array();
    for (const TensorInfo& t : cm->inputs())
      ins.push_back({{"name", t.name}, {"dtype", dtype_name(t.dtype)}, {"dims", t.dims}});
    for (const TensorInfo& t : cm->outputs())
      outs.push_back({{"name", t.name}, {"dtype", dtype_name(t.dtype)}, {"dims", t.dims}});
    j["inputs"] = ins;
    j["outputs"] = outs;
    j["metadata"] = g.metadata;
    j["accounted_bytes"] = lm->bytes().accounted();
    j["program_bytes"] = lm->bytes().program;
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  fmt::print("model      {}\n", o.model);
  fmt::print("opset      {}  producer {}\n", g.opset, g.producer);
  for (const TensorInfo& t : cm->inputs())
    fmt::print("input      {} {} {}\n", t.name, dtype_name(t.dtype), dims_str(t.dims));
  for (const TensorInfo& t : cm->outputs())
    fmt::print("output     {} {} {}\n", t.name, dtype_name(t.dtype), dims_str(t.dims));
  for (const char* k : {"task", "stride", "imgsz", "kpt_shape"}) {
    auto it = g.metadata.find(k);
    if (it != g.metadata.end()) fmt::print("meta       {} = {}\n", k, it->second);
  }
  fmt::print("ops        {} nodes:", g.nodes.size());
  for (const auto& [k, v] : ops) fmt::print(" {} {}", k, v);
  fmt::print("\n");
  fmt::print("passes    ");
  for (const auto& [k, v] : cm->pass_stats()) fmt::print(" {} {}", k, v);
  fmt::print("\n");
  fmt::print("program    {} steps on the {} backend, {} zero-copy views\n",
             cm->program().steps.size(), cm->backend_name(), views);
  if (cm->data_dependent_nodes() > 0) {
    fmt::print("after it   {} nodes whose shapes depend on the data (run by reference kernels)\n",
               cm->data_dependent_nodes());
  }
  fmt::print("parameters {} ({} bytes)\n", mib(params), params);
  fmt::print("weights    {} held at run time ({} packed by kernels)\n", mib(m.weights_bytes),
             mib(m.packed_weight_bytes));
  fmt::print("FLOPs      {:.3f} G\n", cm->flops() / 1e9);
  fmt::print("activations, as exported: naive sum {}, max-live bound {}\n",
             mib(m.naive_activation_bytes), mib(m.exported_max_live_bytes));
  fmt::print("activations, compiled:    naive sum {}, max-live bound {}, planned arena {}\n",
             mib(m.program_naive_bytes), mib(m.max_live_bytes), mib(m.arena_bytes));
  fmt::print("memory     {}\n", accounting_line(*lm));
  return 0;
}

int cmd_run(const CommonOptions& o, const std::vector<std::string>& input_args,
            const std::string& out_dir, bool json) {
  set_compute_threads(o.threads);
  std::map<std::string, Tensor> given;
  for (const std::string& a : input_args) {
    auto eq = a.find('=');
    if (eq == std::string::npos || eq == 0) {
      fail(ErrorCode::kInvalidArgument, "--input '{}': expected NAME=FILE.npy", a);
    }
    given[a.substr(0, eq)] = read_npy(a.substr(eq + 1));
  }
  LoadOptions lo = load_options(o);
  for (const auto& [name, t] : given) lo.dims.input_dims[name] = t.dims();
  std::shared_ptr<LoadedModel> lm = LoadedModel::load(ModelSource::file(o.model), lo);
  std::string expected;
  for (const TensorInfo& t : lm->declared_inputs()) {
    expected += fmt::format("{}{} {} {}", expected.empty() ? "" : "; ", t.name, dtype_name(t.dtype),
                            dims_str(t.dims));
  }
  for (const TensorInfo& t : lm->declared_inputs()) {
    if (!given.count(t.name)) {
      fail(ErrorCode::kInvalidArgument,
           "input '{}' not given (use --input {}=FILE.npy); the model's inputs are: {}", t.name,
           t.name, expected);
    }
  }
  std::shared_ptr<const CompiledModel> cm = lm->default_plan();
  // Convert dtype where lossless intent is clear (e.g. float64 .npy for a float32 input).
  std::vector<Tensor> feed;
  for (const TensorInfo& t : cm->inputs()) {
    Tensor x = given.at(t.name);
    if (x.dtype() != t.dtype) {
      if (dtype_is_float(x.dtype()) != dtype_is_float(t.dtype)) {
        fail(ErrorCode::kInvalidArgument, "input '{}' is {} but the model expects {}", t.name,
             dtype_name(x.dtype()), dtype_name(t.dtype));
      }
      x = cast_tensor(x, t.dtype);
    }
    feed.push_back(x);
  }
  std::vector<Tensor> outs = lm->run(*cm, feed);
  std::filesystem::create_directories(out_dir);
  nlohmann::json jouts = nlohmann::json::array();
  for (size_t i = 0; i < cm->outputs().size(); ++i) {
    const TensorInfo& t = cm->outputs()[i];
    Tensor x = outs[i];
    // .npy has float16 ("<f2") but no bfloat16.
    if (x.dtype() == DType::kBF16) x = cast_tensor(x, DType::kF32);
    std::string path = (std::filesystem::path(out_dir) / (safe_filename(t.name) + ".npy")).string();
    write_npy(path, x);
    if (!json)
      fmt::print("{} {} {} -> {}\n", t.name, dtype_name(x.dtype()), dims_str(x.dims()), path);
    jouts.push_back(
        {{"name", t.name}, {"dtype", dtype_name(x.dtype())}, {"dims", x.dims()}, {"path", path}});
  }
  if (json) {
    nlohmann::json j;
    j["model"] = o.model;
    j["backend"] = cm->backend_name();
    j["outputs"] = jouts;
    add_accounting(j, *lm);
    std::cout << j.dump() << "\n";
  } else {
    fmt::print("memory: {}\n", accounting_line(*lm));
  }
  return 0;
}

int cmd_bench(const CommonOptions& o, int batch, int runs, int warmup, bool json, bool profile) {
  set_compute_threads(o.threads);
  size_t rss0 = peak_rss_bytes();
  LoadOptions lo = load_options(o);
  if (batch > 0) lo.dims.batch = batch;
  auto t0 = std::chrono::steady_clock::now();
  std::shared_ptr<LoadedModel> lm = LoadedModel::load(ModelSource::file(o.model), lo);
  double load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::shared_ptr<const CompiledModel> cm = lm->default_plan();
  Session s(cm, lm->memory().arenas());
  std::vector<Tensor> inputs;
  for (size_t i = 0; i < cm->inputs().size(); ++i)
    inputs.push_back(random_input(cm->inputs()[i], 1234 + static_cast<uint32_t>(i)));
  for (int i = 0; i < warmup; ++i) s.run(inputs);
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    auto a = std::chrono::steady_clock::now();
    s.run(inputs);
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
  }
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  double median = sorted.empty() ? 0 : sorted[sorted.size() / 2];
  if (!sorted.empty() && sorted.size() % 2 == 0)
    median = 0.5 * (sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]);
  double p90 =
      sorted.empty()
          ? 0
          : sorted[std::min(sorted.size() - 1,
                            static_cast<size_t>(0.9 * static_cast<double>(sorted.size())))];
  int b = cm->inputs().empty() || cm->inputs()[0].dims.empty()
              ? 1
              : static_cast<int>(cm->inputs()[0].dims[0]);
  size_t rss = peak_rss_bytes();
  if (profile) {
    std::map<std::string, double> by_op;
    std::vector<double> total(cm->program().steps.size(), 0.0);
    const int prof_runs = std::max(1, std::min(runs, 20));
    for (int r = 0; r < prof_runs; ++r) {
      auto t = s.profile(inputs);
      for (size_t i = 0; i < t.size(); ++i) total[i] += t[i] / prof_runs;
    }
    for (size_t i = 0; i < total.size(); ++i) by_op[cm->program().steps[i].op] += total[i];
    std::vector<std::pair<double, std::string>> rows;
    for (const auto& [k, v] : by_op) rows.emplace_back(v, k);
    std::sort(rows.rbegin(), rows.rend());
    fmt::print(stderr, "profile (mean of {} runs, ms per op kind):\n", prof_runs);
    for (const auto& [v, k] : rows) fmt::print(stderr, "  {:<24} {:8.3f}\n", k, v);
    std::vector<size_t> idx(total.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t c) { return total[a] > total[c]; });
    fmt::print(stderr, "slowest steps:\n");
    for (size_t k = 0; k < std::min<size_t>(15, idx.size()); ++k) {
      const Step& st = cm->program().steps[idx[k]];
      fmt::print(stderr, "  {:8.3f} ms  {:6.1f} GFLOP/s  {}\n", total[idx[k]],
                 st.flops > 0 ? st.flops / (total[idx[k]] * 1e6) : 0.0, st.label);
    }
  }
  if (json) {
    nlohmann::json j;
    j["model"] = o.model;
    j["backend"] = cm->backend_name();
    j["median_ms"] = median;
    j["p90_ms"] = p90;
    j["min_ms"] = sorted.empty() ? 0 : sorted.front();
    j["runs"] = runs;
    j["warmup"] = warmup;
    j["threads"] = compute_threads();
    j["thread_placement"] = compute_affinity_mode();
    j["batch"] = b;
    j["throughput_per_s"] = median > 0 ? b * 1000.0 / median : 0;
    j["weights_bytes"] = cm->memory().weights_bytes;
    j["arena_bytes"] = cm->memory().arena_bytes;
    j["peak_rss_bytes"] = rss;
    j["rss_before_load_bytes"] = rss0;
    j["load_ms"] = load_ms;
    j["flops"] = cm->flops();
    add_accounting(j, *lm);
    std::cout << j.dump() << "\n";
  } else {
    fmt::print(
        "{} on {} ({} threads, batch {}): median {:.2f} ms, p90 {:.2f} ms, {:.1f} images/s\n",
        o.model, cm->backend_name(), compute_threads(), b, median, p90,
        median > 0 ? b * 1000.0 / median : 0);
    fmt::print("{}; peak RSS {}, load {:.0f} ms; threads: {}\n", accounting_line(*lm), mib(rss),
               load_ms, compute_affinity_mode());
  }
  return 0;
}

}  // namespace
}  // namespace shoal

int main(int argc, char** argv) {
  using namespace shoal;
  CLI::App app{"shoal: many vision models, one memory budget"};
  app.require_subcommand(0, 1);
  app.set_version_flag("--version",
                       fmt::format("shoal {} ({})", SHOAL_VERSION, backend_fingerprint("cpu")));

  CommonOptions inspect_o;
  bool inspect_json = false;
  auto* inspect =
      app.add_subcommand("inspect", "ops, weights, FLOPs and planned memory of a model");
  add_common(inspect, inspect_o);
  inspect->add_flag("--json", inspect_json, "one JSON object");

  CommonOptions run_o;
  std::vector<std::string> run_inputs;
  std::string run_out = "out";
  auto* run = app.add_subcommand("run", "one inference: .npy inputs in, .npy outputs out");
  add_common(run, run_o);
  run->add_option("--input", run_inputs, "NAME=FILE.npy (repeat for each input)");
  run->add_option("--out", run_out, "output folder (default: out)");
  bool run_json = false;
  run->add_flag("--json", run_json, "one JSON object: outputs and the accounted memory");

  CommonOptions bench_o;
  int bench_batch = 0, bench_runs = 30, bench_warmup = 5;
  bool bench_json = false, bench_profile = false;
  auto* bench = app.add_subcommand("bench", "latency, throughput and memory on random input");
  add_common(bench, bench_o);
  bench->add_option("--batch", bench_batch, "batch size (dynamic-batch models)");
  bench->add_option("--runs", bench_runs, "timed runs (default 30)")->check(CLI::Range(1, 100000));
  bench->add_option("--warmup", bench_warmup, "warm-up runs (default 5)")
      ->check(CLI::Range(0, 10000));
  bench->add_flag("--json", bench_json, "one JSON object");
  bench->add_flag("--profile", bench_profile, "per-op time breakdown on stderr");

  register_extra_commands(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (app.get_subcommands().empty()) {  // plain `shoal`: what it does and how to start
    fmt::print("{}", app.help());
    return 0;
  }
  try {
    if (*inspect) return cmd_inspect(inspect_o, inspect_json);
    if (*run) return cmd_run(run_o, run_inputs, run_out, run_json);
    if (*bench)
      return cmd_bench(bench_o, bench_batch, bench_runs, bench_warmup, bench_json, bench_profile);
    return run_extra_commands(app);
  } catch (const Error& e) {
    fmt::print(stderr, "shoal: error ({}): {}\n", error_code_name(e.code()), e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "shoal: error: {}\n", e.what());
    return 1;
  }
}
