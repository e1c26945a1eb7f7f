#include "manager/model_manager.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/metadata.h"
#include <nlohmann/json.hpp>

#include "onnx/builder.h"
#include "runtime/model_cache.h"
#include "onnx/import.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Program memory a compiled plan holds outside the weight store and the arena pool: constants
// read at run time, and the kernels themselves (primitive objects, JIT code, argument tables).
// The per-step figure is measured: RSS growth of compiling the shared models minus their blobs
// and constants, divided by their steps (see tests/test_manager.cpp, AccountingMatchesRss).
constexpr size_t kBytesPerStep = 24 * 1024;

size_t plan_private_bytes(const CompiledModel& cm) {
  size_t bytes = 0;
  for (const ProgramValue& v : cm.program().values) {
    if (v.constant.defined()) bytes += v.constant.nbytes();
  }
  return bytes + cm.program().steps.size() * kBytesPerStep;
}

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

std::string dims_key(const std::map<std::string, Dims>& d) {
  std::string k;
  for (const auto& [n, v] : d) k += n + dims_str(v) + ";";
  return k;
}

constexpr const char* kDeclaredKey = "shoal.declared_inputs";

// The graph inputs as declared (symbolic dims as -1), kept in a cached graph's metadata.
std::string encode_declared(const std::vector<TensorInfo>& ins) {
  nlohmann::json j = nlohmann::json::array();
  for (const TensorInfo& t : ins) j.push_back({{"name", t.name}, {"dtype", static_cast<int>(t.dtype)}, {"dims", t.dims}});
  return j.dump();
}

std::vector<TensorInfo> decode_declared(const std::string& text) {
  std::vector<TensorInfo> r;
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_array()) return r;
  for (const auto& x : j) {
    if (!x.is_object() || !x.contains("name") || !x.contains("dtype") || !x.contains("dims")) return {};
    TensorInfo t;
    t.name = x["name"].get<std::string>();
    t.dtype = static_cast<DType>(x["dtype"].get<int>());
    t.dims = x["dims"].get<Dims>();
    r.push_back(std::move(t));
  }
  return r;
}

std::map<std::string, Dims> input_dims_of(const CompiledModel& cm) {
  std::map<std::string, Dims> d;
  for (const TensorInfo& t : cm.inputs()) d[t.name] = t.dims;
  return d;
}

void tune_malloc_once() {
  static bool done = [] {
    // Big buffers (weights, arenas, parsed tensors) straight from mmap so that freeing them
    // returns the pages at once; a fixed threshold also stops glibc from raising it after the
    // first large free.
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
    return true;
  }();
  (void)done;
}

// Process-wide one-time set-up, done before the first model so that a model's load costs only
// what the model itself holds: the compute thread pool, oneDNN's engine and JIT infrastructure,
// the ONNX protobuf descriptors. A tiny built-in detector is compiled and run once, in its own
// store, and dropped.
void warm_up_runtime_once(const std::string& backend) {
  static std::once_flag once;
  std::call_once(once, [&] {
    BuilderOptions bo;
    bo.imgsz = 64;
    bo.num_classes = 2;
    bo.width = 0.0625;
    std::string bytes = build_yolo_detector_onnx(bo);
    Graph g = import_onnx_bytes(bytes.data(), bytes.size(), "");
    WeightStore scratch_store;
    CompileRequest req;
    req.backend = backend;
    req.weights = &scratch_store;
    auto cm = CompiledModel::compile(g, req);
    Session s(cm);
    std::vector<Tensor> in;
    for (const TensorInfo& t : cm->inputs()) in.emplace_back(t.dtype, t.dims);
    s.run(in);
  });
  trim_heap();
}

}  // namespace

const char* model_state_name(ModelState s) {
  switch (s) {
    case ModelState::kRegistered: return "registered";
    case ModelState::kLoading: return "loading";
    case ModelState::kReady: return "ready";
    case ModelState::kUnloading: return "unloading";
    case ModelState::kFailed: return "failed";
  }
  return "?";
}

size_t current_rss_bytes() {
  std::ifstream f("/proc/self/statm");
  size_t pages = 0, resident = 0;
  if (!(f >> pages >> resident)) return 0;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

void trim_heap() { malloc_trim(0); }

// One loaded version of a model.
struct ModelManager::Instance {
  MemoryBudget* budget = nullptr;
  Entry* entry = nullptr;  // the registry entry it was loaded for (outlives it)
  std::string name;
  std::string label;  // "model 'name'", for messages
  std::string version;
  std::string path;
  FileStamp stamp;
  std::vector<TensorInfo> declared;  // graph inputs as declared (symbolic dims < 0)
  std::map<std::string, std::string> metadata;
  std::string content_hash;  // of the file as loaded (cache keys)
  std::atomic<int> leases{0};
  double load_ms = 0;
  bool from_cache = false;

  std::mutex mu;  // guards plans
  struct Plan {
    std::string key;
    std::shared_ptr<const CompiledModel> model;
    size_t private_bytes = 0;
  };
  std::vector<Plan> plans;  // most recently used first

  ~Instance() {
    for (const Plan& p : plans) budget->release(p.private_bytes, MemoryUse::kModels);
  }
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
  std::atomic<uint64_t> last_tick{0};
  std::atomic<int64_t> last_used_ns{0};
};

ModelManager::ModelManager(RepositoryConfig config, ManagerOptions options)
    : config_(std::move(config)), options_(std::move(options)) {
  tune_malloc_once();
  budget_ = std::make_shared<MemoryBudget>(config_.memory_budget);
  store_ = std::make_unique<WeightStore>(budget_);
  pool_ = std::make_unique<ArenaPool>(budget_);
  for (const ModelConfig& m : config_.models) {
    std::error_code ec;
    if (!fs::is_regular_file(m.path, ec)) {
      fail(ErrorCode::kNotFound, "model '{}': file '{}' does not exist (paths in {} are relative to its folder)",
           m.name, m.path, config_.source.empty() ? "the config" : config_.source);
    }
    uintmax_t size = fs::file_size(m.path, ec);
    if (!ec && config_.memory_budget && size > config_.memory_budget) {
      fail(ErrorCode::kOutOfMemory,
           "model '{}' ({}) holds {} of weights and graph, more than the whole memory_budget of {}; "
           "raise memory_budget or use a smaller model",
           m.name, m.path, format_bytes(size), format_bytes(config_.memory_budget));
    }
    if (m.precision != "fp32") {
      fail(ErrorCode::kUnsupported, "model '{}': precision {} is not implemented yet (fp32 only)",
           m.name, m.precision);
    }
    auto e = std::make_unique<Entry>();
    e->cfg = m;
    entries_.push_back(std::move(e));
  }
  warm_up_runtime_once(options_.backend);
  budget_->set_reclaimer([this](size_t needed, const std::string&) { return make_room(needed); });

  std::vector<std::string> pinned_loaded;
  for (auto& e : entries_) {
    if (!e->cfg.pinned) continue;
    try {
      ensure_loaded(*e);
      pinned_loaded.push_back(e->cfg.name);
    } catch (const Error& err) {
      budget_->set_reclaimer(nullptr);
      std::string before;
      for (const std::string& n : pinned_loaded) before += (before.empty() ? "" : ", ") + n;
      fail(err.code(),
           "pinned model '{}' cannot be loaded{}: {}",
           e->cfg.name,
           before.empty() ? "" : fmt::format(" beside the pinned {} ({} in use of a {} budget)",
                                             before, format_bytes(budget_->used()),
                                             format_bytes(budget_->limit())),
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
  budget_->set_reclaimer(nullptr);
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
  auto t0 = Clock::now();
  FileStamp st = stamp_of(cfg.path);
  if (st.size == 0) {
    fail(ErrorCode::kNotFound, "model '{}': cannot read '{}'", cfg.name, cfg.path);
  }
  // Reserve for the whole load: the parsed graph (about the file's size) and the packed
  // weights (about the same again); what is not used returns to the budget at the end.
  size_t estimate = static_cast<size_t>(st.size) * 2 + (1u << 20);
  if (budget_->limit()) estimate = std::min(estimate, budget_->limit());
  std::string what = fmt::format("loading model '{}'", cfg.name);
  auto inst = std::make_shared<Instance>();
  inst->budget = budget_.get();
  inst->entry = &e;
  inst->name = cfg.name;
  inst->label = fmt::format("model '{}'", cfg.name);
  inst->version = cfg.version;
  inst->path = cfg.path;
  {
    MemoryBudget::Reservation reservation(*budget_, estimate, what);
    std::optional<MappedFile> file;
    file.emplace(cfg.path);
    inst->content_hash = model_content_hash(file->data(), file->size());
    inst->stamp = stamp_of(cfg.path);  // what was read (the file may change again later)
    // The default plan straight from the compiled cache when it holds one.
    std::string default_cache;
    if (!config_.cache_dir.empty()) {
      CompileRequest kreq = base_request();
      kreq.input_dims = {{"#default", cfg.input_shape}};
      default_cache = config_.cache_dir + "/" + compiled_cache_name(inst->content_hash, kreq);
      if (std::shared_ptr<const CompiledModel> cm = try_cache(*inst, default_cache, base_request())) {
        inst->from_cache = true;
        auto it = inst->metadata.find(kDeclaredKey);
        if (it != inst->metadata.end()) {
          inst->declared = decode_declared(it->second);
          inst->metadata.erase(it);
        }
        if (inst->declared.empty()) inst->declared = cm->inputs();
        add_plan(*inst, cfg, dims_key(input_dims_of(*cm)), cm);
      }
    }
    if (!inst->from_cache) {
      Graph g = import_onnx_bytes(file->data(), file->size(), fs::path(cfg.path).parent_path().string());
      file.reset();
      inst->metadata = g.metadata;
      for (ValueId v : g.inputs) {
        inst->declared.push_back({g.value(v).name, g.value(v).dtype, g.value(v).dims});
      }
      plan_for(*inst, e, {}, &g, default_cache.empty() ? nullptr : &default_cache);
    }
  }
  trim_heap();
  inst->load_ms = ms_since(t0);
  if (options_.warmup) {
    const CompiledModel& cm = *inst->plans.front().model;
    std::vector<Tensor> in;
    for (const TensorInfo& t : cm.inputs()) in.emplace_back(t.dtype, t.dims);
    ArenaPool::Lease arena = pool_->acquire(cm.arena_bytes(), inst->label);
    cm.run(in, arena.data());
  }
  return inst;
}

std::shared_ptr<const CompiledModel> ModelManager::plan_for(
    Instance& inst, Entry& e, const std::map<std::string, Dims>& requested, Graph* graph,
    const std::string* cache_path) {
  const ModelConfig& cfg = e.cfg;
  // Resolve dims: requested, else the configured input_shape (first input), else declared with
  // symbolic dims filled (batch 1, image size from the metadata: core/metadata.h).
  std::map<std::string, Dims> dims;
  for (size_t i = 0; i < inst.declared.size(); ++i) {
    const TensorInfo& t = inst.declared[i];
    auto it = requested.find(t.name);
    if (it != requested.end()) {
      dims[t.name] = it->second;
      continue;
    }
    Dims d = t.dims;
    if (i == 0 && !cfg.input_shape.empty()) d = cfg.input_shape;
    bool symbolic = false;
    for (int64_t x : d) symbolic |= x < 0;
    if (symbolic) {
      const auto [h, w] = default_input_size(inst.metadata);
      for (size_t k = 0; k < d.size(); ++k) {
        if (d[k] >= 0) continue;
        d[k] = k == 0 ? 1 : (k + 2 == d.size() ? h : (k + 1 == d.size() ? w : -1));
        if (d[k] < 0) {
          fail(ErrorCode::kInvalidArgument,
               "model '{}': input '{}' has symbolic dim {}; set input_shape in the config",
               cfg.name, t.name, k);
        }
      }
    }
    dims[t.name] = d;
  }
  for (const auto& [n, d] : dims) {
    if (!d.empty() && d[0] > cfg.max_batch) {
      fail(ErrorCode::kLimit, "model '{}': batch {} is above its max_batch {} (input '{}' {})",
           cfg.name, d[0], cfg.max_batch, n, dims_str(d));
    }
  }
  std::string key = dims_key(dims);
  {
    std::lock_guard<std::mutex> lk(inst.mu);
    for (size_t i = 0; i < inst.plans.size(); ++i) {
      if (inst.plans[i].key == key) {
        std::rotate(inst.plans.begin(), inst.plans.begin() + static_cast<long>(i),
                    inst.plans.begin() + static_cast<long>(i) + 1);
        return inst.plans.front().model;
      }
    }
  }
  // A new shape: from the compiled cache, else compiled (from the graph being loaded, else from
  // the file again) and written to the cache.
  std::optional<MemoryBudget::Reservation> reservation;
  if (!graph) {
    size_t estimate = static_cast<size_t>(inst.stamp.size) * 2 + (1u << 20);
    if (budget_->limit()) estimate = std::min(estimate, budget_->limit());
    reservation.emplace(*budget_, estimate, fmt::format("compiling model '{}' for {}", cfg.name, key));
  }
  CompileRequest req = base_request();
  req.input_dims = dims;
  std::string path = cache_path ? *cache_path : std::string();
  if (path.empty() && !config_.cache_dir.empty() && !inst.content_hash.empty()) {
    path = config_.cache_dir + "/" + compiled_cache_name(inst.content_hash, req);
  }
  std::shared_ptr<const CompiledModel> cm;
  if (!graph && !path.empty()) cm = try_cache(inst, path, req);
  if (!cm) {
    std::optional<Graph> reread;
    if (!graph) {
      MappedFile bytes(inst.path);
      if (model_content_hash(bytes.data(), bytes.size()) != inst.content_hash) {
        fail(ErrorCode::kInvalidModel,
             "model '{}': '{}' changed since it was loaded; reload it to use the new file", cfg.name,
             inst.path);
      }
      reread.emplace(import_onnx_bytes(bytes.data(), bytes.size(), fs::path(inst.path).parent_path().string()));
      graph = &*reread;
    }
    Graph optimized;
    auto compiled = CompiledModel::compile(*graph, req, path.empty() ? nullptr : &optimized);
    cm = compiled;
    if (!path.empty()) {
      optimized.metadata[kDeclaredKey] = encode_declared(inst.declared);
      try {
        fs::create_directories(config_.cache_dir);
        save_compiled_cache(path, optimized, *compiled);
      } catch (const std::exception&) {
        // A cache that cannot be written costs speed on the next load, never a request.
      }
    }
  }
  return add_plan(inst, cfg, key, cm);
}

std::shared_ptr<const CompiledModel> ModelManager::try_cache(Instance& inst, const std::string& path,
                                                             const CompileRequest& req) {
  try {
    std::map<std::string, std::string> metadata;
    std::shared_ptr<const CompiledModel> cm = load_compiled_cache(path, req, &metadata);
    if (cm && inst.metadata.empty()) inst.metadata = std::move(metadata);
    return cm;
  } catch (const Error& err) {
    if (err.code() == ErrorCode::kOutOfMemory) throw;
    std::error_code ec;
    fs::remove(path, ec);  // corrupt or stale: compile again and rewrite it
    return nullptr;
  }
}

CompileRequest ModelManager::base_request() const {
  CompileRequest req;
  req.backend = options_.backend;
  req.weights = store_.get();
  return req;
}

std::shared_ptr<const CompiledModel> ModelManager::add_plan(Instance& inst, const ModelConfig& cfg,
                                                            const std::string& key,
                                                            std::shared_ptr<const CompiledModel> cm) {
  size_t priv = plan_private_bytes(*cm);
  budget_->charge(priv, MemoryUse::kModels, fmt::format("model '{}'", cfg.name));
  std::vector<Instance::Plan> dropped;
  std::shared_ptr<const CompiledModel> result;
  {
    std::lock_guard<std::mutex> lk(inst.mu);
    for (const Instance::Plan& p : inst.plans) {
      if (p.key == key) {  // compiled concurrently by another request: keep that one
        budget_->release(priv, MemoryUse::kModels);
        return p.model;
      }
    }
    inst.plans.insert(inst.plans.begin(), {key, cm, priv});
    // Bound the plans kept: drop the least recently used ones nobody is running.
    for (size_t i = inst.plans.size(); i-- > 1 && inst.plans.size() > options_.max_shapes;) {
      if (inst.plans[i].model.use_count() == 1) {
        dropped.push_back(std::move(inst.plans[i]));
        inst.plans.erase(inst.plans.begin() + static_cast<long>(i));
      }
    }
    result = cm;
  }
  for (Instance::Plan& p : dropped) {
    p.model.reset();
    budget_->release(p.private_bytes, MemoryUse::kModels);
  }
  return result;
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
      l.plan_ = plan_for(*inst, e, input_dims);
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

std::vector<Tensor> ModelManager::infer(const std::string& name, const std::vector<Tensor>& inputs) {
  // Input names come from the loaded model: lease it (loading it if needed), then take the plan
  // for the inputs' dims.
  Lease l = acquire(name);
  const std::vector<TensorInfo>& declared = l.inst_->declared;
  if (inputs.size() != declared.size()) {
    fail(ErrorCode::kInvalidArgument, "model '{}' takes {} input(s), got {}", name, declared.size(),
         inputs.size());
  }
  std::map<std::string, Dims> dims;
  bool same = true;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) {
      fail(ErrorCode::kInvalidArgument, "model '{}': input '{}' is missing", name, declared[i].name);
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
    if (e.state != ModelState::kLoading) e.state = ModelState::kRegistered;
  }
  victim.reset();  // freed now, or by its last lease
  trim_heap();
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
  pool_->trim(SIZE_MAX);  // idle arenas too
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
  }
  victim.reset();
  return true;
}

bool ModelManager::make_room(size_t bytes) {
  size_t freed = pool_->trim(bytes);
  size_t start_used = budget_->used();
  while (freed < bytes) {
    if (!evict_one_idle(nullptr)) break;
    size_t now = budget_->used();
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
      } else if (options_.watch_files) {
        seen = stamp_of(e->cfg.path);
        changed = seen.size != 0 && !(seen == e->current->stamp);
      }
    }
    if (victim) {
      victim.reset();
      trim_heap();
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
    inst = e.current;
  }
  if (!inst) return s;
  s.version = inst->version;
  s.leases = inst->leases.load();
  s.load_ms = inst->load_ms;
  s.from_cache = inst->from_cache;
  // Blobs used by this model, and whether another loaded model uses them too.
  std::vector<const WeightBlob*> mine;
  {
    std::lock_guard<std::mutex> lk(inst->mu);
    s.plans = static_cast<int>(inst->plans.size());
    for (const Instance::Plan& p : inst->plans) {
      s.model_bytes += p.private_bytes;
      s.arena_bytes = std::max(s.arena_bytes, p.model->arena_bytes());
      s.naive_activation_bytes = std::max(s.naive_activation_bytes, p.model->memory().naive_activation_bytes);
      for (const BlobRef& b : p.model->program().blobs) {
        if (std::find(mine.begin(), mine.end(), b.get()) == mine.end()) mine.push_back(b.get());
      }
    }
  }
  std::vector<const WeightBlob*> others;
  for (const auto& oe : entries_) {
    if (oe.get() == &e) continue;
    std::shared_ptr<Instance> oi;
    {
      std::lock_guard<std::mutex> lk(oe->mu);
      oi = oe->current;
    }
    if (!oi) continue;
    std::lock_guard<std::mutex> lk(oi->mu);
    for (const Instance::Plan& p : oi->plans) {
      for (const BlobRef& b : p.model->program().blobs) others.push_back(b.get());
    }
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
  m.budget = budget_->limit();
  m.accounted = budget_->used();
  m.peak_accounted = budget_->peak();
  m.weights = budget_->used(MemoryUse::kWeights);
  m.arenas = budget_->used(MemoryUse::kArenas);
  m.models = budget_->used(MemoryUse::kModels);
  m.reserved = budget_->used(MemoryUse::kReserved);
  m.arena_count = pool_->arena_count();
  m.dedup_saved_bytes = store_->stats().hit_bytes;
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
  return inst_->metadata;
}

std::vector<Tensor> ModelManager::Lease::run(const std::vector<Tensor>& inputs) const {
  if (!plan_) fail(ErrorCode::kInvalidArgument, "run() on an empty lease");
  // Our own lease counts as in use: wait only if someone else's may end.
  ArenaPool::Lease arena = mgr_->retry_for_room(
      1, [&] { return mgr_->pool_->acquire(plan_->arena_bytes(), inst_->label); });
  return plan_->run(inputs, arena.data());
}

}  // namespace shoal
