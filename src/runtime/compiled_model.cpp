#include "runtime/compiled_model.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "graph/shape_inference.h"
#include "memory/budget.h"

namespace shoal {
namespace {

size_t value_bytes(const Value& v) {
  return static_cast<size_t>(
      checked_mul(num_elements(v.dims), static_cast<int64_t>(dtype_size(v.dtype))));
}

// Naive sum and max-live bound of a graph as it stands (every non-constant value its own buffer).
void graph_activation_stats(const Graph& g, size_t* naive, size_t* max_live) {
  std::vector<NodeId> order = g.live_nodes();
  std::vector<int> first(g.values.size(), -2), last(g.values.size(), -2);
  for (ValueId v : g.inputs) first[static_cast<size_t>(v)] = -1;
  for (size_t s = 0; s < order.size(); ++s) {
    const Node& n = g.nodes[static_cast<size_t>(order[s])];
    for (ValueId o : n.outputs) {
      if (o != kNoValue && !g.value(o).is_constant())
        first[static_cast<size_t>(o)] = static_cast<int>(s);
    }
    for (ValueId i : n.inputs) {
      if (i != kNoValue) last[static_cast<size_t>(i)] = static_cast<int>(s);
    }
  }
  for (ValueId v : g.outputs) last[static_cast<size_t>(v)] = static_cast<int>(order.size());
  std::vector<BufferRequest> reqs;
  for (size_t v = 0; v < g.values.size(); ++v) {
    if (first[v] == -2 || g.values[v].is_constant()) continue;
    BufferRequest r;
    r.bytes = value_bytes(g.values[v]);
    r.first = first[v];
    r.last = std::max(last[v], first[v]);
    reqs.push_back(r);
  }
  // Only the bounds are needed: compute them without placing.
  size_t sum = 0;
  int hi = static_cast<int>(order.size()) + 1;
  std::vector<long long> delta(static_cast<size_t>(hi + 2), 0);
  for (const BufferRequest& r : reqs) {
    size_t b = (r.bytes + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
    sum += b;
    delta[static_cast<size_t>(r.first + 1)] += static_cast<long long>(b);
    delta[static_cast<size_t>(r.last + 2)] -= static_cast<long long>(b);
  }
  long long live = 0, best = 0;
  for (long long d : delta) {
    live += d;
    best = std::max(best, live);
  }
  *naive = sum;
  *max_live = static_cast<size_t>(best);
}

// The given dims applied to the graph's inputs, checked: every input ends up concrete. Which dims
// to give is the loader's dims rule (runtime/model_loader.h); this only validates.
std::map<std::string, Dims> specialize_input_dims(const Graph& model,
                                                  const std::map<std::string, Dims>& overrides) {
  std::map<std::string, Dims> result;
  for (const auto& [name, dims] : overrides) {
    bool found = false;
    for (ValueId v : model.inputs) found |= model.value(v).name == name;
    if (!found) {
      fail(ErrorCode::kInvalidArgument, "the model has no input '{}'; its inputs are: {}", name,
           describe_inputs(model));
    }
  }
  for (ValueId v : model.inputs) {
    const Value& val = model.value(v);
    auto it = overrides.find(val.name);
    if (it != overrides.end()) {
      const Dims& d = it->second;
      bool ok = !val.has_shape || d.size() == val.dims.size();
      for (size_t i = 0; ok && val.has_shape && i < d.size(); ++i) {
        ok = val.dims[i] < 0 || val.dims[i] == d[i];
      }
      for (int64_t x : d) ok &= x > 0;
      if (!ok) {
        fail(ErrorCode::kInvalidArgument, "input '{}': shape {} does not fit the model's {}",
             val.name, dims_str(d), describe_inputs(model));
      }
      result[val.name] = d;
      continue;
    }
    if (!val.has_shape) {
      fail(ErrorCode::kInvalidArgument, "input '{}' has no declared shape; give its dims",
           val.name);
    }
    for (size_t i = 0; i < val.dims.size(); ++i) {
      if (val.dims[i] < 0) {
        std::string p = i < val.dim_params.size() ? val.dim_params[i] : "";
        fail(ErrorCode::kInvalidArgument,
             "input '{}' has a symbolic dim {} ('{}'); give concrete dims (e.g. --shape {}=...)",
             val.name, i, p, val.name);
      }
    }
    result[val.name] = val.dims;
  }
  return result;
}

}  // namespace

std::string describe_inputs(const Graph& model) {
  std::string s;
  for (ValueId v : model.inputs) {
    const Value& val = model.value(v);
    if (!s.empty()) s += "; ";
    s += val.name + ": " + std::string(dtype_name(val.dtype)) + " [";
    for (size_t i = 0; i < val.dims.size(); ++i) {
      if (i) s += ",";
      if (val.dims[i] < 0) {
        s += i < val.dim_params.size() && !val.dim_params[i].empty() ? val.dim_params[i] : "?";
      } else {
        s += std::to_string(val.dims[i]);
      }
    }
    s += "]";
  }
  return s;
}

std::shared_ptr<CompiledModel> CompiledModel::compile(const Graph& model,
                                                      const CompileRequest& req) {
  return compile(model, req, nullptr);
}

std::shared_ptr<CompiledModel> CompiledModel::compile(const Graph& model, const CompileRequest& req,
                                                      Graph* optimized) {
  auto cm = std::shared_ptr<CompiledModel>(new CompiledModel());
  Graph g = model;
  // Half-precision models compute in float32 (their float16 I/O stays float16).
  if (const int n = float16_to_float32(g)) cm->pass_stats_["float16_to_float32"] = n;
  auto dims = specialize_input_dims(g, req.input_dims);
  for (ValueId v : g.inputs) {
    Value& val = g.value(v);
    val.dims = dims.at(val.name);
    val.has_shape = true;
  }
  const int opset = static_cast<int>(g.opset);
  SpecializeOptions specialize;
  specialize.defer_data_dependent = true;
  const std::vector<NodeId> deferred = specialize_shapes(
      g,
      [opset](const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out) {
        evaluate_node(n, opset, in, out);
      },
      specialize);
  if (!deferred.empty()) {
    cm->split_tail(g, deferred);
  } else {
    for (size_t i = 0; i < g.outputs.size(); ++i) cm->output_source_.push_back(static_cast<int>(i));
  }
  graph_activation_stats(g, &cm->memory_.naive_activation_bytes,
                         &cm->memory_.exported_max_live_bytes);
  if (req.optimize_graph) {
    for (const auto& [pass, n] : optimize(g, req.optimize)) cm->pass_stats_[pass] += n;
  }

  cm->flops_ = graph_flops(g);
  auto backend = make_backend(req.backend);
  cm->backend_name_ = backend->name();
  CompileOptions opts;
  opts.precision = req.precision;
  opts.weights = req.weights;
  run_on_compute_lane([&] { cm->program_ = backend->compile(g, opts); });

  for (ValueId v : g.inputs)
    cm->inputs_.push_back({g.value(v).name, g.value(v).dtype, g.value(v).dims});
  for (ValueId v : g.outputs) {
    cm->program_outputs_.push_back({g.value(v).name, g.value(v).dtype, g.value(v).dims});
  }
  for (size_t i = 0; i < cm->output_source_.size(); ++i) {
    const int src = cm->output_source_[i];
    if (src >= 0) {
      cm->outputs_.push_back(cm->program_outputs_[static_cast<size_t>(src)]);
    } else {  // known after run(): the model's declared type and dims (-1 where symbolic)
      const Value& declared = model.value(model.outputs[i]);
      cm->outputs_.push_back({declared.name, declared.dtype, declared.dims});
    }
  }
  cm->plan();
  if (optimized) *optimized = std::move(g);
  return cm;
}

// Moves the deferred nodes (in topological order) out of `g` into the tail: `g` keeps the
// program's part, whose outputs become the model outputs it computes plus every value the tail
// reads from it.
void CompiledModel::split_tail(Graph& g, const std::vector<NodeId>& deferred) {
  auto tail = std::make_shared<Tail>();
  tail->nodes = deferred.size();
  std::vector<bool> in_tail(g.nodes.size(), false), made_in_tail(g.values.size(), false);
  std::vector<bool> read(g.values.size(), false);
  std::vector<ValueId> boundary;
  for (NodeId n : deferred) {
    in_tail[static_cast<size_t>(n)] = true;
    for (ValueId o : g.nodes[static_cast<size_t>(n)].outputs) {
      if (o != kNoValue) made_in_tail[static_cast<size_t>(o)] = true;
    }
  }
  for (NodeId n : deferred) {
    for (ValueId v : g.nodes[static_cast<size_t>(n)].inputs) {
      if (v == kNoValue || read[static_cast<size_t>(v)]) continue;
      read[static_cast<size_t>(v)] = true;
      if (!made_in_tail[static_cast<size_t>(v)] && !g.value(v).is_constant()) boundary.push_back(v);
    }
  }
  Graph& t = tail->graph;
  t = g;
  for (size_t n = 0; n < t.nodes.size(); ++n) t.nodes[n].dead = t.nodes[n].dead || !in_tail[n];
  for (size_t v = 0; v < t.values.size(); ++v) {
    if (!read[v]) t.values[v].constant = Tensor();  // the program holds the constants it reads
  }
  t.inputs = boundary;
  t.outputs.clear();
  std::vector<ValueId> program_outputs;
  const auto program_output_index = [&](ValueId v) {
    auto it = std::find(program_outputs.begin(), program_outputs.end(), v);
    if (it != program_outputs.end()) return static_cast<int>(it - program_outputs.begin());
    program_outputs.push_back(v);
    return static_cast<int>(program_outputs.size()) - 1;
  };
  for (ValueId v : g.outputs) {
    if (made_in_tail[static_cast<size_t>(v)]) {
      output_source_.push_back(-1 - static_cast<int>(t.outputs.size()));
      t.outputs.push_back(v);
    } else {
      output_source_.push_back(program_output_index(v));
    }
  }
  for (ValueId v : boundary) {
    auto it = std::find(g.inputs.begin(), g.inputs.end(), v);
    if (it != g.inputs.end()) {
      tail->from_input.push_back(static_cast<int>(it - g.inputs.begin()));
      tail->from_program.push_back(-1);
    } else {
      tail->from_input.push_back(-1);
      tail->from_program.push_back(program_output_index(v));
    }
  }
  for (NodeId n : deferred) g.nodes[static_cast<size_t>(n)].dead = true;
  g.outputs = program_outputs;
  tail_ = std::move(tail);
}

// Evaluates the tail on the model inputs and the program's outputs in `base`'s arena: every
// tail input becomes a constant and the tail folds completely.
std::vector<Tensor> CompiledModel::run_tail(const std::vector<Tensor>& inputs,
                                            uint8_t* base) const {
  Graph t = tail_->graph;
  for (size_t j = 0; j < t.inputs.size(); ++j) {
    Value& v = t.value(t.inputs[j]);
    v.constant = tail_->from_input[j] >= 0
                     ? inputs[static_cast<size_t>(tail_->from_input[j])].clone()
                     : program_output(static_cast<size_t>(tail_->from_program[j]), base);
    v.dtype = v.constant.dtype();
    v.dims = v.constant.dims();
    v.has_shape = true;
  }
  const int opset = static_cast<int>(t.opset);
  SpecializeOptions fold;
  fold.fold_everything = true;
  specialize_shapes(
      t,
      [opset](const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out) {
        evaluate_node(n, opset, in, out);
      },
      fold);
  std::vector<Tensor> out;
  for (ValueId v : t.outputs) {
    if (!t.value(v).is_constant()) {
      const std::vector<NodeId> left = t.live_nodes();
      fail(ErrorCode::kUnsupported,
           "output '{}' could not be computed after the program: {} has "
           "no reference kernel for these inputs",
           t.value(v).name, left.empty() ? std::string("a node") : t.node_label(left.front()));
    }
    out.push_back(t.value(v).constant);
  }
  return out;
}

void CompiledModel::plan() {
  Program& p = program_;
  const size_t nv = p.values.size();
  const int nsteps = static_cast<int>(p.steps.size());
  auto root_of = [&](int v) {
    return p.values[static_cast<size_t>(v)].alias_of >= 0
               ? p.values[static_cast<size_t>(v)].alias_of
               : v;
  };

  // In-place: an element-wise output takes its input's buffer when the input dies there.
  std::vector<int> last_read(nv, -1);
  for (int s = 0; s < nsteps; ++s) {
    for (int v : p.steps[static_cast<size_t>(s)].inputs) {
      if (v >= 0) last_read[static_cast<size_t>(root_of(v))] = s;
    }
  }
  for (int v : p.outputs) last_read[static_cast<size_t>(root_of(v))] = nsteps;
  std::vector<bool> pinned(nv, false);  // graph I/O and constants never share by in-place
  for (int v : p.inputs) pinned[static_cast<size_t>(root_of(v))] = true;
  for (int v : p.outputs) pinned[static_cast<size_t>(root_of(v))] = true;
  for (int s = 0; s < nsteps; ++s) {
    Step& st = p.steps[static_cast<size_t>(s)];
    for (size_t k = 0; k < st.in_place.size() && k < st.outputs.size(); ++k) {
      int j = st.in_place[k];
      if (j < 0 || j >= static_cast<int>(st.inputs.size())) continue;
      int in = st.inputs[static_cast<size_t>(j)];
      int out = st.outputs[k];
      if (in < 0 || out < 0) continue;
      ProgramValue& iv = p.values[static_cast<size_t>(in)];
      ProgramValue& ov = p.values[static_cast<size_t>(out)];
      if (iv.alias_of >= 0 || ov.alias_of >= 0 || iv.constant.defined()) continue;
      if (pinned[static_cast<size_t>(in)] || pinned[static_cast<size_t>(out)]) continue;
      if (last_read[static_cast<size_t>(in)] != s || iv.bytes < ov.bytes) continue;
      bool has_views = false;
      for (const ProgramValue& pv : p.values) has_views |= pv.alias_of == out;
      if (has_views) continue;
      ov.alias_of = in;
      ov.alias_offset = 0;
      last_read[static_cast<size_t>(in)] = last_read[static_cast<size_t>(out)];
    }
  }

  // Liveness per root buffer.
  std::vector<int> first(nv, nsteps + 1), last(nv, -2);
  for (int v : p.inputs) first[static_cast<size_t>(root_of(v))] = -1;
  for (int s = 0; s < nsteps; ++s) {
    const Step& st = p.steps[static_cast<size_t>(s)];
    for (int v : st.outputs) {
      if (v < 0) continue;
      size_t r = static_cast<size_t>(root_of(v));
      first[r] = std::min(first[r], s);
      last[r] = std::max(last[r], s);
    }
    for (int v : st.inputs) {
      if (v < 0) continue;
      size_t r = static_cast<size_t>(root_of(v));
      last[r] = std::max(last[r], s);
    }
  }
  for (int v : p.outputs) last[static_cast<size_t>(root_of(v))] = nsteps;
  for (int v : p.inputs)
    last[static_cast<size_t>(root_of(v))] = std::max(last[static_cast<size_t>(root_of(v))], -1);

  std::vector<BufferRequest> reqs;
  std::vector<int> req_value;  // value index, or -(step+1) for a step's scratch
  for (size_t v = 0; v < nv; ++v) {
    const ProgramValue& pv = p.values[v];
    if (pv.alias_of >= 0 || pv.constant.defined() || last[v] == -2) continue;
    BufferRequest r;
    r.bytes = pv.bytes;
    r.first = std::min(first[v], last[v]);
    r.last = last[v];
    reqs.push_back(r);
    req_value.push_back(static_cast<int>(v));
  }
  for (int s = 0; s < nsteps; ++s) {
    if (p.steps[static_cast<size_t>(s)].scratch_bytes == 0) continue;
    reqs.push_back({p.steps[static_cast<size_t>(s)].scratch_bytes, s, s});
    req_value.push_back(-(s + 1));
  }
  ArenaPlan plan = plan_arena(reqs);
  std::string bad = validate_plan(reqs, plan);
  if (!bad.empty()) fail(ErrorCode::kInternal, "arena plan invalid: {}", bad);

  offset_.assign(nv, SIZE_MAX);
  std::vector<size_t> scratch(static_cast<size_t>(nsteps), 0);
  for (size_t i = 0; i < reqs.size(); ++i) {
    if (req_value[i] >= 0) {
      offset_[static_cast<size_t>(req_value[i])] = plan.offsets[i];
    } else {
      scratch[static_cast<size_t>(-req_value[i] - 1)] = plan.offsets[i];
    }
  }
  for (size_t v = 0; v < nv; ++v) {
    const ProgramValue& pv = p.values[v];
    if (pv.alias_of >= 0 && offset_[static_cast<size_t>(pv.alias_of)] != SIZE_MAX) {
      offset_[v] = offset_[static_cast<size_t>(pv.alias_of)] + pv.alias_offset;
    }
  }
  step_scratch_ = std::move(scratch);

  memory_.arena_bytes = plan.arena_bytes;
  // Outputs of the data-dependent part whose declared dims are fixed (e.g. an NMS graph padded to
  // [1, 300, 6]) get a slot after the plan, so that the zero-copy form serves them too.
  tail_slot_.assign(outputs_.size(), SIZE_MAX);
  for (size_t i = 0; i < outputs_.size(); ++i) {
    const TensorInfo& t = outputs_[i];
    const bool fixed = std::all_of(t.dims.begin(), t.dims.end(), [](int64_t d) { return d >= 0; });
    if (output_source_[i] >= 0 || t.dtype == DType::kUndefined || !fixed) continue;
    memory_.arena_bytes =
        (memory_.arena_bytes + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
    tail_slot_[i] = memory_.arena_bytes;
    memory_.arena_bytes += static_cast<size_t>(
        checked_mul(num_elements(t.dims), static_cast<int64_t>(dtype_size(t.dtype))));
  }
  memory_.max_live_bytes = plan.max_live_bytes;
  memory_.program_naive_bytes = plan.naive_bytes;
  memory_.packed_weight_bytes = p.packed_weight_bytes;
  size_t consts = 0;
  std::vector<bool> seen(nv, false);
  for (const Step& st : p.steps) {
    for (int v : st.inputs) {
      if (v >= 0 && p.values[static_cast<size_t>(v)].constant.defined() &&
          !seen[static_cast<size_t>(v)]) {
        seen[static_cast<size_t>(v)] = true;
        consts += p.values[static_cast<size_t>(v)].constant.nbytes();
      }
    }
  }
  memory_.weights_bytes = consts + p.packed_weight_bytes;
}

void CompiledModel::check_inputs(const std::vector<Tensor>& inputs) const {
  auto expected = [&]() {
    std::string s;
    for (const TensorInfo& t : inputs_) {
      if (!s.empty()) s += "; ";
      s += t.name + ": " + std::string(dtype_name(t.dtype)) + " " + dims_str(t.dims);
    }
    return s;
  };
  if (inputs.size() != inputs_.size()) {
    fail(ErrorCode::kInvalidArgument, "the model takes {} input(s), got {}; expected {}",
         inputs_.size(), inputs.size(), expected());
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    if (!t.defined()) {
      fail(ErrorCode::kInvalidArgument, "input '{}' is missing; expected {}", inputs_[i].name,
           expected());
    }
    if (t.dtype() != inputs_[i].dtype || t.dims() != inputs_[i].dims) {
      fail(ErrorCode::kInvalidArgument,
           "input '{}' is {} {} but this compiled model expects {} {} (expected inputs: {})",
           inputs_[i].name, dtype_name(t.dtype()), dims_str(t.dims()), dtype_name(inputs_[i].dtype),
           dims_str(inputs_[i].dims), expected());
    }
  }
}

// Binds the arena, copies the inputs in and runs every step; `times` (optional) gets each
// step's wall time. Shared by run() and profile().
void CompiledModel::execute(const std::vector<Tensor>& inputs, void* arena,
                            std::vector<double>* times) const {
  check_inputs(inputs);
  auto* base = static_cast<uint8_t*>(arena);
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::memcpy(value_ptr(program_.inputs[i], base), inputs[i].raw(), inputs[i].nbytes());
  }
  run_steps(base, times);
}

void CompiledModel::run_steps(uint8_t* base, std::vector<double>* times) const {
  run_on_compute_lane([&] { run_steps_here(base, times); });
}

void CompiledModel::run_steps_here(uint8_t* base, std::vector<double>* times) const {
  place_compute_threads();
  std::vector<const void*> in;
  std::vector<void*> out;
  for (size_t s = 0; s < program_.steps.size(); ++s) {
    const Step& st = program_.steps[s];
    in.clear();
    out.clear();
    for (int v : st.inputs) in.push_back(value_ptr(v, base));
    for (int v : st.outputs) out.push_back(value_ptr(v, base));
    KernelIO io{in, out, st.scratch_bytes ? base + step_scratch_[s] : nullptr};
    if (!times) {
      st.kernel->run(io);
      continue;
    }
    auto t0 = std::chrono::steady_clock::now();
    st.kernel->run(io);
    times->push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
}

void* CompiledModel::value_ptr(int v, uint8_t* base) const {
  if (v < 0) return nullptr;
  const ProgramValue& pv = program_.values[static_cast<size_t>(v)];
  if (pv.constant.defined()) return const_cast<void*>(pv.constant.raw());
  return base + offset_[static_cast<size_t>(v)];
}

Tensor CompiledModel::program_output(size_t k, uint8_t* base) const {
  Tensor t(program_outputs_[k].dtype, program_outputs_[k].dims);
  std::memcpy(t.raw(), value_ptr(program_.outputs[k], base), t.nbytes());
  return t;
}

std::vector<Tensor> CompiledModel::run(const std::vector<Tensor>& inputs, void* arena) const {
  execute(inputs, arena, nullptr);
  auto* base = static_cast<uint8_t*>(arena);
  std::vector<Tensor> tail_outputs;
  if (tail_) tail_outputs = run_tail(inputs, base);
  std::vector<Tensor> result;
  for (int src : output_source_) {
    result.push_back(src >= 0 ? program_output(static_cast<size_t>(src), base)
                              : std::move(tail_outputs[static_cast<size_t>(-1 - src)]));
  }
  return result;
}

Tensor CompiledModel::input_view(void* arena, size_t i) const {
  if (i >= inputs_.size()) {
    fail(ErrorCode::kInvalidArgument, "input {} of a model with {} inputs", i, inputs_.size());
  }
  return Tensor::borrow(inputs_[i].dtype, inputs_[i].dims,
                        value_ptr(program_.inputs[i], static_cast<uint8_t*>(arena)));
}

void CompiledModel::run_in_place(void* arena) const {
  auto* base = static_cast<uint8_t*>(arena);
  run_steps(base, nullptr);
  if (!tail_) return;
  for (int from : tail_->from_input) {
    if (from >= 0) {
      fail(ErrorCode::kUnsupported,
           "input '{}' is read after the program (by its data-dependent part), where the arena "
           "no longer holds it: use run()",
           inputs_[static_cast<size_t>(from)].name);
    }
  }
  std::vector<Tensor> out = run_tail({}, base);
  for (size_t i = 0; i < outputs_.size(); ++i) {
    const int src = output_source_[i];
    if (src >= 0 || tail_slot_[i] == SIZE_MAX) continue;
    const Tensor& t = out[static_cast<size_t>(-1 - src)];
    if (t.dtype() != outputs_[i].dtype || t.dims() != outputs_[i].dims) {
      fail(ErrorCode::kInvalidModel, "output '{}' came out {} {}, not the declared {} {}",
           outputs_[i].name, dtype_name(t.dtype()), dims_str(t.dims()),
           dtype_name(outputs_[i].dtype), dims_str(outputs_[i].dims));
    }
    std::memcpy(base + tail_slot_[i], t.raw(), t.nbytes());
  }
}

Tensor CompiledModel::output_view(void* arena, size_t i) const {
  if (i >= outputs_.size()) {
    fail(ErrorCode::kInvalidArgument, "output {} of a model with {} outputs", i, outputs_.size());
  }
  const int src = output_source_[i];
  if (src < 0 && tail_slot_[i] != SIZE_MAX) {
    return Tensor::borrow(outputs_[i].dtype, outputs_[i].dims,
                          static_cast<uint8_t*>(arena) + tail_slot_[i]);
  }
  if (src < 0) {
    fail(ErrorCode::kUnsupported,
         "output '{}' has a data-dependent shape, known only once the model has run: use run()",
         outputs_[i].name);
  }
  return Tensor::borrow(
      outputs_[i].dtype, outputs_[i].dims,
      value_ptr(program_.outputs[static_cast<size_t>(src)], static_cast<uint8_t*>(arena)));
}

void CompiledModel::detach_constants_from(const void* begin, size_t size) {
  auto lo = reinterpret_cast<uintptr_t>(begin);
  for (ProgramValue& v : program_.values) {
    if (!v.constant.defined()) continue;
    auto p = reinterpret_cast<uintptr_t>(v.constant.raw());
    if (p >= lo && p < lo + size) v.constant = v.constant.clone();
  }
}

std::vector<double> CompiledModel::profile(const std::vector<Tensor>& inputs, void* arena) const {
  std::vector<double> times;
  times.reserve(program_.steps.size());
  execute(inputs, arena, &times);
  return times;
}

ArenaPool& process_arena_pool() {
  static ArenaPool* pool = new ArenaPool(std::make_shared<MemoryBudget>());  // outlives main()
  return *pool;
}

Session::Session(std::shared_ptr<const CompiledModel> model, ArenaPool& arenas)
    : model_(std::move(model)), arena_(arenas.acquire(model_->arena_bytes(), "a session")) {}

Session::Session(std::shared_ptr<const CompiledModel> model)
    : Session(std::move(model), process_arena_pool()) {}

std::vector<Tensor> Session::run(const std::vector<Tensor>& inputs) {
  return model_->run(inputs, arena_.data());
}

std::map<std::string, Tensor> Session::run(const std::map<std::string, Tensor>& inputs) {
  std::vector<Tensor> in;
  for (const TensorInfo& t : model_->inputs()) {
    auto it = inputs.find(t.name);
    in.push_back(it == inputs.end() ? Tensor() : it->second);
  }
  for (const auto& [name, t] : inputs) {
    bool known = false;
    for (const TensorInfo& i : model_->inputs()) known |= i.name == name;
    if (!known) {
      std::string names;
      for (const TensorInfo& i : model_->inputs()) names += (names.empty() ? "" : ", ") + i.name;
      fail(ErrorCode::kInvalidArgument, "the model has no input '{}'; its inputs are: {}", name,
           names);
    }
  }
  auto out = run(in);
  std::map<std::string, Tensor> r;
  for (size_t i = 0; i < out.size(); ++i) r[model_->outputs()[i].name] = std::move(out[i]);
  return r;
}

}  // namespace shoal
