// ModelManager: the model registry and lifecycle under one memory budget (DESIGN.md, "Memory
// model" and "Model lifecycle"). Models are registered from a RepositoryConfig and loaded on
// first use (one load however many requests arrive at once), warmed up, leased to requests,
// evicted in LRU order when a load or an arena needs room (never a pinned or leased one),
// unloaded after their idle timeout, and hot-reloaded beside the running version (the switch is
// atomic and the old version drains; no request fails).
//
// Memory: weights live in one content-addressed WeightStore, activations in one ArenaPool, and
// every byte of both, plus each loaded model's own program memory, is charged to one
// MemoryBudget, so accounted bytes never exceed the budget. Thread-safe.
//
// Models are loaded through the model loader (runtime/model_loader.h) into the manager's
// MemoryContext. Process-wide effect of the first ModelManager: glibc's mmap threshold is fixed
// at 256 KiB (large buffers go back to the OS when freed, so RSS follows what is held).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "manager/config.h"
#include "memory/memory_context.h"
#include "runtime/model_loader.h"

namespace shoal {

enum class ModelState { kRegistered, kLoading, kReady, kUnloading, kFailed };
const char* model_state_name(ModelState s);

struct ManagerOptions {
  std::string backend = "cpu";
  bool warmup = true;  // run each model once after loading
  // How often the housekeeping thread checks idle timeouts and changed model files; 0 = no thread.
  std::chrono::milliseconds housekeeping_period{1000};
  bool watch_files = true;  // reload a loaded model when its file changes
  size_t max_shapes = 4;    // compiled plans kept per model (dynamic input shapes)
  // A request that finds the budget full of models in use waits this long for a lease to end
  // before it fails with kOutOfMemory (it fails at once when nothing is in use).
  std::chrono::milliseconds wait_for_memory{30000};
};

struct ModelStatus {
  std::string name;
  ModelState state = ModelState::kRegistered;
  std::string reason;  // why it failed (state kFailed) or why the last reload failed
  std::string version;
  bool pinned = false;
  int leases = 0;
  int loads = 0;          // completed loads (incl. reloads)
  int evictions = 0;      // unloaded to make room for another model (LRU)
  int unloads = 0;        // unloaded on request or after the idle timeout
  uint64_t lru_tick = 0;  // last use on the manager's LRU clock (higher = more recent)
  double load_ms = 0;     // last load, wall time (parse or cache, compile, pack; not the warm-up)
  bool from_cache = false;
  // Memory, when loaded:
  size_t weights_bytes = 0;  // weight blobs this model uses (shared ones counted in full)
  size_t unique_bytes = 0;   // of which used by no other loaded model
  size_t shared_bytes = 0;   // of which also used by another loaded model
  size_t model_bytes = 0;    // its own program memory (constants, kernels, plans)
  size_t arena_bytes = 0;    // largest planned arena among its shapes (borrowed from the pool)
  size_t naive_activation_bytes = 0;
  int plans = 0;  // compiled input shapes held
};

// What happened to a model, for logs and status pages (ModelManager::events()).
struct ManagerEvent {
  std::chrono::system_clock::time_point time;
  std::string kind;  // "load", "reload", "evict", "unload", "idle", "fail"
  std::string model;
  std::string detail;  // load time, the error, ...
};

struct ManagerMemory {
  size_t budget = 0;
  size_t accounted = 0;  // = weights + arenas + models + reserved
  size_t peak_accounted = 0;
  size_t weights = 0, arenas = 0, models = 0, reserved = 0;
  size_t arena_count = 0;
  size_t dedup_saved_bytes = 0;  // weight bytes interned again but held once
};

// What the manager checks before it loads anything (ModelManager's constructor, `shoal plan`):
// every model file exists, none is larger than the whole budget, precisions are supported.
// Throws Error naming the config, the model and the numbers.
void check_repository_config(const RepositoryConfig& config);
// "model 'a' (a.onnx) holds <holds>, more than the whole memory_budget of 8.00 MiB; raise ..."
std::string model_too_large_message(const ModelConfig& m, const std::string& holds, size_t budget);

class ModelManager {
 public:
  // Validates the config (files exist, no model larger than the budget) and loads the pinned
  // models; throws Error naming the model and the numbers when that cannot be done.
  explicit ModelManager(RepositoryConfig config, ManagerOptions options = {});
  ~ModelManager();
  ModelManager(const ModelManager&) = delete;
  ModelManager& operator=(const ModelManager&) = delete;

  struct Instance;
  // A loaded model held for the duration of a request: it cannot be evicted or freed meanwhile.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&&) noexcept;
    Lease& operator=(Lease&&) noexcept;
    ~Lease();
    const CompiledModel& model() const { return *plan_; }
    std::shared_ptr<const CompiledModel> plan() const { return plan_; }
    const std::string& version() const;
    const std::map<std::string, std::string>& metadata() const;
    // Runs the model on `inputs` (parallel model().inputs()) with an arena borrowed from the pool.
    std::vector<Tensor> run(const std::vector<Tensor>& inputs) const;
    explicit operator bool() const { return plan_ != nullptr; }

   private:
    friend class ModelManager;
    void release();
    ModelManager* mgr_ = nullptr;
    std::shared_ptr<Instance> inst_;
    std::shared_ptr<const CompiledModel> plan_;
  };

  // Loads `name` if needed and leases it compiled for `input_dims` (by input name; empty = the
  // model's configured or declared shape). Throws kNotFound for an unknown name, the load's error
  // when it fails, kOutOfMemory when the budget cannot hold it.
  Lease acquire(const std::string& name, const std::map<std::string, Dims>& input_dims = {});
  // acquire() with the inputs' dims, then run.
  std::vector<Tensor> infer(const std::string& name, const std::vector<Tensor>& inputs);

  void load(const std::string& name);
  // Unloads now if no request holds it; else it is freed when its last lease ends. Pinned
  // models cannot be unloaded (kInvalidArgument).
  void unload(const std::string& name);
  void unload_all();  // every unpinned model
  // Loads the model's file again beside the running version and switches when ready. On failure
  // the running version stays and the error is thrown (and kept in status().reason).
  void reload(const std::string& name);

  ModelStatus status(const std::string& name) const;
  // Just the state (cheap: no memory figures).
  ModelState state(const std::string& name) const;
  std::vector<ModelStatus> statuses() const;
  ManagerMemory memory() const;
  // The most recent events, newest first (the last 128 are kept).
  std::vector<ManagerEvent> events() const;
  const RepositoryConfig& config() const { return config_; }
  MemoryBudget& budget() { return memory_->budget(); }
  WeightStore& weights() { return memory_->weights(); }
  ArenaPool& arenas() { return memory_->arenas(); }
  // Runs f() (e.g. building a Session or a vision::Detector, which takes an arena from arenas());
  // while it fails with kOutOfMemory and models in use beyond the caller's own `own_leases` may
  // free some (leases ending, loads finishing), waits and runs it again, up to
  // options.wait_for_memory; then rethrows. A request that can never fit still fails at once.
  void with_memory(const std::function<void()>& f, int own_leases = 1);

  // Evicts idle unpinned models (LRU first) until `bytes` are free; returns whether they are.
  bool make_room(size_t bytes);
  // One housekeeping pass: idle timeouts and changed files (the background thread calls this).
  void housekeeping();

 private:
  struct Entry;
  Entry& entry(const std::string& name) const;
  std::shared_ptr<Instance> ensure_loaded(Entry& e);
  std::shared_ptr<Instance> load_instance(Entry& e);
  bool evict_one_idle(const Entry* except);
  void touch(Entry& e);
  void lease_ended();
  // Runs f(); while it fails for want of memory and something in use (beyond the caller's own
  // `own_leases`) may free some, waits and runs it again, up to options_.wait_for_memory.
  template <typename F>
  auto retry_for_room(int own_leases, F&& f) -> decltype(f());
  // After a kOutOfMemory: waits (up to 100 ms) for a lease to end or a load to finish and
  // returns true to retry; false when `deadline` passed, or when nothing beyond `own_leases` was
  // in use or loading for several retries in a row (counted in *idle_retries).
  bool wait_for_room(std::chrono::steady_clock::time_point deadline, int* idle_retries,
                     int own_leases = 0);

  RepositoryConfig config_;
  ManagerOptions options_;
  std::shared_ptr<MemoryContext> memory_;  // the budget, weight store and arena pool
  std::vector<std::unique_ptr<Entry>> entries_;
  std::atomic<uint64_t> clock_{0};  // LRU ticks
  std::atomic<int> active_leases_{0};
  std::atomic<int> loads_in_progress_{0};
  std::mutex room_mu_;
  std::condition_variable room_cv_;
  uint64_t releases_ = 0;  // guarded by room_mu_: lease ends and unloads so far

  void record(std::string kind, const std::string& model, std::string detail);
  mutable std::mutex events_mu_;
  std::vector<ManagerEvent> events_;  // oldest first, at most 128

  std::mutex hk_mu_;
  std::condition_variable hk_cv_;
  bool stopping_ = false;
  std::thread hk_thread_;
};

}  // namespace shoal
