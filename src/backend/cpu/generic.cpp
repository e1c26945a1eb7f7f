// The generic kernel: any op the cpu backend has no native kernel for runs the reference
// implementation (backend/reference) on plain buffers. Exact for data movement (Gather, Pad,
// Expand, Cast, Range, ...); arithmetic ops here run in double precision, so the compile summary
// counts them and the layout pass keeps big tensors away from them.
#include "backend/cpu/cpu_ops.h"
#include "backend/backend.h"

namespace shoal::cpu {
namespace {

class GenericKernel final : public Kernel {
 public:
  GenericKernel(Node node, int opset, std::vector<std::pair<DType, Dims>> in,
                std::vector<std::pair<DType, Dims>> out)
      : node_(std::move(node)), opset_(opset), in_(std::move(in)), out_(std::move(out)) {}

  void run(const KernelIO& io) override {
    std::vector<Tensor> in(in_.size());
    for (size_t i = 0; i < in_.size(); ++i) {
      if (io.in[i])
        in[i] = Tensor::borrow(in_[i].first, in_[i].second, const_cast<void*>(io.in[i]));
    }
    std::vector<Tensor> out(out_.size());
    for (size_t i = 0; i < out_.size(); ++i) {
      if (io.out[i]) out[i] = Tensor::borrow(out_[i].first, out_[i].second, io.out[i]);
    }
    evaluate_node(node_, opset_, in, out);
  }

 private:
  Node node_;
  int opset_;
  std::vector<std::pair<DType, Dims>> in_;
  std::vector<std::pair<DType, Dims>> out_;
};

}  // namespace

KernelBuild build_generic(const OpContext& c) {
  std::vector<std::pair<DType, Dims>> in, out;
  KernelBuild kb;
  for (size_t i = 0; i < c.in.size(); ++i) {
    in.emplace_back(c.in[i].dtype, c.in[i].dims);
    kb.inputs.push_back(c.in[i].present() ? static_cast<int>(i) : -1);
  }
  for (const ValueInfo& v : c.out) out.emplace_back(v.dtype, v.dims);
  kb.kernel = std::make_unique<GenericKernel>(c.node, c.opset, std::move(in), std::move(out));
  kb.impl = "generic";
  return kb;
}

}  // namespace shoal::cpu
