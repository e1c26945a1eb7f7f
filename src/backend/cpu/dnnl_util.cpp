#include "backend/cpu/dnnl_util.h"

#include <omp.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "core/error.h"

namespace shoal {
namespace {

// 0 = not set: OMP_NUM_THREADS if given, else the number of cores (OpenMP's default).
std::atomic<int> g_threads{0};

int default_threads() {
  static const int n = omp_get_max_threads();
  return n;
}

}  // namespace

void set_compute_threads(int n) {
  g_threads.store(n > 0 ? n : 0);
  cpu::sync_threads();
}

namespace {

std::string isa_name(dnnl::cpu_isa isa) {
  using i = dnnl::cpu_isa;
  switch (isa) {
    case i::sse41:
      return "sse41";
    case i::avx:
      return "avx";
    case i::avx2:
      return "avx2";
    case i::avx2_vnni:
      return "avx2_vnni";
    case i::avx512_core:
      return "avx512_core";
    case i::avx512_core_vnni:
      return "avx512_core_vnni";
    case i::avx512_core_bf16:
      return "avx512_core_bf16";
    case i::avx512_core_amx:
      return "avx512_core_amx";
    default:
      return "isa" + std::to_string(static_cast<int>(isa));
  }
}

}  // namespace

std::string backend_fingerprint(const std::string& backend) {
  if (backend != "cpu") return backend;
  const dnnl_version_t* v = dnnl_version();
  return fmt::format("cpu:dnnl-{}.{}.{}:{}", v->major, v->minor, v->patch,
                     isa_name(dnnl::get_effective_cpu_isa()));
}

void release_backend_caches() {
  int cap = dnnl::get_primitive_cache_capacity();
  dnnl::set_primitive_cache_capacity(0);
  dnnl::set_primitive_cache_capacity(cap);
}

int compute_threads() {
  int n = g_threads.load();
  return n > 0 ? n : default_threads();
}

namespace cpu {

const char* layout_name(Layout l) {
  if (l == Layout::kPlain) return "plain";
  return channel_block() == 16 ? "nChw16c" : "nChw8c";
}

namespace {

std::atomic<int64_t> g_block_override{0};

int64_t block_from_env_or_cpu() {
  if (const char* e = std::getenv("SHOAL_CPU_CHANNEL_BLOCK")) {
    if (std::strcmp(e, "8") == 0) return 8;
    if (std::strcmp(e, "16") == 0) return 16;
    fail(ErrorCode::kInvalidArgument,
         "SHOAL_CPU_CHANNEL_BLOCK is '{}': set it to 8 or 16, or unset it", e);
  }
  return channel_block_native(16) ? 16 : 8;
}

}  // namespace

int64_t channel_block() {
  static const int64_t by_cpu = block_from_env_or_cpu();
  const int64_t o = g_block_override.load(std::memory_order_relaxed);
  return o ? o : by_cpu;
}

void set_channel_block(int64_t block) {
  if (block != 0 && block != 8 && block != 16) {
    fail(ErrorCode::kInvalidArgument, "cpu backend: channel block {} (use 8, 16 or 0)", block);
  }
  g_block_override.store(block, std::memory_order_relaxed);
}

bool channel_block_native(int64_t block) {
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  return block == 16 ? isa >= dnnl::cpu_isa::avx512_core : isa >= dnnl::cpu_isa::avx2;
}

dnnl::engine& dnnl_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& dnnl_stream() {
  thread_local dnnl::stream s(dnnl_engine());
  return s;
}

void sync_threads() {
  int want = compute_threads();
  if (omp_get_max_threads() != want) omp_set_num_threads(want);
}

dnnl::memory::data_type dnnl_dtype(DType t) {
  using dt = dnnl::memory::data_type;
  switch (t) {
    case DType::kF32:
      return dt::f32;
    case DType::kBF16:
      return dt::bf16;
    case DType::kF16:
      return dt::f16;
    case DType::kI8:
      return dt::s8;
    case DType::kU8:
      return dt::u8;
    case DType::kI32:
      return dt::s32;
    default:
      break;
  }
  fail(ErrorCode::kUnsupported, "cpu backend: oneDNN has no {} data type", dtype_name(t));
}

dnnl::memory::dims dnnl_dims(const Dims& d) {
  if (d.empty()) return {1};
  return dnnl::memory::dims(d.begin(), d.end());
}

Dims pad_rank(const Dims& d, size_t rank) {
  Dims r(rank > d.size() ? rank - d.size() : 0, 1);
  r.insert(r.end(), d.begin(), d.end());
  return r;
}

dnnl::memory::desc make_md(DType t, const Dims& d, Layout l) {
  dnnl::memory::dims dims = dnnl_dims(d);
  if (l == Layout::kBlocked) {
    if (dims.size() != 4) {
      fail(ErrorCode::kInternal, "cpu backend: {} needs rank 4, got {}", layout_name(l),
           dims_str(d));
    }
    return dnnl::memory::desc(dims, dnnl_dtype(t),
                              channel_block() == 16 ? dnnl::memory::format_tag::nChw16c
                                                    : dnnl::memory::format_tag::nChw8c);
  }
  dnnl::memory::dims strides(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) strides[i - 1] = strides[i] * dims[i];
  return dnnl::memory::desc(dims, dnnl_dtype(t), strides);
}

size_t storage_bytes(DType t, const Dims& d, Layout l) {
  int64_t n = 1;
  for (size_t i = 0; i < d.size(); ++i) {
    int64_t x = d[i];
    if (l == Layout::kBlocked && i == 1) {
      const int64_t b = channel_block();
      x = (x + b - 1) / b * b;
    }
    n = checked_mul(n, x);
  }
  return static_cast<size_t>(checked_mul(n, static_cast<int64_t>(dtype_size(t))));
}

std::string impl_name(const dnnl::primitive_desc_base& pd) {
  const char* s = pd.impl_info_str();
  return s ? s : "?";
}

bool is_reference_impl(const std::string& impl) { return impl.rfind("ref", 0) == 0; }

dnnl::primitive_attr user_scratchpad_attr() {
  dnnl::primitive_attr a;
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return a;
}

namespace {
constexpr size_t kAlign = 64;
size_t align_up(size_t x) { return (x + kAlign - 1) / kAlign * kAlign; }
}  // namespace

ArgSource DnnlKernel::input(int index, const dnnl::memory::desc& md) const {
  ArgSource a;
  a.kind = ArgSource::Kind::kInput;
  a.index = index;
  a.md = md;
  return a;
}

ArgSource DnnlKernel::output(int index, const dnnl::memory::desc& md) const {
  ArgSource a;
  a.kind = ArgSource::Kind::kOutput;
  a.index = index;
  a.md = md;
  return a;
}

namespace {
thread_local WeightScope* t_scope = nullptr;

// A canonical text of a memory descriptor's layout (dtype, dims, padding, strides, blocks).
std::string md_key(const dnnl::memory::desc& md) {
  const dnnl_memory_desc_t& d = md.data;
  std::string s = fmt::format("t{}n{}f{}", static_cast<int>(d.data_type), d.ndims,
                              static_cast<int>(d.format_kind));
  for (int i = 0; i < d.ndims; ++i)
    s += fmt::format(",{}/{}/{}", d.dims[i], d.padded_dims[i], d.padded_offsets[i]);
  if (d.format_kind == dnnl_blocked) {
    const dnnl_blocking_desc_t& b = d.format_desc.blocking;
    s += ";s";
    for (int i = 0; i < d.ndims; ++i) s += fmt::format(",{}", b.strides[i]);
    s += ";b";
    for (int i = 0; i < b.inner_nblks; ++i)
      s += fmt::format(",{}:{}", b.inner_idxs[i], b.inner_blks[i]);
  } else if (d.format_kind == dnnl_format_kind_wino) {
    const dnnl_wino_desc_t& w = d.format_desc.wino_desc;
    s += fmt::format(";w{},{},{},{},{},{},{},{},{},{},{}", static_cast<int>(w.wino_format), w.r,
                     w.alpha, w.ic, w.oc, w.ic_block, w.oc_block, w.ic2_block, w.oc2_block,
                     w.adj_scale, w.size);
  } else if (d.format_kind != dnnl_format_kind_undef && d.format_kind != dnnl_format_kind_any) {
    // A layout this key cannot describe (e.g. RNN packed): make the key unique to the call so
    // such blobs are never shared by mistake.
    static std::atomic<uint64_t> unique{0};
    s += fmt::format(";u{}", unique.fetch_add(1));
  }
  s += fmt::format(";x{}:{}", static_cast<int>(d.extra.flags), d.extra.compensation_mask);
  return s;
}
}  // namespace

WeightScope::WeightScope(WeightStore* store)
    : store_(store ? store : &WeightStore::process_default()), prev_(t_scope) {
  t_scope = this;
}

WeightScope::~WeightScope() { t_scope = prev_; }

WeightScope* WeightScope::current() { return t_scope; }

void WeightScope::note(const BlobRef& b) {
  for (const BlobRef& x : blobs_) {
    if (x == b) return;
  }
  blobs_.push_back(b);
}

std::vector<BlobRef> WeightScope::take_blobs() { return std::move(blobs_); }

ArgSource DnnlKernel::own(const dnnl::memory::desc& md, const dnnl::memory::desc& src_md,
                          const void* data) {
  ArgSource a;
  a.kind = ArgSource::Kind::kOwned;
  a.md = md;
  WeightScope* scope = WeightScope::current();
  WeightStore& store = scope ? scope->store() : WeightStore::process_default();
  const size_t src_bytes = src_md.get_size();
  WeightKey key = weight_key(data, src_bytes, md_key(src_md) + "->" + md_key(md));
  a.blob = store.intern(
      key, md.get_size(),
      [&](void* dst) {
        if (md == src_md) {
          std::memcpy(dst, data, md.get_size());
          return;
        }
        dnnl::memory src(src_md, dnnl_engine(), const_cast<void*>(data));
        dnnl::memory out(md, dnnl_engine(), dst);
        dnnl::reorder(src, out).execute(dnnl_stream(), src, out);
        dnnl_stream().wait();
      },
      "weights");
  a.owned = dnnl::memory(md, dnnl_engine(), const_cast<void*>(a.blob->data()));
  if (scope) scope->note(a.blob);
  owned_bytes_ += md.get_size();
  return a;
}

ArgSource DnnlKernel::scratch(const dnnl::memory::desc& md) {
  ArgSource a;
  a.kind = ArgSource::Kind::kScratch;
  a.md = md;
  a.offset = intermediate_bytes_;
  intermediate_bytes_ = align_up(intermediate_bytes_ + md.get_size());
  return a;
}

void DnnlKernel::add(dnnl::primitive prim, const dnnl::primitive_desc_base& pd,
                     std::vector<std::pair<int, ArgSource>> args, bool main) {
  Call c;
  c.prim = std::move(prim);
  c.args = std::move(args);
  dnnl::memory::desc sp = pd.scratchpad_desc();
  if (sp.get_size() > 0) {
    c.has_scratchpad = true;
    c.scratchpad_md = sp;
    scratchpad_bytes_ = std::max(scratchpad_bytes_, align_up(sp.get_size()));
  }
  (main ? main_impls_ : other_impls_).push_back(impl_name(pd));
  calls_.push_back(std::move(c));
}

void DnnlKernel::add_reorder(const ArgSource& src, const ArgSource& dst) {
  dnnl::reorder::primitive_desc pd(dnnl_engine(), src.md, dnnl_engine(), dst.md,
                                   user_scratchpad_attr());
  add(dnnl::reorder(pd), pd, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}}, false);
}

std::string DnnlKernel::main_impl() const {
  if (!main_impls_.empty()) return main_impls_.front();
  if (!other_impls_.empty()) return other_impls_.front();
  return "none";
}

void DnnlKernel::run(const KernelIO& io) {
  sync_threads();
  dnnl::engine& eng = dnnl_engine();
  dnnl::stream& strm = dnnl_stream();
  char* scratch = static_cast<char*>(io.scratch);
  std::unordered_map<int, dnnl::memory> args;
  for (const Call& c : calls_) {
    args.clear();
    for (const auto& [key, a] : c.args) {
      void* p = nullptr;
      switch (a.kind) {
        case ArgSource::Kind::kInput:
          p = static_cast<char*>(const_cast<void*>(io.in[static_cast<size_t>(a.index)])) + a.offset;
          break;
        case ArgSource::Kind::kOutput:
          p = static_cast<char*>(io.out[static_cast<size_t>(a.index)]) + a.offset;
          break;
        case ArgSource::Kind::kScratch:
          p = scratch + a.offset;
          break;
        case ArgSource::Kind::kOwned:
          args.emplace(key, a.owned);
          continue;
      }
      args.emplace(key, dnnl::memory(a.md, eng, p));
    }
    if (c.has_scratchpad) {
      args.emplace(DNNL_ARG_SCRATCHPAD,
                   dnnl::memory(c.scratchpad_md, eng, scratch + intermediate_bytes_));
    }
    c.prim.execute(strm, args);
  }
  strm.wait();
}

}  // namespace cpu
}  // namespace shoal
