#include "manager/model_manager.h"

#include <algorithm>
#include <filesystem>
#include <optional>

#include "core/error.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct FileStamp {
  uintmax_t size = 0;
  fs::file_time_type mtime{};
  bool operator==(const FileStamp& o) const { return size == o.size && mtime == o.mtime; }
};

FileStamp stamp_of(const std::string& path) {
  std::error_code ec;
  FileStamp s;
  s.size = fs::file_size(path, ec);
  if (ec) return {};
  s.mtime = fs::last_write_time(path, ec);
  return s;
}

}  // namespace

const char* model_state_name(ModelState s) {
  switch (s) {
    case ModelState::kRegistered:
      return "registered";
    case ModelState::kLoading:
      return "loading";
    case ModelState::kReady:
      return "ready";
    case ModelState::kUnloading:
      return "unloading";
    case ModelState::kFailed:
      return "failed";
  }
  return "?";
}

// One loaded version of a model.
struct ModelManager::Instance {
  Entry* entry = nullptr;  // the registry entry it was loaded for (outlives it)
  std::string version;
  FileStamp stamp;  // the file as the load read it
  std::atomic<int> leases{0};
  std::shared_ptr<LoadedModel> model;
};

struct ModelManager::Entry {
  ModelConfig cfg;
  mutable std::mutex mu;
  std::condition_variable cv;
  ModelState state = ModelState::kRegistered;
  std::string reason;
  ErrorCode fail_code = ErrorCode::kInternal;
  std::shared_ptr<Instance> current;
  bool reloading = false;
  uint64_t load_generation = 0;  // bumped when a load attempt ends
  int loads = 0;
  int evictions = 0;
  int unloads = 0;
  std::atomic<uint64_t> last_tick{0};
  std::atomic<int64_t> last_used_ns{0};
};

void check_repository_config(const RepositoryConfig& config) {
  for (const ModelConfig& m : config.models) {
    std::error_code ec;
    if (!fs::is_regular_file(m.path, ec)) {
      fail(ErrorCode::kNotFound,
           "model '{}': file '{}' does not exist (paths in {} are relative to its folder)", m.name,
           m.path, config.source.empty() ? "the config" : config.source);
    }
    uintmax_t size = fs::file_size(m.path, ec);
    if (!ec && config.memory_budget && size > config.memory_budget) {
      fail(ErrorCode::kOutOfMemory, "{}",
           model_too_large_message(m, format_bytes(size) + " of weights and graph",
                                   config.memory_budget));
    }
    if (m.precision != "fp32") {
      fail(ErrorCode::kUnsupported, "model '{}': precision {} is not implemented yet (fp32 only)",
           m.name, m.precision);
    }
  }
}

std::string model_too_large_message(const ModelConfig& m, const std::string& holds, size_t budget) {
  return fmt::format(
      "model '{}' ({}) holds {}, more than the whole memory_budget of {}; raise memory_budget or "
      "use a smaller model",
      m.name, m.path, holds, format_bytes(budget));
}

ModelManager::ModelManager(RepositoryConfig config, ManagerOptions options)
    : config_(std::move(config)), options_(std::move(options)) {
  tune_malloc_for_accounting();
  check_repository_config(config_);
  memory_ = std::make_shared<MemoryContext>(config_.memory_budget);
  for (const ModelConfig& m : config_.models) {
    auto e = std::make_unique<Entry>();
    e->cfg = m;
    entries_.push_back(std::move(e));
  }
  warm_up_runtime(options_.backend);
  trim_heap();
  memory_->budget().set_reclaimer(
      [this](size_t needed, const std::string&) { return make_room(needed); });

  std::vector<std::string> pinned_loaded;
  for (auto& e : entries_) {
    if (!e->cfg.pinned) continue;
    try {
      ensure_loaded(*e);
      pinned_loaded.push_back(e->cfg.name);
    } catch (const Error& err) {
      memory_->budget().set_reclaimer(nullptr);
      std::string before;
      for (const std::string& n : pinned_loaded) before += (before.empty() ? "" : ", ") + n;
      fail(err.code(), "pinned model '{}' cannot be loaded{}: {}", e->cfg.name,
           before.empty() ? ""
                          : fmt::format(" beside the pinned {} ({} in use of a {} budget)", before,
                                        format_bytes(memory_->budget().used()),
                                        format_bytes(memory_->budget().limit())),
           err.what());
    }
  }
  if (options_.housekeeping_period.count() > 0) {
    hk_thread_ = std::thread([this] {
      std::unique_lock<std::mutex> lk(hk_mu_);
      while (!stopping_) {
        hk_cv_.wait_for(lk, options_.housekeeping_period);
        if (stopping_) break;
        lk.unlock();
        try {
          housekeeping();
        } catch (...) {  // a housekeeping failure never takes the manager down
        }
        lk.lock();
      }
    });
  }
}

ModelManager::~ModelManager() {
  {
    std::lock_guard<std::mutex> lk(hk_mu_);
    stopping_ = true;
  }
  hk_cv_.notify_all();
  if (hk_thread_.joinable()) hk_thread_.join();
  memory_->budget().set_reclaimer(nullptr);
  for (auto& e : entries_) {
    std::shared_ptr<Instance> victim;
    {
      std::lock_guard<std::mutex> lk(e->mu);
      victim = std::move(e->current);
    }
  }
}

ModelManager::Entry& ModelManager::entry(const std::string& name) const {
  for (const auto& e : entries_) {
    if (e->cfg.name == name) return *e;
  }
  std::string names;
  for (const auto& e : entries_) names += (names.empty() ? "" : ", ") + e->cfg.name;
  fail(ErrorCode::kNotFound, "no model named '{}'; the repository has: {}", name, names);
}

void ModelManager::touch(Entry& e) {
  e.last_tick.store(++clock_, std::memory_order_relaxed);
  e.last_used_ns.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
}

std::shared_ptr<ModelManager::Instance> ModelManager::load_instance(Entry& e) {
  const ModelConfig& cfg = e.cfg;
  // Counted while in progress (its reservation will return): others short of memory wait.
  struct InProgress {
    ModelManager* m;
    explicit InProgress(ModelManager* mm) : m(mm) { m->loads_in_progress_++; }
    ~InProgress() {
      m->loads_in_progress_--;
      {
        std::lock_guard<std::mutex> lk(m->room_mu_);
        m->releases_++;
      }
      m->room_cv_.notify_all();
    }
  } in_progress(this);
  auto inst = std::make_shared<Instance>();
  inst->entry = &e;
  inst->version = cfg.version;
  inst->stamp = stamp_of(cfg.path);
  if (inst->stamp.size == 0) {
    fail(ErrorCode::kNotFound, "model '{}': cannot read '{}'", cfg.name, cfg.path);
  }
  LoadOptions lo;
  lo.backend = options_.backend;
  lo.dims.first_input_shape = cfg.input_shape;
  lo.dims.max_batch = cfg.max_batch;
  lo.cache_dir = config_.cache_dir;
  lo.memory = memory_;
  lo.warmup = options_.warmup;
  lo.max_plans = options_.max_shapes;
  inst->model = LoadedModel::load(ModelSource::file(cfg.path, cfg.name), lo);
  // The file as the load read it (it may have changed again since: then it is reloaded).
  inst->stamp.size = inst->model->source_size();
  inst->stamp.mtime = inst->model->source_mtime();
  return inst;
}

std::shared_ptr<ModelManager::Instance> ModelManager::ensure_loaded(Entry& e) {
  std::unique_lock<std::mutex> lk(e.mu);
  for (;;) {
    if (e.current) return e.current;
    if (e.state == ModelState::kLoading) {
      uint64_t gen = e.load_generation;
      e.cv.wait(lk, [&] { return e.load_generation != gen; });
      if (!e.current && e.state == ModelState::kFailed) throw Error(e.fail_code, e.reason);
      continue;
    }
    e.state = ModelState::kLoading;
    lk.unlock();
    std::shared_ptr<Instance> inst;
    try {
      inst = load_instance(e);
    } catch (const std::exception& err) {
      lk.lock();
      e.state = ModelState::kFailed;
      e.reason = err.what();
      const auto* se = dynamic_cast<const Error*>(&err);
      e.fail_code = se ? se->code() : ErrorCode::kInternal;
      e.load_generation++;
      e.cv.notify_all();
      lk.unlock();
      record("fail", e.cfg.name, err.what());
      throw;
    }
    lk.lock();
    e.current = inst;
    e.state = ModelState::kReady;
    e.reason.clear();
    e.loads++;
    e.load_generation++;
    e.cv.notify_all();
    touch(e);
    lk.unlock();
    record("load", e.cfg.name,
           fmt::format("{:.0f} ms{}", inst->model->load_ms(),
                       inst->model->from_cache() ? " (compiled cache)" : ""));
    return inst;
  }
}

template <typename F>
auto ModelManager::retry_for_room(int own_leases, F&& f) -> decltype(f()) {
  std::optional<Clock::time_point> deadline;  // set at the first shortage
  int idle_retries = 0;
  for (;;) {
    try {
      return f();
    } catch (const Error& err) {
      if (err.code() != ErrorCode::kOutOfMemory) throw;
      if (!deadline) deadline = Clock::now() + options_.wait_for_memory;
      if (!wait_for_room(*deadline, &idle_retries, own_leases)) throw;
    }
  }
}

void ModelManager::with_memory(const std::function<void()>& f, int own_leases) {
  retry_for_room(own_leases, f);
}

ModelManager::Lease ModelManager::acquire(const std::string& name,
                                          const std::map<std::string, Dims>& input_dims) {
  Entry& e = entry(name);
  return retry_for_room(0, [&]() -> Lease {
    for (;;) {
      std::shared_ptr<Instance> inst = ensure_loaded(e);
      {
        std::lock_guard<std::mutex> lk(e.mu);
        if (e.current != inst) continue;  // evicted or replaced meanwhile: take the new one
        inst->leases++;
        active_leases_++;
      }
      Lease l;
      l.mgr_ = this;
      l.inst_ = inst;
      touch(e);
      l.plan_ = inst->model->plan(input_dims);
      return l;
    }
  });
}

bool ModelManager::wait_for_room(Clock::time_point deadline, int* idle_retries, int own_leases) {
  std::unique_lock<std::mutex> lk(room_mu_);
  if (Clock::now() >= deadline) return false;
  if (active_leases_.load() <= own_leases && loads_in_progress_.load() == 0) {
    // Nothing else in use or loading: what held the room may have ended just before we looked,
    // so retry a few times; then waiting cannot help.
    if ((*idle_retries)++ >= 3) return false;
    lk.unlock();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return true;
  }
  *idle_retries = 0;
  // Until something is released; in slices, since a release may have come just before we locked.
  const uint64_t seen = releases_;
  room_cv_.wait_until(lk, std::min(deadline, Clock::now() + std::chrono::milliseconds(100)),
                      [&] { return releases_ != seen; });
  return true;
}

void ModelManager::lease_ended() {
  active_leases_--;
  {
    std::lock_guard<std::mutex> lk(room_mu_);
    releases_++;
  }
  room_cv_.notify_all();
}

std::vector<Tensor> ModelManager::infer(const std::string& name,
                                        const std::vector<Tensor>& inputs) {
  // Input names come from the loaded model: lease it (loading it if needed), then take the plan
  // for the inputs' dims.
  Lease l = acquire(name);
  const std::vector<TensorInfo>& declared = l.inst_->model->declared_inputs();
  if (inputs.size() != declared.size()) {
    fail(ErrorCode::kInvalidArgument, "model '{}' takes {} input(s), got {}", name, declared.size(),
         inputs.size());
  }
  std::map<std::string, Dims> dims;
  bool same = true;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) {
      fail(ErrorCode::kInvalidArgument, "model '{}': input '{}' is missing", name,
           declared[i].name);
    }
    dims[declared[i].name] = inputs[i].dims();
    same &= i < l.model().inputs().size() && l.model().inputs()[i].dims == inputs[i].dims();
  }
  if (!same) l = acquire(name, dims);
  return l.run(inputs);
}

void ModelManager::load(const std::string& name) {
  Entry& e = entry(name);
  retry_for_room(0, [&] { ensure_loaded(e); });
}

void ModelManager::unload(const std::string& name) {
  Entry& e = entry(name);
  std::shared_ptr<Instance> victim;
  {
    std::lock_guard<std::mutex> lk(e.mu);
    if (e.cfg.pinned) {
      fail(ErrorCode::kInvalidArgument, "model '{}' is pinned; it cannot be unloaded", name);
    }
    victim = std::move(e.current);
    if (victim) e.unloads++;
    if (e.state != ModelState::kLoading) e.state = ModelState::kRegistered;
  }
  const bool was_loaded = victim != nullptr;
  victim.reset();  // freed now, or by its last lease
  // With no model left loaded, the pool's idle arenas and the backend's cached kernels serve
  // nobody: they go too.
  bool any_loaded = false;
  for (auto& other : entries_) {
    std::lock_guard<std::mutex> lk(other->mu);
    any_loaded |= other->current != nullptr;
  }
  if (!any_loaded) {
    memory_->arenas().trim(SIZE_MAX);
    release_backend_caches();
  }
  trim_heap();
  if (was_loaded) record("unload", name, "on request");
  {
    std::lock_guard<std::mutex> lk(room_mu_);
    releases_++;
  }
  room_cv_.notify_all();
}

void ModelManager::unload_all() {
  for (auto& e : entries_) {
    if (!e->cfg.pinned) unload(e->cfg.name);
  }
  memory_->arenas().trim(SIZE_MAX);  // idle arenas too
  release_backend_caches();
  trim_heap();
}

void ModelManager::reload(const std::string& name) {
  Entry& e = entry(name);
  {
    std::unique_lock<std::mutex> lk(e.mu);
    e.cv.wait(lk, [&] { return e.state != ModelState::kLoading && !e.reloading; });
    if (!e.current) {
      lk.unlock();
      load(name);
      return;
    }
    e.reloading = true;
  }
  std::shared_ptr<Instance> inst;
  try {
    inst = retry_for_room(0, [&] { return load_instance(e); });
  } catch (const std::exception& err) {
    std::lock_guard<std::mutex> lk(e.mu);
    e.reloading = false;
    e.reason = std::string("reload failed, still serving the previous version: ") + err.what();
    e.cv.notify_all();
    throw;
  }
  std::shared_ptr<Instance> old;
  {
    std::lock_guard<std::mutex> lk(e.mu);
    old = std::move(e.current);
    e.current = inst;
    e.state = ModelState::kReady;
    e.reason.clear();
    e.reloading = false;
    e.loads++;
    e.cv.notify_all();
  }
  record("reload", name, fmt::format("{:.0f} ms", inst->model->load_ms()));
  old.reset();  // drains: freed with its last lease
  trim_heap();
}

bool ModelManager::evict_one_idle(const Entry* except) {
  Entry* best = nullptr;
  uint64_t best_tick = UINT64_MAX;
  for (auto& e : entries_) {
    if (e.get() == except || e->cfg.pinned) continue;
    std::lock_guard<std::mutex> lk(e->mu);
    // A model being reloaded may be evicted too: the reload installs its new version anyway.
    if (!e->current || e->current->leases.load() > 0) continue;
    uint64_t t = e->last_tick.load();
    if (t < best_tick) {
      best_tick = t;
      best = e.get();
    }
  }
  if (!best) return false;
  std::shared_ptr<Instance> victim;
  {
    std::lock_guard<std::mutex> lk(best->mu);
    if (!best->current || best->current->leases.load() > 0) return true;  // changed: look again
    victim = std::move(best->current);
    best->state = ModelState::kRegistered;
    best->evictions++;
  }
  victim.reset();
  record("evict", best->cfg.name, "least recently used, to make room");
  return true;
}

bool ModelManager::make_room(size_t bytes) {
  size_t freed = memory_->arenas().trim(bytes);
  size_t start_used = memory_->budget().used();
  while (freed < bytes) {
    if (!evict_one_idle(nullptr)) break;
    size_t now = memory_->budget().used();
    freed += start_used > now ? start_used - now : 0;
    start_used = now;
  }
  if (freed > 0) trim_heap();
  return freed > 0;
}

void ModelManager::housekeeping() {
  int64_t now = Clock::now().time_since_epoch().count();
  for (auto& e : entries_) {
    std::shared_ptr<Instance> victim;
    bool changed = false;
    FileStamp seen;  // the file as this pass saw it
    {
      std::lock_guard<std::mutex> lk(e->mu);
      if (!e->current || e->reloading) continue;
      auto idle = std::chrono::nanoseconds(now - e->last_used_ns.load());
      if (!e->cfg.pinned && e->cfg.idle_timeout.count() > 0 && e->current->leases.load() == 0 &&
          idle >= e->cfg.idle_timeout) {
        victim = std::move(e->current);
        e->state = ModelState::kRegistered;
        e->unloads++;
      } else if (options_.watch_files) {
        seen = stamp_of(e->cfg.path);
        changed = seen.size != 0 && !(seen == e->current->stamp);
      }
    }
    if (victim) {
      victim.reset();
      trim_heap();
      record("idle", e->cfg.name, "unloaded after its idle timeout");
    }
    if (changed) {
      try {
        reload(e->cfg.name);
      } catch (const std::exception&) {  // kept in status().reason; the old version serves on
        // Not retried every pass, but again as soon as the file changes from what this pass saw:
        // a file caught half-written fails, and its last write must still be loaded (re-reading
        // the stamp here could record that last write without having loaded it).
        std::lock_guard<std::mutex> lk(e->mu);
        if (e->current) e->current->stamp = seen;
      }
    }
  }
}

ModelState ModelManager::state(const std::string& name) const {
  Entry& e = entry(name);
  std::lock_guard<std::mutex> lk(e.mu);
  if (e.reloading) return ModelState::kLoading;
  return e.current && e.state != ModelState::kLoading ? ModelState::kReady : e.state;
}

ModelStatus ModelManager::status(const std::string& name) const {
  Entry& e = entry(name);
  ModelStatus s;
  std::shared_ptr<Instance> inst;
  {
    std::lock_guard<std::mutex> lk(e.mu);
    s.name = e.cfg.name;
    s.state = e.current && e.state != ModelState::kLoading ? ModelState::kReady : e.state;
    if (e.reloading) s.state = ModelState::kLoading;
    s.reason = e.reason;
    s.version = e.cfg.version;
    s.pinned = e.cfg.pinned;
    s.loads = e.loads;
    s.evictions = e.evictions;
    s.unloads = e.unloads;
    s.lru_tick = e.last_tick.load();
    inst = e.current;
  }
  if (!inst) return s;
  s.version = inst->version;
  s.leases = inst->leases.load();
  const LoadedModel& m = *inst->model;
  s.load_ms = m.load_ms();
  s.from_cache = m.from_cache();
  const ModelBytes bytes = m.bytes();
  s.model_bytes = bytes.program;
  s.arena_bytes = bytes.arena;
  s.naive_activation_bytes = m.default_plan()->memory().naive_activation_bytes;
  s.plans = static_cast<int>(m.plan_count());
  // Blobs used by this model, and whether another loaded model uses them too.
  const std::vector<const WeightBlob*> mine = m.blobs();
  std::vector<const WeightBlob*> others;
  for (const auto& oe : entries_) {
    if (oe.get() == &e) continue;
    std::shared_ptr<Instance> oi;
    {
      std::lock_guard<std::mutex> lk(oe->mu);
      oi = oe->current;
    }
    if (!oi) continue;
    for (const WeightBlob* b : oi->model->blobs()) others.push_back(b);
  }
  std::sort(others.begin(), others.end());
  for (const WeightBlob* b : mine) {
    s.weights_bytes += b->size();
    if (std::binary_search(others.begin(), others.end(), b)) {
      s.shared_bytes += b->size();
    } else {
      s.unique_bytes += b->size();
    }
  }
  return s;
}

std::vector<ModelStatus> ModelManager::statuses() const {
  std::vector<ModelStatus> r;
  for (const auto& e : entries_) r.push_back(status(e->cfg.name));
  return r;
}

ManagerMemory ModelManager::memory() const {
  ManagerMemory m;
  m.budget = memory_->budget().limit();
  m.accounted = memory_->budget().used();
  m.peak_accounted = memory_->budget().peak();
  m.weights = memory_->budget().used(MemoryUse::kWeights);
  m.arenas = memory_->budget().used(MemoryUse::kArenas);
  m.models = memory_->budget().used(MemoryUse::kModels);
  m.reserved = memory_->budget().used(MemoryUse::kReserved);
  m.arena_count = memory_->arenas().arena_count();
  m.dedup_saved_bytes = memory_->weights().stats().hit_bytes;
  return m;
}

ModelManager::Lease::Lease(Lease&& o) noexcept
    : mgr_(o.mgr_), inst_(std::move(o.inst_)), plan_(std::move(o.plan_)) {
  o.mgr_ = nullptr;
}

ModelManager::Lease& ModelManager::Lease::operator=(Lease&& o) noexcept {
  if (this != &o) {
    release();
    mgr_ = o.mgr_;
    inst_ = std::move(o.inst_);
    plan_ = std::move(o.plan_);
    o.mgr_ = nullptr;
  }
  return *this;
}

ModelManager::Lease::~Lease() { release(); }

void ModelManager::Lease::release() {
  plan_.reset();
  if (inst_) {
    inst_->leases--;
    mgr_->touch(*inst_->entry);
    inst_.reset();  // a version replaced or unloaded meanwhile is freed here
    mgr_->lease_ended();
  }
  mgr_ = nullptr;
}

const std::string& ModelManager::Lease::version() const { return inst_->version; }

const std::map<std::string, std::string>& ModelManager::Lease::metadata() const {
  return inst_->model->metadata();
}

std::vector<Tensor> ModelManager::Lease::run(const std::vector<Tensor>& inputs) const {
  if (!plan_) fail(ErrorCode::kInvalidArgument, "run() on an empty lease");
  // Our own lease counts as in use: wait only if someone else's may end.
  ArenaPool::Lease arena = mgr_->retry_for_room(
      1, [&] { return mgr_->arenas().acquire(plan_->arena_bytes(), inst_->model->label()); });
  return plan_->run(inputs, arena.data());
}

void ModelManager::record(std::string kind, const std::string& model, std::string detail) {
  std::lock_guard<std::mutex> lk(events_mu_);
  if (events_.size() >= 128) events_.erase(events_.begin());
  events_.push_back({std::chrono::system_clock::now(), std::move(kind), model, std::move(detail)});
}

std::vector<ManagerEvent> ModelManager::events() const {
  std::lock_guard<std::mutex> lk(events_mu_);
  return std::vector<ManagerEvent>(events_.rbegin(), events_.rend());
}

}  // namespace shoal
