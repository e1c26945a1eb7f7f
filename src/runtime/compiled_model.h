// CompiledModel: an imported graph specialised to fixed input shapes, optimised, compiled by a
// backend into a Program, with its activation arena planned. Nodes whose output shapes depend on
// run-time values (NonMaxSuppression, NonZero, TopK with a computed k, Reshape/Expand/Slice/...
// given a shape as a model input), and every node after them, form the model's data-dependent
// part: run() evaluates it after the program, on the values the program produced, with the
// reference kernels, its outputs allocated as they come. Session: a CompiledModel plus one
// arena (see below). Models are loaded through runtime/model_loader.h, which resolves input
// dims, uses the compiled-model cache and accounts every byte. Knows nothing about HTTP or the
// model registry.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "graph/ir.h"
#include "graph/passes.h"
#include "memory/arena_pool.h"
#include "memory/planner.h"

namespace shoal {

struct CompileRequest {
  std::string backend = "cpu";  // "cpu" or "reference"
  DType precision = DType::kF32;
  // Dims per input name; required for symbolic dims, optional otherwise (must then match).
  std::map<std::string, Dims> input_dims;
  OptimizeOptions optimize;
  bool optimize_graph = true;
  // Where packed weights are interned (shared across models, charged to its budget);
  // null = the process default store.
  WeightStore* weights = nullptr;
};

struct TensorInfo {
  std::string name;
  DType dtype = DType::kUndefined;
  Dims dims;
};

struct MemoryReport {
  size_t weights_bytes = 0;        // constants the program reads + packed weights held by kernels
  size_t packed_weight_bytes = 0;  // of which packed by kernels
  size_t arena_bytes = 0;          // planned activation arena (incl. I/O buffers and scratch)
  size_t naive_activation_bytes = 0;   // as exported: sum of every activation, no reuse
  size_t max_live_bytes = 0;           // lower bound for the compiled program's arena
  size_t exported_max_live_bytes = 0;  // lower bound as exported (before fusion and views)
  size_t program_naive_bytes = 0;      // compiled program, sum of its buffers without reuse
};

class CompiledModel {
 public:
  // Throws shoal::Error (kInvalidArgument for bad input dims, kUnsupported, kInvalidModel).
  static std::shared_ptr<CompiledModel> compile(const Graph& model, const CompileRequest& req);
  // The same; `optimized` (when not null) receives the specialised, optimised graph the backend
  // compiled (what the compiled-model cache stores).
  static std::shared_ptr<CompiledModel> compile(const Graph& model, const CompileRequest& req,
                                                Graph* optimized);

  const std::vector<TensorInfo>& inputs() const { return inputs_; }
  const std::vector<TensorInfo>& outputs() const { return outputs_; }
  const Program& program() const { return program_; }
  const MemoryReport& memory() const { return memory_; }
  const PassStats& pass_stats() const { return pass_stats_; }
  double flops() const { return flops_; }
  // Nodes run after the program because their shapes depend on run-time values (0: none; then
  // every output has fixed dims and the zero-copy form below serves every output).
  size_t data_dependent_nodes() const { return tail_ ? tail_->nodes : 0; }
  const std::string& backend_name() const { return backend_name_; }
  size_t arena_bytes() const { return memory_.arena_bytes; }

  // Runs once. `inputs` parallel inputs() (checked: dtype and dims, with a message listing what is
  // expected). `arena` must hold arena_bytes() and be 64-byte aligned; one execution at a time
  // per arena. Returns fresh output tensors parallel to outputs().
  std::vector<Tensor> run(const std::vector<Tensor>& inputs, void* arena) const;

  // Zero-copy form: write input i straight into input_view(arena, i), call run_in_place(arena),
  // then read output i from output_view(arena, i). Views borrow the arena: inputs must be
  // written again before every run (the program may reuse their memory), and outputs are valid
  // until the arena's next run. Outputs of the data-dependent part are copied into the arena
  // when the model declares their dims fixed (e.g. detections padded to [1, 300, 6]); others come
  // from run() only (output_view refuses them).
  Tensor input_view(void* arena, size_t i) const;
  void run_in_place(void* arena) const;
  Tensor output_view(void* arena, size_t i) const;

  // Gives every run-time constant that lies in [begin, begin + size) its own copy, so that memory
  // (e.g. a mapped cache file the graph borrowed from) can go away.
  void detach_constants_from(const void* begin, size_t size);

  // Per-step wall time of one run (profiling), parallel to program().steps.
  std::vector<double> profile(const std::vector<Tensor>& inputs, void* arena) const;

 private:
  void plan();
  void check_inputs(const std::vector<Tensor>& inputs) const;
  void execute(const std::vector<Tensor>& inputs, void* arena, std::vector<double>* times) const;
  void run_steps(uint8_t* base, std::vector<double>* times) const;
  void run_steps_here(uint8_t* base, std::vector<double>* times) const;  // on a compute lane
  void* value_ptr(int v, uint8_t* base) const;  // a value's address in `base`'s arena
  // Program output k copied out of the arena.
  Tensor program_output(size_t k, uint8_t* base) const;

  // The data-dependent part (see the top of this file).
  struct Tail {
    Graph graph;  // inputs: the values it reads from the model inputs or the program
    std::vector<int> from_input;    // per tail input: model input index, or -1
    std::vector<int> from_program;  // per tail input: program output index, or -1
    size_t nodes = 0;
  };
  void split_tail(Graph& g, const std::vector<NodeId>& deferred);
  std::vector<Tensor> run_tail(const std::vector<Tensor>& inputs, uint8_t* base) const;

  Program program_;
  std::vector<TensorInfo> inputs_;
  std::vector<TensorInfo> outputs_;
  std::vector<TensorInfo> program_outputs_;  // parallel program_.outputs
  // Per output: its program output index, or -1 - its index among the tail's outputs.
  std::vector<int> output_source_;
  std::shared_ptr<const Tail> tail_;
  // Per output: its slot in the arena when it comes from the tail with fixed declared dims, else
  // SIZE_MAX.
  std::vector<size_t> tail_slot_;
  std::vector<size_t> offset_;  // per program value: byte offset in the arena (views included)
  MemoryReport memory_;
  PassStats pass_stats_;
  double flops_ = 0;
  std::string backend_name_;
  std::vector<size_t> step_scratch_;  // per step: scratch offset in the arena
};

// A CompiledModel plus one arena borrowed from an ArenaPool (so the arena is charged to the
// pool's budget like every other byte), the simplest way to run a model. The pool must outlive
// the session. Not thread-safe: one run at a time per session.
class Session {
 public:
  Session(std::shared_ptr<const CompiledModel> model, ArenaPool& arenas);
  // Borrows from the process-wide pool (an unlimited budget): for tests and tools that compile
  // a model by hand; models loaded through the loader use their MemoryContext's pool.
  explicit Session(std::shared_ptr<const CompiledModel> model);
  const CompiledModel& model() const { return *model_; }
  std::vector<Tensor> run(const std::vector<Tensor>& inputs);
  // By name; every input must be given.
  std::map<std::string, Tensor> run(const std::map<std::string, Tensor>& inputs);
  // Zero-copy (see CompiledModel::input_view): fill input_view(i), run_in_place(), read
  // output_view(i), which stays valid until the next run.
  Tensor input_view(size_t i) { return model_->input_view(arena_.data(), i); }
  void run_in_place() { model_->run_in_place(arena_.data()); }
  Tensor output_view(size_t i) { return model_->output_view(arena_.data(), i); }
  // Per-step wall time of one run (CompiledModel::profile).
  std::vector<double> profile(const std::vector<Tensor>& inputs) {
    return model_->profile(inputs, arena_.data());
  }

 private:
  std::shared_ptr<const CompiledModel> model_;
  ArenaPool::Lease arena_;
};

// The process-wide arena pool Session(model) borrows from (an unlimited budget of its own).
ArenaPool& process_arena_pool();

// "images: float32 [1,3,640,640]; ..." for error messages.
std::string describe_inputs(const Graph& model);

}  // namespace shoal
