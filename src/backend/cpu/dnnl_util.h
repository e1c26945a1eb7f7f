// oneDNN plumbing shared by the cpu backend's kernels: the process-wide engine, per-thread
// streams, memory descriptors for Shoal's layouts, post-op attributes, and DnnlKernel, a kernel
// that runs a fixed chain of primitives on bound pointers. Knows nothing about graphs or planning.
#pragma once

#include <cstddef>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/tensor.h"
#include "memory/weight_store.h"

namespace shoal::cpu {

// How a value is stored: dense row-major, or channel-blocked (4-D, channels in blocks of
// channel_block(): nChw16c or nChw8c; a channel count that is not a multiple of the block is
// padded with zeros up to the next block).
enum class Layout : uint8_t { kPlain, kBlocked };
// "plain", "nChw16c" or "nChw8c" (the blocked layout of programs compiled now).
const char* layout_name(Layout l);
// Channels per block of Layout::kBlocked in programs compiled from now on: the width of the
// vector registers oneDNN's JIT kernels use on this CPU, 16 floats with AVX-512 and 8 without
// (oneDNN 2.6 runs nChw16c on AVX2 CPUs partly with its reference implementations, 20-100x
// slower). SHOAL_CPU_CHANNEL_BLOCK=8|16 overrides the choice. A compiled program keeps the block
// it was compiled with (kernels capture it when built).
int64_t channel_block();
// Sets the block for later compiles: 8 or 16, or 0 for the CPU's choice (tests run both).
void set_channel_block(int64_t block);
// Whether oneDNN has JIT kernels for the blocked layout with `block` channels on this CPU.
bool channel_block_native(int64_t block);

dnnl::engine& dnnl_engine();
// One stream per calling thread, so kernels are reentrant across threads.
dnnl::stream& dnnl_stream();
// Applies the process-wide compute thread count (set_compute_threads) to the calling thread's
// OpenMP team size; cheap, called at the start of every kernel run and compile.
void sync_threads();

// Throws kUnsupported for a dtype oneDNN cannot hold.
dnnl::memory::data_type dnnl_dtype(DType t);
dnnl::memory::dims dnnl_dims(const Dims& d);
// Memory descriptor of a value: plain = dense row-major of any rank (rank 0 as {1});
// kBlocked requires rank 4.
dnnl::memory::desc make_md(DType t, const Dims& d, Layout l);
// Dims of a broadcast operand left-padded with ones to `rank` (oneDNN needs equal ranks).
Dims pad_rank(const Dims& d, size_t rank);
// Storage bytes of `d` in layout `l` (checked arithmetic).
size_t storage_bytes(DType t, const Dims& d, Layout l);

// "brgconv:avx512_core", "ref:any", ...
std::string impl_name(const dnnl::primitive_desc_base& pd);
bool is_reference_impl(const std::string& impl);

// Where a primitive argument's memory comes from at run time.
struct ArgSource {
  enum class Kind : uint8_t { kInput, kOutput, kOwned, kScratch };
  Kind kind = Kind::kInput;
  int index = 0;      // kInput/kOutput: position in KernelIO
  size_t offset = 0;  // byte offset: in the step's scratch (kScratch), else from the bound pointer
  dnnl::memory::desc md;
  dnnl::memory owned;  // kOwned: kernel-held memory (packed weights, bias, constants)
  BlobRef blob;        // kOwned: the weight-store blob behind `owned`
};

// The weight store kernels intern packed weights in, and the blobs interned, while a Program is
// being compiled on this thread (set by the backend's compile; the process default otherwise).
class WeightScope {
 public:
  explicit WeightScope(WeightStore* store);
  ~WeightScope();
  WeightScope(const WeightScope&) = delete;
  WeightScope& operator=(const WeightScope&) = delete;
  // Distinct blobs interned in this scope, in first-use order.
  std::vector<BlobRef> take_blobs();
  // The innermost scope on this thread, or null.
  static WeightScope* current();
  WeightStore& store() const { return *store_; }
  void note(const BlobRef& b);

 private:
  WeightStore* store_;
  WeightScope* prev_;
  std::vector<BlobRef> blobs_;
};

// A kernel that executes primitives in order. Build it with add_* then hand it out; scratch
// regions for intermediates and each primitive's scratchpad are laid out by the builder.
// run() is reentrant (one Program may run on several arenas at once): it uses the calling
// thread's stream and wraps the bound pointers in oneDNN memory handles per call (small heap
// objects, ~1 us per step; no data buffers are ever allocated at run time).
class DnnlKernel final : public Kernel {
 public:
  ArgSource input(int index, const dnnl::memory::desc& md) const;
  ArgSource output(int index, const dnnl::memory::desc& md) const;
  // Kernel-held weights: `data` (described by `src_md`) in layout `md`, reordered when the two
  // differ, interned in the active WeightScope's store (identical weights are packed once).
  ArgSource own(const dnnl::memory::desc& md, const dnnl::memory::desc& src_md, const void* data);
  // An intermediate buffer in the step's scratch (live for the whole run).
  ArgSource scratch(const dnnl::memory::desc& md);
  // Appends a primitive call; `pd` gives the scratchpad size when created with
  // scratchpad_mode::user.
  void add(dnnl::primitive prim, const dnnl::primitive_desc_base& pd,
           std::vector<std::pair<int, ArgSource>> args, bool main = true);
  // Appends a reorder from `src` to `dst`.
  void add_reorder(const ArgSource& src, const ArgSource& dst);

  size_t scratch_bytes() const { return intermediate_bytes_ + scratchpad_bytes_; }
  size_t owned_bytes() const { return owned_bytes_; }
  // Implementation of the first main primitive (else of the first reorder): "jit:avx512_core".
  std::string main_impl() const;

  void run(const KernelIO& io) override;

 private:
  struct Call {
    dnnl::primitive prim;
    std::vector<std::pair<int, ArgSource>> args;
    bool has_scratchpad = false;
    dnnl::memory::desc scratchpad_md;
  };
  std::vector<Call> calls_;
  size_t intermediate_bytes_ = 0;
  size_t scratchpad_bytes_ = 0;  // max over calls; placed after the intermediates
  size_t owned_bytes_ = 0;
  std::vector<std::string> main_impls_;
  std::vector<std::string> other_impls_;
};

// A primitive_attr with scratchpad_mode::user (every kernel reports its scratch to the planner).
dnnl::primitive_attr user_scratchpad_attr();

}  // namespace shoal::cpu
