// The model loader: the one way from a model source (a file or its bytes) and LoadOptions to a
// model ready to run. It imports the ONNX file (or reads the compiled-model cache), applies the
// one symbolic-dims rule (resolve_input_dims below), compiles, warms up, and charges every byte
// it holds to a MemoryContext's budget: weight blobs (through the context's weight store),
// program memory (run-time constants and kernels) and, per execution, an arena from the
// context's pool. The model manager, the Detector, the pipelines and every CLI command load
// models through it, so they all account the same way. Knows nothing about the registry, images
// or HTTP.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "memory/memory_context.h"
#include "runtime/compiled_model.h"

namespace shoal {

// Where a model comes from: a file (external data resolves against its folder) or bytes.
struct ModelSource {
  std::string path;   // a file, or empty when `bytes` holds the model
  std::string bytes;  // the model's bytes (no external data allowed)
  std::string name;   // for messages ("model 'name'"); default: the file's name

  static ModelSource file(std::string path, std::string name = {});
  static ModelSource memory(std::string bytes, std::string name);
  std::string label() const;  // "model 'name'"
};

// How the dims of each graph input are chosen (see resolve_input_dims).
struct DimsPolicy {
  std::map<std::string, Dims> input_dims;  // by input name: used as given
  Dims first_input_shape;                  // the config's input_shape: the first input's dims
  std::optional<int64_t> batch;            // dim 0 of every input (else 1 where symbolic)
  int64_t max_batch = 0;                   // a larger batch is refused; 0 = no limit
};

// The one symbolic-dims rule. For each declared input (in order):
//   1. dims given for it by name in `policy.input_dims`;
//   2. else, for the first input, `policy.first_input_shape` when set;
//   3. else its declared dims.
// Then `policy.batch`, when set, replaces dim 0 of every input of rank >= 1. What is still
// symbolic is filled: dim 0 (batch) with 1; the last two dims of a rank-4 input (an image's
// height and width) with the metadata's imgsz, else 640 (224 for classify models); any other
// symbolic dim is an error naming the input and the dim. Dims that contradict a fixed declared
// dim, unknown input names and a batch above `policy.max_batch` are errors too. `label` names the
// model in messages. Throws Error(kInvalidArgument / kLimit).
std::map<std::string, Dims> resolve_input_dims(const std::vector<TensorInfo>& declared,
                                               const std::map<std::string, std::string>& metadata,
                                               const DimsPolicy& policy, const std::string& label);

// Input size a model with symbolic height/width is compiled for: the metadata's imgsz when
// present, else 640 (classify: 224). Returns {height, width}.
std::pair<int64_t, int64_t> default_image_size(const std::map<std::string, std::string>& metadata);

struct LoadOptions {
  std::string backend = "cpu";  // "cpu" or "reference"
  DType precision = DType::kF32;
  DimsPolicy dims;
  bool optimize_graph = true;
  std::string cache_dir;  // compiled-model cache folder; empty = no cache
  // Whose budget, weight store and arena pool the model uses; null = a new context with an
  // unlimited budget (what the CLI's single-model commands use).
  std::shared_ptr<MemoryContext> memory;
  bool warmup = true;    // run the default plan once on zeros after loading
  size_t max_plans = 4;  // compiled input shapes kept (least recently used dropped first)
};

// What a loaded model holds, in bytes.
struct ModelBytes {
  size_t weights = 0;  // weight blobs its plans use (blobs shared with other models in full)
  size_t program = 0;  // its own program memory: run-time constants and kernels, all plans
  size_t arena = 0;    // the largest arena one execution borrows (its plans' maximum)
  // What the model costs loaded by itself: weights + program + one arena.
  size_t accounted() const { return weights + program + arena; }
};

// Program memory a compiled plan holds outside the weight store and the arena pool: the
// constants kernels read at run time, plus an estimate for the kernels themselves (oneDNN
// primitive objects and JIT code, argument tables): kProgramBytesPerStep per step. oneDNN 2.6
// does not report its code size. Against the heap a load leaves behind beyond the weight blobs,
// the estimate is 7-27% high on the shared YOLO models; Loader.ProgramBytesEstimateIsBounded
// holds it within [0.75, 1.5] times that, and Manager.AccountedBytesMatchMeasuredRss holds a
// repository's accounted total within 10% of its measured RSS growth.
inline constexpr size_t kProgramBytesPerStep = 24 * 1024;
size_t plan_program_bytes(const CompiledModel& cm);

class LoadedModel {
 public:
  // Imports `source` (or reads the default plan from the compiled-model cache), compiles the
  // default plan (dims per options.dims), warms it up, and charges what it holds. The whole load
  // first reserves an estimate (twice the file size) so it never half-happens for want of
  // memory. Throws Error naming the model and the problem.
  static std::shared_ptr<LoadedModel> load(const ModelSource& source, const LoadOptions& options);
  ~LoadedModel();
  LoadedModel(const LoadedModel&) = delete;
  LoadedModel& operator=(const LoadedModel&) = delete;

  const std::string& label() const { return label_; }
  const std::string& path() const { return source_.path; }
  const std::vector<TensorInfo>& declared_inputs() const { return declared_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& content_hash() const { return content_hash_; }
  const LoadOptions& options() const { return options_; }
  MemoryContext& memory() const { return *memory_; }
  bool from_cache() const { return from_cache_; }
  // The file's size and modification time when the load read it (to notice a changed file).
  size_t source_size() const { return source_bytes_; }
  std::filesystem::file_time_type source_mtime() const { return source_mtime_; }
  double load_ms() const { return load_ms_; }  // import or cache, compile, pack (not warm-up)

  // The plan compiled for `input_dims` (by input name; missing inputs follow the dims policy),
  // from the cache or compiled on first use. Thread-safe.
  std::shared_ptr<const CompiledModel> plan(const std::map<std::string, Dims>& input_dims = {});
  // The plan the load compiled (options.dims).
  std::shared_ptr<const CompiledModel> default_plan() const { return default_plan_; }
  // The dims plan(input_dims) would compile for.
  std::map<std::string, Dims> resolve(const std::map<std::string, Dims>& input_dims) const;

  ModelBytes bytes() const;
  size_t plan_count() const;
  // Every weight blob the plans hold (each once): what this model may share with others.
  std::vector<const WeightBlob*> blobs() const;

  // Runs `plan` on `inputs` with an arena borrowed from the context's pool for the call.
  std::vector<Tensor> run(const CompiledModel& plan, const std::vector<Tensor>& inputs) const;

 private:
  LoadedModel() = default;
  static std::shared_ptr<LoadedModel> load_unnamed(const ModelSource& source,
                                                   const LoadOptions& options);
  struct Plan {
    std::string key;
    std::shared_ptr<const CompiledModel> model;
    size_t program_bytes = 0;
  };
  std::shared_ptr<const CompiledModel> compile_plan(const std::map<std::string, Dims>& dims,
                                                    const std::string& key, const Graph* graph,
                                                    const std::string& cache_path);
  std::shared_ptr<const CompiledModel> try_cache(const std::string& path);
  std::shared_ptr<const CompiledModel> keep(const std::string& key,
                                            std::shared_ptr<const CompiledModel> cm);
  CompileRequest request(const std::map<std::string, Dims>& dims) const;

  ModelSource source_;
  LoadOptions options_;
  std::shared_ptr<MemoryContext> memory_;
  std::string label_;
  std::vector<TensorInfo> declared_;  // graph inputs as declared (symbolic dims < 0)
  std::map<std::string, std::string> metadata_;
  std::string content_hash_;
  size_t source_bytes_ = 0;
  bool source_charged_ = false;  // a memory source's bytes, kept and charged
  std::filesystem::file_time_type source_mtime_{};
  bool from_cache_ = false;
  double load_ms_ = 0;
  std::shared_ptr<const CompiledModel> default_plan_;

  mutable std::mutex mu_;    // guards plans_
  std::vector<Plan> plans_;  // most recently used first
};

// Process-wide one-time set-up, done before the first model so that a model's load costs only
// what the model itself holds: the compute thread pool and the backend's JIT infrastructure (a
// one-conv graph is compiled and run once in a scratch context). Idempotent; thread-safe.
void warm_up_runtime(const std::string& backend);

// Process memory, for accounting checks: the resident anonymous memory (heap, mmaps, stacks:
// RssAnon; 0 when unknown), what models hold; the whole resident set (statm), what `ps` shows;
// and returning freed heap pages to the OS after a load or an unload so RSS follows what is
// held. Accounting compares with the anonymous figure: file-backed pages are the shared
// libraries' code, shared between processes and paged in once per kernel family (oneDNN pages
// in several MiB of its AVX2 kernels the first time a YOLO model runs), not memory a model holds
// or an unload can give back.
size_t current_rss_bytes();
size_t process_rss_bytes();
void trim_heap();
// Large buffers straight from mmap (freed pages return at once), with a fixed threshold: RSS
// then follows what is held; at most two malloc heaps for all threads. Process-wide; idempotent.
void tune_malloc_for_accounting();

}  // namespace shoal
