// `shoal plan --config models.yaml [--budget 2GiB] [--fps 30] [--json]`: loads every model of a
// repository config into one ModelManager (really: parse, compile, pack, warm up), runs each,
// measures, and says what fits: per-model weights (unique and shared), arenas (planned vs naive),
// load times, accounted bytes against measured RSS, which models and pipelines fit the budget,
// how many streams each pipeline sustains at the given FPS, and concrete advice.
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/error.h"
#include "manager/model_manager.h"
#include "tools/commands.h"

namespace shoal {
namespace {

struct PlanOptions {
  std::string config;
  std::string budget;
  double fps = 30;
  int runs = 5;
  bool json = false;
};

PlanOptions g_opts;
CLI::App* g_cmd = nullptr;

double mib(size_t b) { return static_cast<double>(b) / (1024.0 * 1024.0); }

struct ModelRow {
  ModelStatus st;
  double cold_load_ms = 0;
  double warm_load_ms = 0;  // reload from the compiled-model cache
  size_t rss_growth = 0;    // RSS growth while loading it (the first also pays one-time set-up)
  double median_ms = 0;
  double accounted = 0;  // unique + own program memory + its share of shared blobs
};

}  // namespace

void register_plan_command(CLI::App& app) {
  g_cmd = app.add_subcommand(
      "plan", "load a repository config, measure every model, say what fits the budget");
  g_cmd->add_option("--config", g_opts.config, "models.yaml")->required();
  g_cmd->add_option("--budget", g_opts.budget, "override memory_budget (e.g. 2GiB)");
  g_cmd->add_option("--fps", g_opts.fps, "frames per second per stream")
      ->check(CLI::Range(0.01, 10000.0));
  g_cmd->add_option("--runs", g_opts.runs, "timed runs per model")->check(CLI::Range(1, 1000));
  g_cmd->add_flag("--json", g_opts.json, "print one JSON object");
}

std::optional<int> run_plan_command() {
  if (!g_cmd || !*g_cmd) return std::nullopt;
  using Clock = std::chrono::steady_clock;
  RepositoryConfig cfg = load_repository_config(g_opts.config);
  if (!g_opts.budget.empty()) cfg.memory_budget = parse_bytes(g_opts.budget);
  const size_t budget = cfg.memory_budget;
  check_repository_config(cfg);  // what `pipeline` and `serve` refuse, refused the same way
  // Loading and measuring takes seconds per model: a progress bar on a terminal.
  const bool progress = isatty(STDERR_FILENO);
  const size_t steps = cfg.models.size() * 3;  // cold load, runs, warm load
  size_t step = 0;
  auto tick = [&](const std::string& what) {
    if (progress) print_progress(step++, steps, what);
  };
  // Measure with an unlimited manager (to see what everything costs), judge against `budget`.
  RepositoryConfig measure_cfg = cfg;
  measure_cfg.memory_budget = 0;
  // A fresh compiled-model cache, so the first loads are cold (from ONNX) and the second warm.
  const std::string cache_dir = (std::filesystem::temp_directory_path() /
                                 fmt::format("shoal-plan-{}", static_cast<long>(getpid())))
                                    .string();
  std::filesystem::remove_all(cache_dir);
  measure_cfg.cache_dir = cache_dir;
  struct RemoveDir {
    std::string d;
    ~RemoveDir() {
      std::error_code ec;
      std::filesystem::remove_all(d, ec);
    }
  } remove_cache{cache_dir};
  for (ModelConfig& m : measure_cfg.models) m.pinned = false;
  ManagerOptions mo;
  mo.housekeeping_period = std::chrono::milliseconds(0);
  ModelManager mgr(measure_cfg, mo);
  trim_heap();
  const size_t rss0 = current_rss_bytes();
  const size_t process_rss0 = process_rss_bytes();

  std::vector<ModelRow> rows;
  for (const ModelConfig& m : cfg.models) {
    ModelRow r;
    tick("loading " + m.name);
    size_t before = current_rss_bytes();
    mgr.load(m.name);
    r.cold_load_ms = mgr.status(m.name).load_ms;
    size_t after = current_rss_bytes();
    r.rss_growth = after > before ? after - before : 0;
    rows.push_back(r);
  }
  const size_t rss_loaded = current_rss_bytes();
  for (size_t i = 0; i < cfg.models.size(); ++i) {
    tick("running " + cfg.models[i].name);
    ModelManager::Lease l = mgr.acquire(cfg.models[i].name);
    std::vector<Tensor> in;
    for (const TensorInfo& t : l.model().inputs()) {
      Tensor x(t.dtype, t.dims);
      if (t.dtype == DType::kF32) {
        float* p = x.data<float>();
        for (int64_t k = 0; k < x.numel(); ++k)
          p[k] = static_cast<float>((k * 7919) % 1000) / 1000.0f;
      }
      in.push_back(std::move(x));
    }
    std::vector<double> ms;
    for (int k = 0; k < g_opts.runs; ++k) {
      auto t0 = Clock::now();
      l.run(in);
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    rows[i].median_ms = ms[ms.size() / 2];
  }
  const size_t rss_run = current_rss_bytes();
  ManagerMemory mem = mgr.memory();
  for (size_t i = 0; i < cfg.models.size(); ++i) rows[i].st = mgr.status(cfg.models[i].name);

  // Per-model accounted bytes: own program memory + unique blobs + a share of shared blobs.
  size_t sum_weights = 0, sum_arenas = 0, sum_naive = 0, max_arena = 0;
  for (ModelRow& r : rows) {
    sum_weights += r.st.weights_bytes;
    sum_arenas += r.st.arena_bytes;
    sum_naive += r.st.naive_activation_bytes;
    max_arena = std::max(max_arena, r.st.arena_bytes);
  }
  const size_t unique_weights = mem.weights;
  const size_t shared_saved = sum_weights > unique_weights ? sum_weights - unique_weights : 0;
  // A shared blob is held once: split its bytes among the models that use it, in proportion.
  size_t sum_unique = 0, sum_shared_refs = 0;
  for (const ModelRow& r : rows) {
    sum_unique += r.st.unique_bytes;
    sum_shared_refs += r.st.shared_bytes;
  }
  const double shared_held =
      static_cast<double>(unique_weights > sum_unique ? unique_weights - sum_unique : 0);
  for (ModelRow& r : rows) {
    double share = sum_shared_refs ? static_cast<double>(r.st.shared_bytes) * shared_held /
                                         static_cast<double>(sum_shared_refs)
                                   : 0.0;
    r.accounted = static_cast<double>(r.st.unique_bytes + r.st.model_bytes) + share;
  }

  // Warm loads: unload each model and load it again from the compiled cache.
  for (size_t i = 0; i < cfg.models.size(); ++i) {
    tick("reloading " + cfg.models[i].name);
    mgr.unload(cfg.models[i].name);
    mgr.load(cfg.models[i].name);
    ModelStatus st = mgr.status(cfg.models[i].name);
    rows[i].warm_load_ms = st.from_cache ? st.load_ms : -1;
  }

  if (progress) clear_progress();
  mgr.unload_all();
  trim_heap();
  const size_t rss_unloaded = current_rss_bytes();
  ManagerMemory after = mgr.memory();

  // Verdicts. Together: every model's weights and program memory plus one arena per concurrent
  // execution (one stream: the largest arena).
  const size_t together = mem.weights + mem.models + max_arena;
  const bool all_fit = budget == 0 || together <= budget;
  std::map<std::string, const ModelRow*> by_name;
  for (size_t i = 0; i < rows.size(); ++i) by_name[cfg.models[i].name] = &rows[i];

  nlohmann::json j;
  j["config"] = g_opts.config;
  j["budget_bytes"] = budget;
  j["fps"] = g_opts.fps;
  j["rss_before_bytes"] = rss0;
  j["process_rss_before_bytes"] = process_rss0;
  j["rss_bytes"] = rss_run > rss0 ? rss_run - rss0 : 0;
  j["rss_after_load_bytes"] = rss_loaded > rss0 ? rss_loaded - rss0 : 0;
  j["rss_after_unload_bytes"] = rss_unloaded > rss0 ? rss_unloaded - rss0 : 0;
  j["accounted_bytes"] = mem.accounted;
  j["accounted_after_unload_bytes"] = after.accounted;
  j["weights_bytes"] = mem.weights;
  j["weights_bytes_if_not_shared"] = sum_weights;
  j["shared_bytes"] = shared_saved;
  j["arena_bytes"] = mem.arenas;
  j["arena_count"] = mem.arena_count;
  j["arena_bytes_if_one_per_model"] = sum_arenas;
  j["naive_activation_bytes"] = sum_naive;
  j["model_bytes"] = mem.models;
  j["fits"] = all_fit;
  j["needed_bytes"] = together;
  nlohmann::json saved = nlohmann::json::array();
  saved.push_back(
      {{"source", "weight de-duplication (identical tensors held once)"}, {"bytes", shared_saved}});
  saved.push_back({{"source", "arena pooling (one arena per concurrent run, not per model)"},
                   {"bytes", sum_arenas > mem.arenas ? sum_arenas - mem.arenas : 0}});
  saved.push_back({{"source", "activation planning (liveness + fusion + views vs naive sum)"},
                   {"bytes", sum_naive > sum_arenas ? sum_naive - sum_arenas : 0}});
  j["saved"] = saved;
  nlohmann::json models = nlohmann::json::array();
  for (size_t i = 0; i < rows.size(); ++i) {
    const ModelRow& r = rows[i];
    models.push_back(
        {{"name", r.st.name},
         {"path", cfg.models[i].path},
         {"weights_bytes", r.st.weights_bytes},
         {"unique_bytes", r.st.unique_bytes},
         {"shared_bytes", r.st.shared_bytes},
         {"model_bytes", r.st.model_bytes},
         {"arena_bytes", r.st.arena_bytes},
         {"naive_activation_bytes", r.st.naive_activation_bytes},
         // Loaded by itself (as `shoal run` / `bench` report it): weights, program,
         // one arena.
         {"accounted_bytes", r.st.weights_bytes + r.st.model_bytes + r.st.arena_bytes},
         // Its part of the total here: unique + share of shared weights + program.
         {"accounted_share_bytes", static_cast<size_t>(r.accounted)},
         {"cold_load_ms", r.cold_load_ms},
         {"warm_load_ms", r.warm_load_ms},
         {"rss_growth_at_load_bytes", r.rss_growth},
         {"rss_bytes", r.rss_growth},
         {"median_ms", r.median_ms},
         {"fits_alone",
          budget == 0 || r.st.weights_bytes + r.st.model_bytes + r.st.arena_bytes <= budget}});
  }
  j["models"] = models;
  nlohmann::json pipes = nlohmann::json::array();
  for (const PipelineConfig& p : cfg.pipelines) {
    size_t need_w = 0, arena = 0;
    double frame_ms = 0;
    std::vector<const WeightBlob*> seen;
    for (const std::string& n : p.models) {
      const ModelRow* r = by_name.at(n);
      need_w += r->st.unique_bytes + r->st.shared_bytes + r->st.model_bytes;
      arena = std::max(arena, r->st.arena_bytes);
      frame_ms += r->median_ms;
    }
    size_t need = need_w + arena;
    int streams = frame_ms > 0 ? static_cast<int>(1000.0 / (frame_ms * g_opts.fps)) : 0;
    pipes.push_back({{"name", p.name},
                     {"models", p.models},
                     {"needed_bytes", need},
                     {"fits", budget == 0 || need <= budget},
                     {"frame_ms", frame_ms},
                     {"streams_at_fps", streams}});
  }
  j["pipelines"] = pipes;
  nlohmann::json advice = nlohmann::json::array();
  for (const ModelRow& r : rows) {
    size_t bf16_save = (r.st.weights_bytes + r.st.arena_bytes) / 2;
    advice.push_back(
        fmt::format("bf16 would save about {:.1f} MiB on {} (half its weights and arena; "
                    "bf16 is not implemented yet)",
                    mib(bf16_save), r.st.name));
  }
  if (!all_fit) {
    advice.push_back(
        fmt::format("all models together need {:.1f} MiB, {:.1f} MiB over the budget: "
                    "the manager will evict idle models (LRU) to serve requests; "
                    "raise memory_budget to {:.0f} MiB to keep all resident",
                    mib(together), mib(together - budget), std::ceil(mib(together))));
  }
  j["advice"] = advice;
  // What cannot run at all under this budget: errors, as the manager would raise them when the
  // config is served (a model larger than the whole budget; pinned models that do not fit
  // together, each beside one arena).
  std::vector<std::string> errors;
  size_t pinned_need = 0, pinned_arena = 0;
  std::string pinned_names;
  for (size_t i = 0; i < rows.size(); ++i) {
    const ModelStatus& st = rows[i].st;
    const size_t alone = st.weights_bytes + st.model_bytes + st.arena_bytes;
    if (budget && alone > budget) {
      errors.push_back(model_too_large_message(
          cfg.models[i],
          fmt::format("{} (weights {}, program {}, arena {})", format_bytes(alone),
                      format_bytes(st.weights_bytes), format_bytes(st.model_bytes),
                      format_bytes(st.arena_bytes)),
          budget));
    }
    if (cfg.models[i].pinned) {
      pinned_need += st.unique_bytes + st.shared_bytes + st.model_bytes;
      pinned_arena = std::max(pinned_arena, st.arena_bytes);
      pinned_names += (pinned_names.empty() ? "" : ", ") + cfg.models[i].name;
    }
  }
  if (budget && pinned_need + pinned_arena > budget) {
    errors.push_back(fmt::format(
        "the pinned models {} need {} together (one arena included), more than the memory_budget "
        "of {}; unpin some or raise memory_budget",
        pinned_names, format_bytes(pinned_need + pinned_arena), format_bytes(budget)));
  }
  j["errors"] = errors;

  if (g_opts.json) {
    std::cout << j.dump() << "\n";
    return errors.empty() ? 0 : 1;
  }
  fmt::print("{}: {} models, budget {}\n\n", g_opts.config, rows.size(),
             budget ? fmt::format("{:.1f} MiB", mib(budget)) : std::string("unlimited"));
  fmt::print("{:<16} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9}\n", "model",
             "weights", "unique", "shared", "program", "arena", "naive act", "load RSS", "cold ms",
             "warm ms", "run ms");
  for (const ModelRow& r : rows) {
    fmt::print(
        "{:<16} {:>9.2f} {:>9.2f} {:>9.2f} {:>9.2f} {:>10.2f} {:>10.1f} {:>9.2f} {:>9.1f} {:>9.1f} "
        "{:>9.1f}\n",
        r.st.name, mib(r.st.weights_bytes), mib(r.st.unique_bytes), mib(r.st.shared_bytes),
        mib(r.st.model_bytes), mib(r.st.arena_bytes), mib(r.st.naive_activation_bytes),
        mib(r.rss_growth), r.cold_load_ms, r.warm_load_ms, r.median_ms);
  }
  fmt::print(
      "(MiB; load RSS = RSS growth while loading; cold = load from ONNX, warm = from the compiled "
      "cache, both without the warm-up run; run = median of {} runs)\n\n",
      g_opts.runs);
  fmt::print(
      "held: weights {:.2f} MiB (would be {:.2f} without sharing), arenas {:.2f} MiB in {} "
      "arena(s) "
      "(would be {:.2f} with one per model), program {:.2f} MiB\n",
      mib(mem.weights), mib(sum_weights), mib(mem.arenas), mem.arena_count, mib(sum_arenas),
      mib(mem.models));
  fmt::print(
      "accounted {:.2f} MiB; measured RSS growth {:.2f} MiB (after loading {:.2f}); after "
      "unloading all: accounted {:.2f} MiB, RSS growth {:.2f} MiB\n",
      mib(mem.accounted), mib(rss_run > rss0 ? rss_run - rss0 : 0),
      mib(rss_loaded > rss0 ? rss_loaded - rss0 : 0), mib(after.accounted),
      mib(rss_unloaded > rss0 ? rss_unloaded - rss0 : 0));
  fmt::print(
      "verdict: all models together need {:.2f} MiB: {}\n", mib(together),
      all_fit ? "they fit" : "they do NOT fit; idle models will be evicted to serve requests");
  for (const auto& p : pipes) {
    fmt::print("pipeline {}: needs {:.2f} MiB ({}), {:.1f} ms per frame, {} stream(s) at {} FPS\n",
               p["name"].get<std::string>(), mib(p["needed_bytes"].get<size_t>()),
               p["fits"].get<bool>() ? "fits" : "does NOT fit", p["frame_ms"].get<double>(),
               p["streams_at_fps"].get<int>(), g_opts.fps);
  }
  for (const auto& a : advice) fmt::print("advice: {}\n", a.get<std::string>());
  for (const std::string& e : errors) fmt::print(stderr, "shoal plan: error: {}\n", e);
  return errors.empty() ? 0 : 1;
}

}  // namespace shoal
