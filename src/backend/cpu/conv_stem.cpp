// The image stem: a group-1 2-D conv reading at most 4 plain channels (gray, RGB, RGBA pixels),
// accumulated in double instead of oneDNN's fp32, with its leading activations applied in double.
//
// Why: a network's first conv sums products of non-negative pixels with mixed-sign weights, so
// its sums cancel (on yolo11n-seg's stem the terms' magnitudes add up to ~17x the result), and
// every later layer amplifies the error it leaves. oneDNN's fp32 kernel leaves ~2.5e-7 of the
// output's norm there; summed in double, the output is one float rounding from the exact result
// (~2.5e-8). Against ONNX Runtime on the shared models this takes yolo11n-seg's mask prototypes
// from 1.05e-5 to 8.4e-6 (and, were it used there, yolov8n-cls from 5.3e-6 to 1.8e-6). The
// activation matters too: the double conv followed by oneDNN's fp32 SiLU left yolov8n-cls at
// 7.2e-6, an fp32 SiLU in the tile 7.0e-6.
// Cost (BENCHMARKS.md): yolov8n's stem takes ~0.95 ms instead of oneDNN's ~0.5 (the double
// FMAs, ~0.45 ms, and the double SiLU, ~0.25 ms), 2.5% of the model; so it is used only where
// the stem is at most 1.5% of the model's FLOPs, or tiny (stem_conv_applies).
// SHOAL_CONV_STEM=0 turns it off.
//
// How: per output row, each input row a tap row reads is split into `stride` phase rows of
// doubles (zeros where the window reads padding), so that for every tap the 8 pixels of a tile
// are 8 consecutive doubles. A tile of 8 pixels x 16 output channels keeps 16 vectors of 8
// double accumulators in registers over all taps (products of two floats are exact in double),
// applies the activations, and is rounded to float once. Post-ops from the first one it cannot
// apply (binary Add/Mul, Tanh, Mish, Elu) run afterwards as in-place oneDNN primitives.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "backend/cpu/cpu_ops.h"
#include "core/error.h"
#include "core/multiversion.h"
#include "graph/op_geometry.h"

namespace shoal::cpu {
namespace {

constexpr int64_t kMaxStemChannels = 4;
constexpr int64_t kMaxStemTaps = 256;    // channels x kernel height x kernel width
constexpr double kMaxStemShare = 0.015;  // of the graph's FLOPs, or:
constexpr double kCheapStemFlops = 4e6;  // ~0.03 ms in double
constexpr int64_t kLanes = 8;            // doubles per vector
constexpr int64_t kTileOc = 16;          // output channels per register tile (16 accumulators)

typedef double V8d __attribute__((vector_size(kLanes * sizeof(double))));
typedef float V8f __attribute__((vector_size(kLanes * sizeof(float))));
typedef uint64_t V8u __attribute__((vector_size(kLanes * sizeof(uint64_t))));

struct StemShape {
  int64_t n = 0, ic = 0, h = 0, w = 0;  // input
  int64_t oc = 0, oh = 0, ow = 0;       // output
  int64_t kh = 0, kw = 0, sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pl = 0;
  int64_t oc_padded = 0;  // output channels computed: a multiple of kTileOc
  bool blocked = false;   // output channel-blocked (oc a multiple of the block), else plain
  int64_t block = 16;     // channels per block when blocked: 16 or 8
  int64_t taps() const { return ic * kh * kw; }
  // Phase-row length: output pixels rounded up to whole vectors, plus the furthest tap's shift.
  int64_t phase_len() const { return (ow + kLanes - 1) / kLanes * kLanes + (kw - 1) * dw / sw; }
  // Doubles of one output row's phase rows: [ic][kh][sw][phase_len].
  int64_t phase_doubles() const { return ic * kh * sw * phase_len(); }
};

[[gnu::always_inline]] inline V8d clamp(V8d x, double lo, double hi) {
  x = x < lo ? V8d{} + lo : x;
  return x > hi ? V8d{} + hi : x;
}

// e^x for x in [-708, 708] (clamped), relative error < 3e-10, a 200th of a float's rounding
// step (the result is rounded to float): x = n ln2 + r with |r| <= ln2 / 2, e^r by its Taylor
// series to r^8, 2^n through the exponent bits. Branch-free, so it vectorises.
[[gnu::always_inline]] inline V8d exp_v(V8d x) {
  x = clamp(x, -708.0, 708.0);
  const double shifter = 6755399441055744.0;  // 1.5 * 2^52: adding it rounds to an integer
  V8d t = x * 1.4426950408889634 + shifter;
  V8d n = t - shifter;
  V8d r = x - n * 6.93147180369123816490e-01;  // ln2, high part (n * hi is exact)
  r = r - n * 1.90821492927058770002e-10;      // ln2, low part
  V8d p = V8d{} + 1.0 / 40320.0;               // 1/8!
  for (double f : {1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0}) {
    p = p * r + f;
  }
  V8u bits;
  std::memcpy(&bits, &t, sizeof bits);
  bits = (bits - 0x4338000000000000ULL + 1023) << 52;  // t's low mantissa bits hold n
  V8d scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

bool in_tile_activation(PostOp::Kind k) {
  using K = PostOp::Kind;
  return k == K::kRelu || k == K::kLeakyRelu || k == K::kSigmoid || k == K::kSilu ||
         k == K::kHardSigmoid || k == K::kHardSwish || k == K::kClip;
}

// One activation (in_tile_activation) as graph/ir.cpp's apply_activation defines it, on all 16
// accumulators (the kind is switched on once, so the 16 independent chains interleave).
[[gnu::always_inline]] inline void activate(const PostOp& p, V8d* acc) {
  using K = PostOp::Kind;
  const V8d zero{}, one = zero + 1.0;
  const double alpha = p.alpha, beta = p.beta;
  switch (p.kind) {
    case K::kRelu:
      for (int64_t o = 0; o < kTileOc; ++o) acc[o] = acc[o] > 0.0 ? acc[o] : zero;
      return;
    case K::kLeakyRelu:
      for (int64_t o = 0; o < kTileOc; ++o) acc[o] = acc[o] >= 0.0 ? acc[o] : acc[o] * alpha;
      return;
    case K::kSigmoid:
      for (int64_t o = 0; o < kTileOc; ++o) acc[o] = one / (one + exp_v(-acc[o]));
      return;
    case K::kSilu:
      for (int64_t o = 0; o < kTileOc; ++o) acc[o] = acc[o] / (one + exp_v(-acc[o]));
      return;
    case K::kHardSigmoid:
      for (int64_t o = 0; o < kTileOc; ++o) acc[o] = clamp(acc[o] * alpha + beta, 0.0, 1.0);
      return;
    case K::kHardSwish:
      for (int64_t o = 0; o < kTileOc; ++o) acc[o] *= clamp(acc[o] / 6.0 + 0.5, 0.0, 1.0);
      return;
    case K::kClip:
      for (int64_t o = 0; o < kTileOc; ++o) {
        V8d x = acc[o] < alpha ? zero + alpha : acc[o];
        acc[o] = x > beta ? zero + beta : x;
      }
      return;
    default:
      return;  // not reached: see in_tile_activation
  }
}

// Splits input row `row` (nullptr: a padding row) into sw phase rows of doubles: phase ph holds
// the columns m * sw + ph - pl for m in [0, len), zeros outside the row. A tap at column offset
// kx * dw then reads phase (kx * dw) % sw from element (kx * dw) / sw on, one per output pixel.
SHOAL_MULTIVERSION void split_phases(const float* row, int64_t w, int64_t sw, int64_t pl,
                                     int64_t len, double* out) {
  for (int64_t ph = 0; ph < sw; ++ph) {
    double* dst = out + ph * len;
    if (!row) {
      std::fill(dst, dst + len, 0.0);
      continue;
    }
    const int64_t first = ph - pl;  // column of m = 0
    const int64_t lo = first >= 0 ? 0 : std::min(len, (-first + sw - 1) / sw);
    const int64_t hi = first >= w ? lo : std::max(lo, std::min(len, (w - 1 - first) / sw + 1));
    std::fill(dst, dst + lo, 0.0);
    const float* src = row + first;
    if (sw == 1) {
      for (int64_t m = lo; m < hi; ++m) dst[m] = src[m];
    } else if (sw == 2) {
      for (int64_t m = lo; m < hi; ++m) dst[m] = src[2 * m];
    } else {
      for (int64_t m = lo; m < hi; ++m) dst[m] = src[m * sw];
    }
    std::fill(dst + hi, dst + len, 0.0);
  }
}

// 8 pixels x 16 output channels: acc[j] = act(bias + sum over taps t of in[t][offset + j] * w[t])
// for pixels j, each accumulator two vectors of 8 channels; `in[t]` points into the phase rows,
// `w` is [taps][16]. Writes out[j][0..16) as floats.
SHOAL_MULTIVERSION void tile(const double* const* in, int64_t offset, const double* w,
                             const double* bias, int64_t taps, const PostOp* acts, size_t nacts,
                             float* out) {
  V8d acc[kTileOc];  // acc[2 * j + half]
  V8d b0, b1;
  std::memcpy(&b0, bias, sizeof b0);
  std::memcpy(&b1, bias + kLanes, sizeof b1);
  for (int64_t j = 0; j < kLanes; ++j) {
    acc[2 * j] = b0;
    acc[2 * j + 1] = b1;
  }
  for (int64_t t = 0; t < taps; ++t) {
    V8d w0, w1;
    std::memcpy(&w0, w + t * kTileOc, sizeof w0);
    std::memcpy(&w1, w + t * kTileOc + kLanes, sizeof w1);
    const double* x = in[t] + offset;
    for (int64_t j = 0; j < kLanes; ++j) {
      acc[2 * j] += w0 * x[j];
      acc[2 * j + 1] += w1 * x[j];
    }
  }
  for (size_t a = 0; a < nacts; ++a) activate(acts[a], acc);
  for (int64_t i = 0; i < kTileOc; ++i) {
    const V8f f = __builtin_convertvector(acc[i], V8f);
    std::memcpy(out + i * kLanes, &f, sizeof f);
  }
}

class StemConv final : public Kernel {
 public:
  StemConv(const StemShape& s, const double* w, const double* bias, std::vector<PostOp> acts,
           int threads, std::unique_ptr<DnnlKernel> post)
      : s_(s),
        w_(w),
        bias_(bias),
        acts_(std::move(acts)),
        threads_(threads),
        post_(std::move(post)) {}

  static size_t thread_bytes(const StemShape& s) {
    return static_cast<size_t>(s.phase_doubles()) * sizeof(double);
  }

  void run(const KernelIO& io) override {
    sync_threads();
    const float* x = static_cast<const float*>(io.in[0]);
    float* y = static_cast<float*>(io.out[0]);
    const int64_t rows = s_.n * s_.oh;
    const int nt = static_cast<int>(std::min<int64_t>({omp_get_max_threads(), threads_, rows}));
    char* scratch = static_cast<char*>(io.scratch);
#pragma omp parallel num_threads(nt)
    {
      double* phases = reinterpret_cast<double*>(scratch + thread_bytes(s_) * omp_get_thread_num());
#pragma omp for schedule(static)
      for (int64_t r = 0; r < rows; ++r) output_row(x, y, r / s_.oh, r % s_.oh, phases);
    }
    if (post_) post_->run(io);
  }

 private:
  void output_row(const float* x, float* y, int64_t b, int64_t oy, double* phases) const {
    const int64_t len = s_.phase_len();
    const int64_t taps = s_.taps();
    const double* in[kMaxStemTaps];
    int64_t t = 0;
    for (int64_t c = 0; c < s_.ic; ++c) {
      for (int64_t ky = 0; ky < s_.kh; ++ky) {
        const int64_t iy = oy * s_.sh - s_.pt + ky * s_.dh;
        const float* row =
            iy >= 0 && iy < s_.h ? x + ((b * s_.ic + c) * s_.h + iy) * s_.w : nullptr;
        double* ph = phases + (c * s_.kh + ky) * s_.sw * len;
        split_phases(row, s_.w, s_.sw, s_.pl, len, ph);
        for (int64_t kx = 0; kx < s_.kw; ++kx) {
          const int64_t shift = kx * s_.dw;
          in[t++] = ph + shift % s_.sw * len + shift / s_.sw;
        }
      }
    }
    const int64_t plane = s_.oh * s_.ow;
    float out[kLanes][kTileOc];
    for (int64_t o = 0; o < s_.oc_padded; o += kTileOc) {
      for (int64_t ox = 0; ox < s_.ow; ox += kLanes) {
        tile(in, ox, w_ + o * taps, bias_ + o, taps, acts_.data(), acts_.size(), &out[0][0]);
        const int64_t pixels = std::min(kLanes, s_.ow - ox);
        const int64_t p0 = oy * s_.ow + ox;  // first pixel's offset in the plane
        if (s_.blocked && s_.block == kTileOc) {
          float* dst = y + ((b * s_.oc / kTileOc + o / kTileOc) * plane + p0) * kTileOc;
          std::memcpy(dst, out, static_cast<size_t>(pixels * kTileOc) * sizeof(float));
        } else if (s_.blocked) {  // the tile's channels in blocks narrower than the tile
          const int64_t cb = s_.block;
          for (int64_t l0 = 0; l0 < kTileOc && o + l0 < s_.oc; l0 += cb) {
            float* dst = y + ((b * s_.oc / cb + (o + l0) / cb) * plane + p0) * cb;
            for (int64_t j = 0; j < pixels; ++j) {
              std::memcpy(dst + j * cb, &out[j][l0], static_cast<size_t>(cb) * sizeof(float));
            }
          }
        } else {
          for (int64_t l = 0; l < kTileOc && o + l < s_.oc; ++l) {
            float* dst = y + (b * s_.oc + o + l) * plane + p0;
            for (int64_t j = 0; j < pixels; ++j) dst[j] = out[j][l];
          }
        }
      }
    }
  }

  StemShape s_;
  const double* w_;           // [oc_padded / 16][taps][16], in the weight store (held by post_)
  const double* bias_;        // [oc_padded]
  std::vector<PostOp> acts_;  // the leading activations of the node's post-ops, applied in double
  int threads_;               // threads the scratch was sized for
  std::unique_ptr<DnnlKernel> post_;
};

}  // namespace

std::atomic<int> g_stem_override{-1};

void set_stem_conv_mode(int mode) { g_stem_override.store(mode, std::memory_order_relaxed); }

bool stem_conv_applies(const OpContext& c) {
  // Only with AVX-512: its 8-double vectors make the tile fast (yolov8n's stem at 640: about
  // 2.5x its fp32 time); with AVX2 the same tile ran at 1.3 GFLOP/s (66 ms of yolov8n's 148 on
  // two Zen 5 cores), so there stems stay with oneDNN's fp32 kernels. SHOAL_CONV_STEM=0 leaves
  // stems to oneDNN everywhere, =1 uses the double tile on any CPU (for A/B measurements).
  static const bool by_env_or_cpu = [] {
    const char* e = std::getenv("SHOAL_CONV_STEM");
    if (e && (std::strcmp(e, "0") == 0 || std::strcmp(e, "off") == 0)) return false;
    if (e && (std::strcmp(e, "1") == 0 || std::strcmp(e, "on") == 0)) return true;
    return __builtin_cpu_supports("avx512f") != 0;
  }();
  const int forced = g_stem_override.load(std::memory_order_relaxed);
  if (forced == 0 || (forced < 0 && !by_env_or_cpu)) return false;
  if (c.node.op_type != "Conv" || c.in[0].dims.size() != 4 || c.in[0].layout != Layout::kPlain) {
    return false;
  }
  if (c.node.attr_int("group", 1) != 1 || !c.in[1].constant) return false;
  const Dims& w = c.in[1].dims;
  // Blocked outputs of whole blocks only (the layout pass gives no others), so no padding
  // channels need to be kept at 0.
  if (c.out[0].layout == Layout::kBlocked && c.out[0].dims[1] % channel_block() != 0) {
    return false;
  }
  if (w.size() != 4 || c.in[0].dims[1] > kMaxStemChannels || w[1] * w[2] * w[3] > kMaxStemTaps) {
    return false;
  }
  // A horizontal stride up to the kernel width (every downsampling or patchify stem): the
  // phase rows, one per stride step, then number at most the taps.
  const std::vector<int64_t> strides = c.node.attr_ints("strides");
  if (strides.size() == 2 && strides[1] > w[3]) return false;
  // Double costs about 2.5x the stem's FLOP share in model time (yolov8n: 1.0% of its FLOPs,
  // +2.5% time; yolov8n-cls at 224: 2.7%, +7%; yolox_nano's folded-Focus 6x6 stem: 14%, +9%),
  // so it is used where the stem is at most 1.5% of the model's FLOPs (the YOLO detect, segment
  // and pose models at 640: 0.6-1.0%), or cheap either way.
  const double stem_flops = 2.0 * static_cast<double>(num_elements(c.out[0].dims)) *
                            static_cast<double>(w[1] * w[2] * w[3]);
  return stem_flops <= kMaxStemShare * c.graph_flops || stem_flops <= kCheapStemFlops;
}

KernelBuild build_stem_conv(const OpContext& c) {
  require_f32(c);
  const Dims& x = c.in[0].dims;
  const Dims& y = c.out[0].dims;
  const Dims& wd = c.in[1].dims;
  const ConvGeometry geo = compute_conv_geometry(c.node, x, {wd[2], wd[3]}, false, c.label);
  StemShape s;
  s.n = x[0], s.ic = x[1], s.h = x[2], s.w = x[3];
  s.oc = y[1], s.oh = y[2], s.ow = y[3];
  s.kh = wd[2], s.kw = wd[3];
  s.sh = geo.stride[0], s.sw = geo.stride[1];
  s.dh = geo.dilation[0], s.dw = geo.dilation[1];
  s.pt = geo.pad_begin[0], s.pl = geo.pad_begin[1];
  s.blocked = c.out[0].layout == Layout::kBlocked;
  s.block = channel_block();
  s.oc_padded = (s.oc + kTileOc - 1) / kTileOc * kTileOc;

  // Weights [oc][taps] -> [oc_padded / 16][taps][16] and the bias -> [oc_padded], in double;
  // zeros in the padding channels (computed, never stored).
  const int64_t taps = s.taps();
  const float* w = c.in[1].constant->data<float>();
  std::vector<double> packed(static_cast<size_t>(s.oc_padded * taps), 0.0);
  for (int64_t o = 0; o < s.oc; ++o) {
    for (int64_t t = 0; t < taps; ++t) {
      packed[static_cast<size_t>(((o / kTileOc) * taps + t) * kTileOc + o % kTileOc)] =
          w[o * taps + t];
    }
  }
  std::vector<double> bias(static_cast<size_t>(s.oc_padded), 0.0);
  if (c.in.size() > 2 && c.in[2].present()) {
    std::copy_n(c.in[2].constant->data<float>(), s.oc, bias.begin());
  }

  KernelBuild kb;
  kb.use_input(0);
  auto k = std::make_unique<DnnlKernel>();
  // Held in the weight store as raw bytes (oneDNN 2.6 has no f64 memory: two f32 per double).
  auto own = [&](const std::vector<double>& v) {
    dnnl::memory::desc md =
        make_md(DType::kF32, {static_cast<int64_t>(v.size()) * 2}, Layout::kPlain);
    return static_cast<const double*>(k->own(md, md, v.data()).owned.get_data_handle());
  };
  const double* w_owned = own(packed);
  const double* b_owned = own(bias);
  // Leading activations the tile applies in double; the rest run as oneDNN primitives after it.
  size_t nacts = 0;
  while (nacts < c.node.post_ops.size() && in_tile_activation(c.node.post_ops[nacts].kind)) ++nacts;
  append_post_op_calls(c, kb, *k, k->output(0, make_md(c.precision, y, c.out[0].layout)), y,
                       c.out[0].layout, nacts);
  const int threads = std::max(1, compute_threads());
  kb.scratch_bytes =
      std::max(StemConv::thread_bytes(s) * static_cast<size_t>(threads), k->scratch_bytes());
  kb.packed_bytes = k->owned_bytes();
  kb.impl = "shoal:stem_f64";
  kb.flops = 2.0 * static_cast<double>(num_elements(y)) * static_cast<double>(taps);
  kb.kernel = std::make_unique<StemConv>(
      s, w_owned, b_owned,
      std::vector<PostOp>(c.node.post_ops.begin(), c.node.post_ops.begin() + nacts), threads,
      std::move(k));
  return kb;
}

}  // namespace shoal::cpu
