// The backend interface: compile a shape-specialised, optimised graph into a Program (kernels in
// execution order plus the storage every value needs), then run kernels on bound pointers.
// Compile does shapes, layout choice and weight packing and reports every byte; run never
// allocates. Knows nothing about HTTP, the model registry or how the arena is planned.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "graph/ir.h"
#include "memory/weight_store.h"

namespace shoal {

// Pointers bound for one kernel execution; in/out parallel Step::inputs/outputs.
// An omitted optional input is nullptr.
struct KernelIO {
  const std::vector<const void*>& in;
  const std::vector<void*>& out;
  void* scratch;  // Step's scratch_bytes, 64-byte aligned, shared between steps
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual void run(const KernelIO& io) = 0;
};

// One value of a Program. Values live in the planned arena unless constant.
struct ProgramValue {
  std::string name;
  DType dtype = DType::kUndefined;
  Dims dims;           // logical dims
  std::string layout;  // "plain", "nChw16c", ... (informational)
  size_t bytes = 0;    // storage size in `layout`
  // Stored inside another value's buffer (a view: Reshape, Split, Concat elision).
  int alias_of = -1;  // index into Program::values, always a non-alias root
  size_t alias_offset = 0;
  // Set for constants kernels read at run time (not packed into the kernel itself).
  Tensor constant;
};

struct Step {
  std::string label;  // "Conv 'model.0/conv/Conv'" (+ " + silu" when fused)
  std::string op;     // op type or kernel kind, for profiles
  std::unique_ptr<Kernel> kernel;
  std::vector<int> inputs;   // indices into Program::values, -1 for omitted
  std::vector<int> outputs;  // indices into Program::values
  size_t scratch_bytes = 0;
  // Output k may share input in_place[k]'s buffer (element-wise ops); -1 when not.
  std::vector<int> in_place;
  double flops = 0;
};

struct Program {
  std::vector<ProgramValue> values;
  std::vector<Step> steps;
  // Graph inputs and outputs, dense row-major ("plain") with the graph's dtype and dims.
  std::vector<int> inputs;
  std::vector<int> outputs;
  // Bytes of weights held by kernels in packed form (not counting ProgramValue constants).
  size_t packed_weight_bytes = 0;
  // Every weight-store blob the kernels hold (each once): what this program shares with others.
  std::vector<BlobRef> blobs;
};

struct CompileOptions {
  DType precision = DType::kF32;  // compute precision for floating-point kernels
  // Where packed weights are interned (shared, budget-charged); null = the process default.
  WeightStore* weights = nullptr;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  // `g` is specialised (every value has dims) and optimised. Throws kUnsupported naming the node
  // and what is missing.
  virtual Program compile(const Graph& g, const CompileOptions& opts) = 0;
};

std::unique_ptr<Backend> make_reference_backend();
std::unique_ptr<Backend> make_cpu_backend();
// "cpu" or "reference"; throws kInvalidArgument listing the choices.
std::unique_ptr<Backend> make_backend(const std::string& name);

// Evaluates one node with the reference kernels (double precision, the oracle): the evaluator
// constant folding and shape specialisation use (graph/shape_inference.h), and what runs a node
// no backend has a native kernel for.
void evaluate_node(const Node& node, int opset, const std::vector<Tensor>& in,
                   std::vector<Tensor>& out);

// Drops what backends cache beyond the programs alive now (oneDNN's primitive cache keeps the
// JIT code of primitives no program uses any more). Called when models are unloaded.
void release_backend_caches();

// What a compiled program depends on besides the model: backend, library version and the CPU
// features it generates code for ("cpu:dnnl-2.6.0:avx512_core_bf16"). Part of cache keys.
std::string backend_fingerprint(const std::string& backend);

// Process-wide compute threads shared by all models (oneDNN/OpenMP pool). 0 = number of cores.
void set_compute_threads(int n);
int compute_threads();

// Runs `fn` on a compute lane and returns when it has run, rethrowing what it threw. A lane is a
// thread that owns an OpenMP team of compute_threads(); there are CPUs / compute_threads() lanes
// (at least one), taken in arrival order, so the teams together never outnumber the CPUs. Model
// runs and backend compiles go through here: libgomp counts every team's threads, and once they
// outnumber the CPUs it cuts its spin-waits to ~100 spins, so every parallel region pays a
// futex wake-up (a server whose main, HTTP and worker threads each ran models took 170 ms for
// a yolov8n frame that `shoal bench` ran in 90 ms). Called on a lane, `fn` runs inline. The
// caller's active budget Reservation is active on the lane while `fn` runs.
void run_on_compute_lane(const std::function<void()>& fn);

// Called by a lane before it runs a model. When Shoal owns thread placement (none of
// OMP_PROC_BIND, OMP_PLACES, GOMP_CPU_AFFINITY is set and SHOAL_THREAD_AFFINITY is not "off") and
// the compute threads equal the CPUs the process may use, the lane and its OpenMP workers are
// pinned one per CPU, once, and stay pinned (as OMP_PROC_BIND=true pins the initial thread);
// later calls cost a thread-local check. Threads that call models are not pinned. Unpinned 2-thread
// teams on busy cores lose whole scheduler ticks in libgomp's spin-waits (BENCHMARKS.md).
void place_compute_threads();

// How model runs place their threads, for reports: "one thread per CPU", "set by OMP_PROC_BIND",
// "off (SHOAL_THREAD_AFFINITY)" or "unpinned (...why...)".
std::string compute_affinity_mode();

}  // namespace shoal
