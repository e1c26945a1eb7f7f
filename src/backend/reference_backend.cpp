// The reference backend as a Backend: one step per live node, plain layouts, every value in its
// own arena slot (no views), kernels from backend/reference (double-precision oracle).
#include <algorithm>
#include <map>

#include "backend/backend.h"
#include "backend/reference/reference.h"
#include "core/error.h"

namespace shoal {
namespace {

class ReferenceKernel final : public Kernel {
 public:
  ReferenceKernel(Node node, int opset, std::vector<std::pair<DType, Dims>> in_types,
                  std::vector<std::pair<DType, Dims>> out_types)
      : node_(std::move(node)),
        opset_(opset),
        in_types_(std::move(in_types)),
        out_types_(std::move(out_types)) {}

  void run(const KernelIO& io) override {
    std::vector<Tensor> in(in_types_.size());
    for (size_t i = 0; i < in_types_.size(); ++i) {
      if (io.in[i]) {
        in[i] = Tensor::borrow(in_types_[i].first, in_types_[i].second,
                               const_cast<void*>(io.in[i]));
      }
    }
    std::vector<Tensor> out(out_types_.size());
    for (size_t i = 0; i < out_types_.size(); ++i) {
      if (io.out[i]) out[i] = Tensor::borrow(out_types_[i].first, out_types_[i].second, io.out[i]);
    }
    reference_eval(node_, opset_, in, out);
  }

 private:
  Node node_;
  int opset_;
  std::vector<std::pair<DType, Dims>> in_types_;
  std::vector<std::pair<DType, Dims>> out_types_;
};

class ReferenceBackend final : public Backend {
 public:
  const char* name() const override { return "reference"; }

  Program compile(const Graph& g, const CompileOptions& opts) override {
    if (opts.precision != DType::kF32) {
      fail(ErrorCode::kUnsupported, "the reference backend computes in double and stores fp32; "
           "precision {} is for the cpu backend", dtype_name(opts.precision));
    }
    Program p;
    std::map<ValueId, int> index;
    auto value_index = [&](ValueId v) -> int {
      if (v == kNoValue) return -1;
      auto it = index.find(v);
      if (it != index.end()) return it->second;
      const Value& val = g.value(v);
      ProgramValue pv;
      pv.name = val.name;
      pv.dtype = val.dtype;
      pv.dims = val.dims;
      pv.layout = "plain";
      pv.bytes = static_cast<size_t>(checked_mul(num_elements(val.dims),
                                                 static_cast<int64_t>(dtype_size(val.dtype))));
      if (val.is_constant()) {
        pv.constant = val.constant;
        pv.bytes = 0;
      }
      p.values.push_back(std::move(pv));
      int id = static_cast<int>(p.values.size() - 1);
      index[v] = id;
      return id;
    };
    for (ValueId v : g.inputs) p.inputs.push_back(value_index(v));
    for (NodeId n : g.live_nodes()) {
      const Node& node = g.nodes[static_cast<size_t>(n)];
      Step s;
      s.label = g.node_label(n);
      for (const PostOp& po : node.post_ops) s.label += std::string(" + ") + post_op_name(po.kind);
      s.op = node.op_type;
      std::vector<std::pair<DType, Dims>> in_types, out_types;
      for (ValueId v : node.inputs) {
        s.inputs.push_back(value_index(v));
        in_types.emplace_back(v == kNoValue ? DType::kUndefined : g.value(v).dtype,
                              v == kNoValue ? Dims{} : g.value(v).dims);
      }
      for (ValueId v : node.outputs) {
        s.outputs.push_back(value_index(v));
        out_types.emplace_back(v == kNoValue ? DType::kUndefined : g.value(v).dtype,
                               v == kNoValue ? Dims{} : g.value(v).dims);
      }
      s.kernel = std::make_unique<ReferenceKernel>(node, static_cast<int>(g.opset),
                                                   std::move(in_types), std::move(out_types));
      p.steps.push_back(std::move(s));
    }
    for (ValueId v : g.outputs) p.outputs.push_back(value_index(v));
    return p;
  }
};

}  // namespace

std::unique_ptr<Backend> make_reference_backend() { return std::make_unique<ReferenceBackend>(); }

std::unique_ptr<Backend> make_backend(const std::string& name) {
  if (name == "cpu") return make_cpu_backend();
  if (name == "reference") return make_reference_backend();
  fail(ErrorCode::kInvalidArgument, "unknown backend '{}': choose cpu or reference", name);
}

void evaluate_node(const Node& node, int opset, const std::vector<Tensor>& in,
                   std::vector<Tensor>& out) {
  reference_eval(node, opset, in, out);
}

}  // namespace shoal
