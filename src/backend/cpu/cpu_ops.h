// Internal interface between the cpu backend's compile driver (cpu_backend.cpp: layouts, views,
// step order) and its kernel builders (one file per ONNX op or op family, each a row of
// cpu_ops.def). A builder sees one node with the dtype, dims, layout and constant data of each
// input and output, and returns a kernel with its scratch, packed-weight bytes and flops. The
// shared helpers (KernelBuild, post-op chains) are in kernel_build.cpp. Knows nothing about the
// arena planner.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/dnnl_util.h"
#include "graph/ir.h"
#include "graph/op_geometry.h"

namespace shoal::cpu {

struct ValueInfo {
  DType dtype = DType::kUndefined;  // kUndefined for an omitted optional input/output
  Dims dims;
  Layout layout = Layout::kPlain;
  const Tensor* constant = nullptr;  // compile-time data when known
  bool present() const { return dtype != DType::kUndefined; }
};

struct OpContext {
  const Node& node;
  std::string label;  // "Conv 'name'" for messages
  int opset = 0;
  DType precision = DType::kF32;  // compute precision for floating-point kernels
  std::vector<ValueInfo> in;      // parallel node.inputs
  std::vector<ValueInfo> out;     // parallel node.outputs
  double graph_flops = 0;         // the whole graph's (graph_flops), for cost-based choices
};

struct KernelBuild {
  std::unique_ptr<Kernel> kernel;
  // Node input slots the kernel reads at run time, in KernelIO::in order.
  std::vector<int> inputs;
  size_t scratch_bytes = 0;
  size_t packed_bytes = 0;
  double flops = 0;
  std::string impl;       // "brgconv:avx512_core", "generic", "copy", ...
  bool in_place = false;  // output 0 may share the buffer of KernelIO input 0

  // Position of node input `slot` in KernelIO::in (added on first use).
  int use_input(int slot);
  // Takes a DnnlKernel: its scratch, owned bytes and implementation names.
  void set_dnnl(std::unique_ptr<DnnlKernel> k);
};

// How an op's layouts are chosen by the layout pass.
enum class LayoutClass : uint8_t {
  kPlain,    // every input and output plain
  kFree,     // data input in any layout (the kernel adapts), output chosen freely (Conv)
  kUniform,  // input 0 (unless `broadcasting`) and inputs with the output's dims share the
             // output's layout; the rest plain
};

// One row of cpu_ops.def.
struct NativeOp {
  const char* op_type;
  LayoutClass layout_class;
  // kUniform ops with NumPy broadcasting: only inputs with the output's dims carry its layout.
  bool broadcasting;
  // False (with a reason) when this node's attributes/dtypes need the generic kernel.
  bool (*supported)(const OpContext& c, std::string* why);
  KernelBuild (*build)(const OpContext& c);
};

// The row of cpu_ops.def for `op_type` (cpu_ops.cpp); nullptr when it has no native kernel.
const NativeOp* find_native_op(const std::string& op_type);

// oneDNN post-ops for node.post_ops on a destination of `dst_dims` in `dst_layout`. kAdd/kMul
// read node input slots: same-dims operands in `dst_layout`, broadcast ones plain.
struct PostOpChain {
  dnnl::post_ops ops;
  struct Binary {
    int post_op_index;  // position in `ops`
    int slot;           // node input slot
    dnnl::memory::desc md;
  };
  std::vector<Binary> binaries;
  bool empty() const { return ops.len() == 0; }
};
// `chain` holds post-ops the kernel itself adds first (e.g. Gemm's C); node.post_ops before
// `first` are left out (applied by the kernel another way, e.g. ConvInteger's scale and bias).
PostOpChain make_post_ops(const OpContext& c, const Dims& dst_dims, Layout dst_layout,
                          PostOpChain chain = {}, size_t first = 0);
// Appends the memory arguments of the binary post-ops (inputs bound through `kb`).
// Call before adding the main primitive: operands in the wrong layout get a reorder first.
void add_post_op_args(const PostOpChain& chain, const OpContext& c, KernelBuild& kb, DnnlKernel& k,
                      std::vector<std::pair<int, ArgSource>>& args);
// Runs node.post_ops[first:] as separate in-place primitives on `dst` (for primitives that reject
// them, or after a kernel that applied the first ones itself).
void append_post_op_calls(const OpContext& c, KernelBuild& kb, DnnlKernel& k, const ArgSource& dst,
                          const Dims& dst_dims, Layout dst_layout, size_t first = 0);
// Layout a binary post-op / broadcast operand of `dims` takes next to a destination.
Layout operand_layout(const Dims& dims, const Dims& dst_dims, Layout dst_layout);

// A Conv / ConvTranspose / ConvInteger node's geometry in oneDNN's terms (conv.cpp).
struct ConvParams {
  bool transpose = false;
  int64_t group = 1;
  ConvGeometry geo;
  dnnl::memory::dims strides, dilates, pad_l, pad_r;
};
ConvParams conv_params(const OpContext& c);
// The ONNX weights (input 1) as a oneDNN descriptor of data type `t` (oihw / goihw order;
// ConvTranspose's [IC, OC/g, k...] with permuted strides).
dnnl::memory::desc user_weights_md(const OpContext& c, const ConvParams& p,
                                   dnnl::memory::data_type t = dnnl::memory::data_type::f32);
// 2 * (output elements, or input elements for ConvTranspose) * channels per group * kernel size.
double conv_flops(const ConvParams& p, const Dims& x, const Dims& y);
// A forward-inference convolution; `bias` empty (zero) for none.
dnnl::convolution_forward::desc conv_fwd_desc(
    dnnl::algorithm a, const dnnl::memory::desc& src, const dnnl::memory::desc& weights,
    const dnnl::memory::desc& bias, const dnnl::memory::desc& dst,
    const dnnl::memory::dims& strides, const dnnl::memory::dims& dilates,
    const dnnl::memory::dims& pad_l, const dnnl::memory::dims& pad_r);

// fp32 only for now; throws kUnsupported naming the node for other precisions.
void require_f32(const OpContext& c);
// True when every present input and output is float32.
bool all_f32(const OpContext& c, std::string* why);

// Builders shared by the driver.
// The generic kernel: the reference implementation on plain data (exact for data movement).
KernelBuild build_generic(const OpContext& c);
// Strided byte copies (Concat/Split/Slice pieces that cannot be views): piece k copies `count`
// chunks of `chunk` bytes from node input `in_slot` to KernelIO output `out_index`. Works for
// plain and nChw16c alike when pieces are whole channel blocks.
struct CopyPiece {
  int in_slot = 0;       // node input slot
  int out_index = 0;     // KernelIO output
  size_t in_offset = 0;  // bytes
  size_t in_stride = 0;  // bytes between consecutive chunks
  size_t out_offset = 0;
  size_t out_stride = 0;
  size_t chunk = 0;   // bytes per chunk
  int64_t count = 0;  // chunks
};
KernelBuild build_copy(std::vector<CopyPiece> pieces);
// Converts input slot 0 from `from` to `to` layout (a reorder step).
KernelBuild build_reorder(DType t, const Dims& dims, Layout from, Layout to);

// The functions the rows of cpu_ops.def name (declared once per row; rows may share them).
#define SHOAL_CPU_OP(op, layout_class, broadcasting, supported, build) \
  bool supported(const OpContext& c, std::string* why);                \
  KernelBuild build(const OpContext& c);
#include "backend/cpu/cpu_ops.def"
#undef SHOAL_CPU_OP

// A group-1 2-D conv on <= 4 plain input channels (an image stem), accumulated in double
// (conv_stem.cpp; build_conv picks it).
// -1: the CPU and SHOAL_CONV_STEM decide; 0: never; 1: always.
void set_stem_conv_mode(int mode);
// Which form ConvInteger takes in programs compiled from now on (conv_integer.cpp): -1 as the CPU
// and SHOAL_INT8_CONV decide (int8 with VNNI), 0 float, 1 int8.
void set_int8_conv_mode(int mode);
bool stem_conv_applies(const OpContext& c);
KernelBuild build_stem_conv(const OpContext& c);

}  // namespace shoal::cpu
