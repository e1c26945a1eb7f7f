#include "runtime/model_loader.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "core/error.h"
#include "onnx/import.h"
#include "onnx/metadata.h"
#include "runtime/model_cache.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kDeclaredKey = "shoal.declared_inputs";

std::string dims_key(const std::map<std::string, Dims>& d) {
  std::string k;
  for (const auto& [n, v] : d) k += n + dims_str(v) + ";";
  return k;
}

// The graph inputs as declared (symbolic dims as -1), kept in a cached graph's metadata.
std::string encode_declared(const std::vector<TensorInfo>& ins) {
  nlohmann::json j = nlohmann::json::array();
  for (const TensorInfo& t : ins) {
    j.push_back({{"name", t.name}, {"dtype", static_cast<int>(t.dtype)}, {"dims", t.dims}});
  }
  return j.dump();
}

std::vector<TensorInfo> decode_declared(const std::string& text) {
  std::vector<TensorInfo> r;
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_array()) return r;
  for (const auto& x : j) {
    if (!x.is_object() || !x.contains("name") || !x.contains("dtype") || !x.contains("dims") ||
        !x["name"].is_string() || !x["dtype"].is_number_integer() || !x["dims"].is_array()) {
      return {};
    }
    TensorInfo t;
    t.name = x["name"].get<std::string>();
    t.dtype = static_cast<DType>(x["dtype"].get<int>());
    for (const auto& d : x["dims"]) {
      if (!d.is_number_integer()) return {};
      t.dims.push_back(d.get<int64_t>());
    }
    r.push_back(std::move(t));
  }
  return r;
}

std::map<std::string, Dims> input_dims_of(const CompiledModel& cm) {
  std::map<std::string, Dims> d;
  for (const TensorInfo& t : cm.inputs()) d[t.name] = t.dims;
  return d;
}

// The default plan's cache key part: the dims policy (the resolved dims are known only after
// the import the cache saves).
std::map<std::string, Dims> policy_key(const DimsPolicy& p) {
  std::map<std::string, Dims> k = p.input_dims;
  if (!p.first_input_shape.empty()) k["#first"] = p.first_input_shape;
  if (p.batch) k["#batch"] = {*p.batch};
  return k;
}

std::string declared_str(const TensorInfo& t) {
  return fmt::format("{} {} {}", t.name, dtype_name(t.dtype), dims_str(t.dims));
}

std::string describe(const std::vector<TensorInfo>& declared) {
  std::string s;
  for (const TensorInfo& t : declared) s += (s.empty() ? "" : "; ") + declared_str(t);
  return s;
}

}  // namespace

ModelSource ModelSource::file(std::string path, std::string name) {
  ModelSource s;
  s.path = std::move(path);
  s.name = std::move(name);
  return s;
}

ModelSource ModelSource::memory(std::string bytes, std::string name) {
  ModelSource s;
  s.bytes = std::move(bytes);
  s.name = std::move(name);
  return s;
}

std::string ModelSource::label() const {
  if (!name.empty()) return fmt::format("model '{}'", name);
  if (!path.empty()) return fmt::format("model '{}'", fs::path(path).filename().string());
  return "model '<memory>'";
}

std::pair<int64_t, int64_t> default_image_size(const std::map<std::string, std::string>& metadata) {
  auto it = metadata.find("imgsz");
  if (it != metadata.end()) {
    try {
      std::vector<int64_t> v = parse_int_list(it->second);
      if (v.size() == 1 && v[0] > 0) return {v[0], v[0]};
      if (v.size() == 2 && v[0] > 0 && v[1] > 0) return {v[0], v[1]};
    } catch (const Error&) {  // unreadable imgsz: the defaults below
    }
  }
  auto t = metadata.find("task");
  if (t != metadata.end() && t->second == "classify") return {224, 224};
  return {640, 640};
}

std::map<std::string, Dims> resolve_input_dims(const std::vector<TensorInfo>& declared,
                                               const std::map<std::string, std::string>& metadata,
                                               const DimsPolicy& policy, const std::string& label) {
  for (const auto& given : policy.input_dims) {
    const std::string& name = given.first;  // (clang 14 lambdas cannot capture bindings)
    bool known = std::any_of(declared.begin(), declared.end(),
                             [&](const TensorInfo& t) { return t.name == name; });
    if (!known) {
      fail(ErrorCode::kInvalidArgument, "{} has no input '{}'; its inputs are: {}", label, name,
           describe(declared));
    }
  }
  std::map<std::string, Dims> result;
  for (size_t i = 0; i < declared.size(); ++i) {
    const TensorInfo& t = declared[i];
    auto given = policy.input_dims.find(t.name);
    Dims d = given != policy.input_dims.end()              ? given->second
             : i == 0 && !policy.first_input_shape.empty() ? policy.first_input_shape
                                                           : t.dims;
    if (d.size() != t.dims.size()) {
      fail(ErrorCode::kInvalidArgument, "{}: dims {} for input '{}' have rank {}; it is {}", label,
           dims_str(d), t.name, d.size(), declared_str(t));
    }
    if (policy.batch && !d.empty()) d[0] = *policy.batch;
    for (size_t k = 0; k < d.size(); ++k) {
      if (d[k] >= 0) continue;
      if (k == 0) {
        d[k] = 1;
      } else if (d.size() == 4 && k >= 2) {
        const auto [h, w] = default_image_size(metadata);
        d[k] = k == 2 ? h : w;
      } else {
        fail(ErrorCode::kInvalidArgument,
             "{}: input '{}' ({}) has symbolic dim {}; give its dims (--shape {}=d0,d1,... or "
             "input_shape in the config)",
             label, t.name, declared_str(t), k, t.name);
      }
    }
    for (size_t k = 0; k < d.size(); ++k) {
      if (d[k] == 0) {
        fail(ErrorCode::kUnsupported,
             "{}: input '{}' has an empty dim ({}): zero-size tensors are not supported", label,
             t.name, dims_str(d));
      }
      if (d[k] < 0 || (t.dims[k] >= 0 && t.dims[k] != d[k])) {
        fail(ErrorCode::kInvalidArgument, "{}: dims {} do not fit input '{}' ({})", label,
             dims_str(d), t.name, declared_str(t));
      }
    }
    if (policy.max_batch > 0 && !d.empty() && d[0] > policy.max_batch) {
      fail(ErrorCode::kLimit, "{}: batch {} is above its max_batch {} (input '{}' {})", label, d[0],
           policy.max_batch, t.name, dims_str(d));
    }
    result[t.name] = std::move(d);
  }
  return result;
}

size_t plan_program_bytes(const CompiledModel& cm) {
  size_t bytes = 0;
  for (const ProgramValue& v : cm.program().values) {
    if (v.constant.defined()) bytes += v.constant.nbytes();
  }
  return bytes + cm.program().steps.size() * kProgramBytesPerStep;
}

std::shared_ptr<LoadedModel> LoadedModel::load(const ModelSource& source,
                                               const LoadOptions& options) {
  try {
    return load_unnamed(source, options);
  } catch (const Error& e) {
    // Every error names the model (the importer names the file; the budget names the use).
    const std::string label = source.label();
    if (std::string_view(e.what()).find(label) != std::string_view::npos) throw;
    throw Error(e.code(), fmt::format("{}: {}", label, e.what()));
  }
}

std::shared_ptr<LoadedModel> LoadedModel::load_unnamed(const ModelSource& source,
                                                       const LoadOptions& options) {
  const auto t0 = Clock::now();
  std::shared_ptr<LoadedModel> m(new LoadedModel());
  m->source_ = source;
  m->options_ = options;
  m->memory_ = options.memory ? options.memory : std::make_shared<MemoryContext>();
  m->label_ = source.label();
  warm_up_runtime(options.backend);
  MemoryBudget& budget = m->memory_->budget();

  std::optional<MappedFile> file;
  const void* data = source.bytes.data();
  size_t size = source.bytes.size();
  if (!source.path.empty()) {
    std::error_code ec;
    if (!fs::is_regular_file(source.path, ec)) {
      fail(ErrorCode::kNotFound, "{}: file '{}' does not exist or is not a regular file", m->label_,
           source.path);
    }
    file.emplace(source.path);
    m->source_mtime_ = fs::last_write_time(source.path, ec);
    data = file->data();
    size = file->size();
  }
  if (size == 0) fail(ErrorCode::kInvalidModel, "{}: the model file is empty", m->label_);
  m->source_bytes_ = size;
  // Reserve for the whole load: the parsed graph (about the file's size) and the packed weights
  // (about the same again); what is not used returns to the budget at the end.
  size_t estimate = size * 2 + (size_t{1} << 20);
  if (budget.limit()) estimate = std::min(estimate, budget.limit());
  {
    MemoryBudget::Reservation reservation(budget, estimate, "loading " + m->label_);
    m->content_hash_ = model_content_hash(data, size);
    std::string cache_path;
    if (!options.cache_dir.empty()) {
      cache_path = options.cache_dir + "/" +
                   compiled_cache_name(m->content_hash_, m->request(policy_key(options.dims)));
      if (std::shared_ptr<const CompiledModel> cm = m->try_cache(cache_path)) {
        m->from_cache_ = true;
        auto it = m->metadata_.find(kDeclaredKey);
        if (it != m->metadata_.end()) {
          m->declared_ = decode_declared(it->second);
          m->metadata_.erase(it);
        }
        if (m->declared_.empty()) m->declared_ = cm->inputs();
        m->default_plan_ = m->keep(dims_key(input_dims_of(*cm)), cm);
      }
    }
    if (!m->from_cache_) {
      const std::string base =
          source.path.empty() ? std::string() : fs::path(source.path).parent_path().string();
      Graph g = import_onnx_bytes(data, size, base.empty() && !source.path.empty() ? "." : base,
                                  source.path.empty() ? m->label_ : source.path);
      file.reset();
      m->metadata_ = g.metadata;
      for (ValueId v : g.inputs) {
        m->declared_.push_back({g.value(v).name, g.value(v).dtype, g.value(v).dims});
      }
      auto dims = m->resolve({});
      m->default_plan_ = m->compile_plan(dims, dims_key(dims), &g, cache_path);
    }
    if (!source.bytes.empty()) {  // kept to compile other shapes: held, so charged
      budget.charge(source.bytes.size(), MemoryUse::kModels, m->label_);
      m->source_charged_ = true;
    }
  }
  trim_heap();
  m->load_ms_ = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  if (options.warmup) {
    const CompiledModel& cm = *m->default_plan_;
    std::vector<Tensor> in;
    for (const TensorInfo& t : cm.inputs()) in.emplace_back(t.dtype, t.dims);
    m->run(cm, in);
  }
  return m;
}

LoadedModel::~LoadedModel() {
  if (!memory_) return;
  for (const Plan& p : plans_) memory_->budget().release(p.program_bytes, MemoryUse::kModels);
  if (source_charged_) {
    memory_->budget().release(source_.bytes.size(), MemoryUse::kModels);
  }
}

CompileRequest LoadedModel::request(const std::map<std::string, Dims>& dims) const {
  CompileRequest req;
  req.backend = options_.backend;
  req.precision = options_.precision;
  req.optimize_graph = options_.optimize_graph;
  req.input_dims = dims;
  req.weights = &memory_->weights();
  return req;
}

std::map<std::string, Dims> LoadedModel::resolve(
    const std::map<std::string, Dims>& input_dims) const {
  DimsPolicy p = options_.dims;
  if (!input_dims.empty()) p.batch.reset();  // the caller's dims are the ones to run
  for (const auto& [name, d] : input_dims) p.input_dims[name] = d;
  return resolve_input_dims(declared_, metadata_, p, label_);
}

std::shared_ptr<const CompiledModel> LoadedModel::plan(
    const std::map<std::string, Dims>& input_dims) {
  if (input_dims.empty()) return default_plan_;
  std::map<std::string, Dims> dims = resolve(input_dims);
  const std::string key = dims_key(dims);
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (size_t i = 0; i < plans_.size(); ++i) {
      if (plans_[i].key == key) {
        std::rotate(plans_.begin(), plans_.begin() + static_cast<long>(i),
                    plans_.begin() + static_cast<long>(i) + 1);
        return plans_.front().model;
      }
    }
  }
  std::string cache_path;
  if (!options_.cache_dir.empty()) {
    cache_path = options_.cache_dir + "/" + compiled_cache_name(content_hash_, request(dims));
  }
  return compile_plan(dims, key, nullptr, cache_path);
}

std::shared_ptr<const CompiledModel> LoadedModel::compile_plan(
    const std::map<std::string, Dims>& dims, const std::string& key, const Graph* graph,
    const std::string& cache_path) {
  // A new shape after the load: from the cache, else compiled from the source again.
  std::optional<MemoryBudget::Reservation> reservation;
  MemoryBudget& budget = memory_->budget();
  if (!graph) {
    size_t estimate = source_bytes_ * 2 + (size_t{1} << 20);
    if (budget.limit()) estimate = std::min(estimate, budget.limit());
    reservation.emplace(budget, estimate, fmt::format("compiling {} for {}", label_, key));
    if (!cache_path.empty()) {
      if (std::shared_ptr<const CompiledModel> cm = try_cache(cache_path)) return keep(key, cm);
    }
  }
  std::optional<Graph> reread;
  if (!graph) {
    if (!source_.path.empty()) {
      MappedFile bytes(source_.path);
      if (model_content_hash(bytes.data(), bytes.size()) != content_hash_) {
        fail(ErrorCode::kInvalidModel,
             "{}: '{}' changed since it was loaded; reload it to use the new file", label_,
             source_.path);
      }
      reread.emplace(import_onnx_bytes(
          bytes.data(), bytes.size(), fs::path(source_.path).parent_path().string(), source_.path));
    } else {
      reread.emplace(import_onnx_bytes(source_.bytes.data(), source_.bytes.size(), "", label_));
    }
    graph = &*reread;
  }
  Graph optimized;
  std::shared_ptr<const CompiledModel> cm =
      CompiledModel::compile(*graph, request(dims), cache_path.empty() ? nullptr : &optimized);
  // The cache holds one compiled program; a model with a data-dependent part compiles each time.
  if (!cache_path.empty() && cm->data_dependent_nodes() == 0) {
    optimized.metadata[kDeclaredKey] = encode_declared(declared_);
    try {
      fs::create_directories(options_.cache_dir);
      save_compiled_cache(cache_path, optimized, *cm);
    } catch (const std::exception&) {
      // A cache that cannot be written costs speed on the next load, never a request.
    }
  }
  return keep(key, cm);
}

std::shared_ptr<const CompiledModel> LoadedModel::try_cache(const std::string& path) {
  try {
    std::map<std::string, std::string> metadata;
    std::shared_ptr<const CompiledModel> cm = load_compiled_cache(path, request({}), &metadata);
    if (cm && metadata_.empty()) metadata_ = std::move(metadata);
    return cm;
  } catch (const Error& err) {
    if (err.code() == ErrorCode::kOutOfMemory) throw;
    std::error_code ec;
    fs::remove(path, ec);  // corrupt or stale: compile again and rewrite it
    return nullptr;
  }
}

std::shared_ptr<const CompiledModel> LoadedModel::keep(const std::string& key,
                                                       std::shared_ptr<const CompiledModel> cm) {
  const size_t bytes = plan_program_bytes(*cm);
  MemoryBudget& budget = memory_->budget();
  budget.charge(bytes, MemoryUse::kModels, label_);
  std::vector<Plan> dropped;
  std::shared_ptr<const CompiledModel> result;
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (const Plan& p : plans_) {
      if (p.key == key) {  // compiled concurrently by another request: keep that one
        budget.release(bytes, MemoryUse::kModels);
        return p.model;
      }
    }
    plans_.insert(plans_.begin(), {key, cm, bytes});
    // Bound the plans kept: drop the least recently used ones nobody is running (never the
    // default plan).
    for (size_t i = plans_.size(); i-- > 1 && plans_.size() > options_.max_plans;) {
      if (plans_[i].model.use_count() == 1 && plans_[i].model != default_plan_) {
        dropped.push_back(std::move(plans_[i]));
        plans_.erase(plans_.begin() + static_cast<long>(i));
      }
    }
    result = cm;
  }
  for (Plan& p : dropped) {
    p.model.reset();
    budget.release(p.program_bytes, MemoryUse::kModels);
  }
  return result;
}

ModelBytes LoadedModel::bytes() const {
  ModelBytes b;
  for (const WeightBlob* blob : blobs()) b.weights += blob->size();
  std::lock_guard<std::mutex> lk(mu_);
  for (const Plan& p : plans_) {
    b.program += p.program_bytes;
    b.arena = std::max(b.arena, p.model->arena_bytes());
  }
  b.program += source_.bytes.size();
  return b;
}

size_t LoadedModel::plan_count() const {
  std::lock_guard<std::mutex> lk(mu_);
  return plans_.size();
}

std::vector<const WeightBlob*> LoadedModel::blobs() const {
  std::vector<const WeightBlob*> r;
  std::lock_guard<std::mutex> lk(mu_);
  for (const Plan& p : plans_) {
    for (const BlobRef& b : p.model->program().blobs) {
      if (std::find(r.begin(), r.end(), b.get()) == r.end()) r.push_back(b.get());
    }
  }
  return r;
}

std::vector<Tensor> LoadedModel::run(const CompiledModel& plan,
                                     const std::vector<Tensor>& inputs) const {
  ArenaPool::Lease arena = memory_->arenas().acquire(plan.arena_bytes(), label_);
  return plan.run(inputs, arena.data());
}

void warm_up_runtime(const std::string& backend) {
  static std::mutex mu;
  static std::vector<std::string> done;
  std::lock_guard<std::mutex> lk(mu);
  if (std::find(done.begin(), done.end(), backend) != done.end()) return;
  // A small YOLO-like graph, so the kernel families every YOLO model runs (a plain-input stem,
  // blocked 3x3 and 1x1 convs with fused SiLU, Split/Concat views, MaxPool, Resize, the head's
  // Reshape/Softmax/Transpose, a reorder to plain) are compiled and run once and their one-time
  // costs (code paged in, caches, thread pools) are paid here rather than by the first model:
  // x [1,3,32,32] -> stem 3x3/2 (16) -> 1x1 (32) -> Split -> 3x3 -> Concat (48) -> 1x1 (32)
  // -> MaxPool 5x5 -> Resize x2 -> the head below -> y [1,12,1024].
  Graph g;
  g.opset = 13;
  int serial = 0;
  auto value = [&](const std::string& stem) {
    return g.add_value(stem + std::to_string(serial++), DType::kF32);
  };
  auto node = [&](const char* op, std::vector<ValueId> in, size_t outs,
                  std::map<std::string, Attribute> attrs = {}) {
    Node n;
    n.name = std::string("warmup_") + op + std::to_string(serial);
    n.op_type = op;
    n.inputs = std::move(in);
    for (size_t i = 0; i < outs; ++i) n.outputs.push_back(value("t"));
    n.attrs = std::move(attrs);
    std::vector<ValueId> o = n.outputs;
    g.add_node(std::move(n));
    return o;
  };
  auto constant = [&](Dims d, float scale) {
    Tensor t(DType::kF32, std::move(d));
    for (int64_t i = 0; i < t.numel(); ++i)
      t.data<float>()[i] = scale * static_cast<float>(i % 7 - 3);
    return g.add_constant("c" + std::to_string(serial++), std::move(t));
  };
  auto ints = [](Dims v) {
    Tensor t(DType::kI64, {static_cast<int64_t>(v.size())});
    std::copy(v.begin(), v.end(), t.data<int64_t>());
    return t;
  };
  auto conv_silu = [&](ValueId x, int64_t ic, int64_t oc, int64_t k, int64_t stride) {
    const int64_t p = k / 2;
    ValueId c = node("Conv", {x, constant({oc, ic, k, k}, 0.02f), constant({oc}, 0.01f)}, 1,
                     {{"kernel_shape", Attribute::make_ints({k, k})},
                      {"strides", Attribute::make_ints({stride, stride})},
                      {"pads", Attribute::make_ints({p, p, p, p})}})[0];
    return node("Mul", {c, node("Sigmoid", {c}, 1)[0]}, 1)[0];
  };
  const ValueId x = g.add_value("x", DType::kF32);
  g.value(x).dims = {1, 3, 32, 32};
  g.value(x).has_shape = true;
  g.inputs.push_back(x);
  ValueId t = conv_silu(conv_silu(x, 3, 16, 3, 2), 16, 32, 1, 1);
  std::vector<ValueId> halves = node("Split", {t, g.add_constant("split", ints({16, 16}))}, 2,
                                     {{"axis", Attribute::make_int(1)}});
  ValueId inner = conv_silu(halves[1], 16, 16, 3, 1);
  t = node("Concat", {halves[0], halves[1], inner}, 1, {{"axis", Attribute::make_int(1)}})[0];
  t = conv_silu(t, 48, 32, 1, 1);
  t = node("MaxPool", {t}, 1,
           {{"kernel_shape", Attribute::make_ints({5, 5})},
            {"pads", Attribute::make_ints({2, 2, 2, 2})}})[0];
  const ValueId no_roi = g.add_constant("roi", Tensor(DType::kF32, {0}));
  Tensor scales(DType::kF32, {4});
  const float sv[] = {1.f, 1.f, 2.f, 2.f};
  std::copy(sv, sv + 4, scales.data<float>());
  t = node("Resize", {t, no_roi, g.add_constant("scales", std::move(scales))}, 1,
           {{"mode", Attribute::make_string("nearest")}})[0];
  // The head as Ultralytics exports it: box distributions through Softmax and the DFL's 1x1
  // conv (a plain-layout conv), distances to boxes with plain-layout Sub/Add/Div/Mul against the
  // anchors, class scores through a standalone Sigmoid.
  const ValueId feat = t;
  t = conv_silu(feat, 32, 64, 1, 1);
  t = node("Reshape", {t, g.add_constant("shape", ints({1, 4, 16, 1024}))}, 1)[0];
  t = node("Transpose", {t}, 1, {{"perm", Attribute::make_ints({0, 2, 1, 3})}})[0];
  t = node("Softmax", {t}, 1, {{"axis", Attribute::make_int(1)}})[0];
  t = node("Conv", {t, constant({1, 16, 1, 1}, 0.1f)}, 1)[0];
  t = node("Reshape", {t, g.add_constant("dist_shape", ints({1, 4, 1024}))}, 1)[0];
  std::vector<ValueId> lt_rb = node("Split", {t, g.add_constant("split2", ints({2, 2}))}, 2,
                                    {{"axis", Attribute::make_int(1)}});
  const ValueId anchors = constant({1, 2, 1024}, 0.5f);
  const ValueId x1y1 = node("Sub", {anchors, lt_rb[0]}, 1)[0];
  const ValueId x2y2 = node("Add", {anchors, lt_rb[1]}, 1)[0];
  const ValueId sum = node("Add", {x1y1, x2y2}, 1)[0];
  const ValueId c_xy = node("Div", {sum, constant({1}, 2.f)}, 1)[0];
  const ValueId wh = node("Sub", {x2y2, x1y1}, 1)[0];
  t = node("Concat", {c_xy, wh}, 1, {{"axis", Attribute::make_int(1)}})[0];
  t = node("Mul", {t, constant({1, 1024}, 8.f)}, 1)[0];
  ValueId cls = conv_silu(feat, 32, 8, 1, 1);
  cls = node("Reshape", {cls, g.add_constant("cls_shape", ints({1, 8, 1024}))}, 1)[0];
  cls = node("Sigmoid", {cls}, 1)[0];
  t = node("Concat", {t, cls}, 1, {{"axis", Attribute::make_int(1)}})[0];
  g.outputs.push_back(t);
  {
    MemoryContext scratch;
    CompileRequest req;
    req.backend = backend;
    req.weights = &scratch.weights();
    std::shared_ptr<const CompiledModel> cm = CompiledModel::compile(g, req);
    Session s(cm, scratch.arenas());
    Tensor in(DType::kF32, {1, 3, 32, 32});
    for (int64_t i = 0; i < in.numel(); ++i)
      in.data<float>()[i] = static_cast<float>(i % 255) / 255.f;
    s.run(std::vector<Tensor>{std::move(in)});
  }
  done.push_back(backend);
  trim_heap();
}

size_t current_rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("RssAnon:", 0) == 0) return std::stoull(line.substr(8)) * 1024;  // "... kB"
  }
  return 0;
}

size_t process_rss_bytes() {
  std::ifstream f("/proc/self/statm");
  size_t pages = 0, resident = 0;
  if (!(f >> pages >> resident)) return 0;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

void trim_heap() { malloc_trim(0); }

void tune_malloc_for_accounting() {
  static const bool done = [] {
    // Big buffers (weights, arenas, parsed tensors) straight from mmap so that freeing them
    // returns the pages at once; a fixed threshold also stops glibc from raising it after the
    // first large free.
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
    // Two heaps for all threads instead of one per thread that ever allocated: a server's dozens
    // of HTTP threads each kept pages of their own heap after an unload (`shoal serve`, 4 clients
    // for 10 s, then unload: anonymous RSS 9.8 MiB above the start with per-thread heaps, 4.2
    // with two; throughput unchanged within noise).
    mallopt(M_ARENA_MAX, 2);
    return true;
  }();
  (void)done;
}

}  // namespace shoal
