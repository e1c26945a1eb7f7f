// Model builder on the ONNX protobuf classes. Layer and tensor names follow Ultralytics' exports
// ("/model.2/cv1/conv/Conv", "model.2.cv1.conv.weight") so messages and profiles look familiar.
//
// Weights: plain random init makes deep SiLU stacks vanish or explode (no fixed gain is stable:
// SiLU is ~x/2 near 0 and ~ReLU far from it). So the builder does what conditioning the shared
// models did: BatchNorm calibrated on data. While building, it runs the network on one smooth
// calibration image (batch 1, at most kCalibSize pixels, plain float loops) and rescales every
// Conv per output channel so its output there has std gamma ~ U(0.75, 1.25) and mean
// beta ~ U(-0.25, 0.25), i.e. BN folded with that image's statistics. Head output convs are
// calibrated to fixed logit ranges (class logits mean -7, std 1.5), so a few anchors score
// above 0.25 and the outputs depend strongly on the input.
#include "model_builder/builder.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <random>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "model_builder/onnx_test_model.h"

namespace shoal {
namespace {

constexpr int kCalibSize = 640;  // calibration image side (pixels), capped by imgsz
// The names an Ultralytics export of a COCO-trained model carries. A copy of vision/coco.h's list,
// which is a layer above onnx/; the test VisionModelInfo.BuilderNamesAreCoco keeps them equal.
constexpr std::array<const char*, 80> kCocoNames = {
    "person",        "bicycle",      "car",
    "motorcycle",    "airplane",     "bus",
    "train",         "truck",        "boat",
    "traffic light", "fire hydrant", "stop sign",
    "parking meter", "bench",        "bird",
    "cat",           "dog",          "horse",
    "sheep",         "cow",          "elephant",
    "bear",          "zebra",        "giraffe",
    "backpack",      "umbrella",     "handbag",
    "tie",           "suitcase",     "frisbee",
    "skis",          "snowboard",    "sports ball",
    "kite",          "baseball bat", "baseball glove",
    "skateboard",    "surfboard",    "tennis racket",
    "bottle",        "wine glass",   "cup",
    "fork",          "knife",        "spoon",
    "bowl",          "banana",       "apple",
    "sandwich",      "orange",       "broccoli",
    "carrot",        "hot dog",      "pizza",
    "donut",         "cake",         "chair",
    "couch",         "potted plant", "bed",
    "dining table",  "toilet",       "tv",
    "laptop",        "mouse",        "remote",
    "keyboard",      "cell phone",   "microwave",
    "oven",          "toaster",      "sink",
    "refrigerator",  "book",         "clock",
    "vase",          "scissors",     "teddy bear",
    "hair drier",    "toothbrush"};

struct Range {
  float lo, hi;
};
constexpr Range kBnGamma = {0.75f, 1.25f};
constexpr Range kBnBeta = {-0.25f, 0.25f};
// Detect head outputs on the calibration image: DFL bin logits, class logits.
constexpr Range kBoxLogitStd = {1.0f, 2.0f};
constexpr Range kBoxLogitMean = {-0.5f, 0.5f};
constexpr Range kClassLogitStd = {1.25f, 1.75f};
constexpr Range kClassLogitMean = {-9.5f, -8.5f};

// A batch-1 CHW float activation used only for calibration while building.
struct Act {
  int c = 0, h = 0, w = 0;
  std::vector<float> d;
  Act() = default;
  Act(int c_, int h_, int w_)
      : c(c_),
        h(h_),
        w(w_),
        d(static_cast<size_t>(c_) * static_cast<size_t>(h_) * static_cast<size_t>(w_)) {}
  size_t plane() const { return static_cast<size_t>(h) * static_cast<size_t>(w); }
  float* ch(int i) { return d.data() + static_cast<size_t>(i) * plane(); }
  const float* ch(int i) const { return d.data() + static_cast<size_t>(i) * plane(); }
};

// Direct convolution (no bias), padding k/2; for calibration only. Loops keep one output row and
// the input rows it reads in cache.
Act conv_forward(const Act& x, const std::vector<float>& w, int c2, int k, int s) {
  int p = k / 2;
  int ho = (x.h + 2 * p - k) / s + 1, wo = (x.w + 2 * p - k) / s + 1;
  Act y(c2, ho, wo);
  size_t kk = static_cast<size_t>(k) * static_cast<size_t>(k);
  // Per kx: the ox range with 0 <= ox*s - p + kx < x.w, so inner loops have no bounds checks.
  std::vector<int> ox0(static_cast<size_t>(k)), ox1(static_cast<size_t>(k));
  for (int kx = 0; kx < k; ++kx) {
    ox0[static_cast<size_t>(kx)] = std::max(0, (p - kx + s - 1) / s);
    ox1[static_cast<size_t>(kx)] = std::min(wo, (x.w - 1 + p - kx) / s + 1);
  }
  constexpr int kBlock = 4;  // output channels per pass: each input row load feeds 4 rows
  for (int o0 = 0; o0 < c2; o0 += kBlock) {
    int nb = std::min(kBlock, c2 - o0);
    for (int oy = 0; oy < ho; ++oy) {
      float* out[kBlock];
      for (int b = 0; b < kBlock; ++b) {
        out[b] = y.ch(o0 + std::min(b, nb - 1)) + static_cast<size_t>(oy) * static_cast<size_t>(wo);
      }
      for (int i = 0; i < x.c; ++i) {
        for (int ky = 0; ky < k; ++ky) {
          int iy = oy * s - p + ky;
          if (iy < 0 || iy >= x.h) continue;
          const float* row = x.ch(i) + static_cast<size_t>(iy) * static_cast<size_t>(x.w);
          for (int kx = 0; kx < k; ++kx) {
            float wv[kBlock];
            for (int b = 0; b < kBlock; ++b) {
              size_t oc = static_cast<size_t>(o0 + b);
              wv[b] = b < nb ? w[(oc * static_cast<size_t>(x.c) + static_cast<size_t>(i)) * kk +
                                 static_cast<size_t>(ky * k + kx)]
                             : 0.f;
            }
            const float* in = row - p + kx;
            int a = ox0[static_cast<size_t>(kx)], e = ox1[static_cast<size_t>(kx)];
            if (nb == kBlock) {
              float* __restrict r0 = out[0];
              float* __restrict r1 = out[1];
              float* __restrict r2 = out[2];
              float* __restrict r3 = out[3];
              const float* __restrict src = in;
              if (s == 1) {
                for (int ox = a; ox < e; ++ox) {
                  float v = src[ox];
                  r0[ox] += wv[0] * v;
                  r1[ox] += wv[1] * v;
                  r2[ox] += wv[2] * v;
                  r3[ox] += wv[3] * v;
                }
              } else {
                for (int ox = a; ox < e; ++ox) {
                  float v = src[ox * s];
                  r0[ox] += wv[0] * v;
                  r1[ox] += wv[1] * v;
                  r2[ox] += wv[2] * v;
                  r3[ox] += wv[3] * v;
                }
              }
            } else {
              for (int b = 0; b < nb; ++b) {
                for (int ox = a; ox < e; ++ox) out[b][ox] += wv[b] * in[ox * s];
              }
            }
          }
        }
      }
    }
  }
  return y;
}

Act silu(Act x) {
  for (float& v : x.d) v = v / (1.f + std::exp(-v));
  return x;
}

Act concat_channels(const std::vector<const Act*>& xs) {
  int c = 0;
  for (const Act* a : xs) c += a->c;
  Act y(c, xs[0]->h, xs[0]->w);
  auto out = y.d.begin();
  for (const Act* a : xs) out = std::copy(a->d.begin(), a->d.end(), out);
  return y;
}

Act slice_channels(const Act& x, int from, int n) {
  Act y(n, x.h, x.w);
  std::copy(x.ch(from), x.ch(from) + y.d.size(), y.d.begin());
  return y;
}

// MaxPool k5 s1 p2.
Act maxpool5(const Act& x) {
  Act y(x.c, x.h, x.w);
  for (int c = 0; c < x.c; ++c) {
    for (int oy = 0; oy < x.h; ++oy) {
      for (int ox = 0; ox < x.w; ++ox) {
        float m = -INFINITY;
        for (int iy = std::max(0, oy - 2); iy <= std::min(x.h - 1, oy + 2); ++iy) {
          for (int ix = std::max(0, ox - 2); ix <= std::min(x.w - 1, ox + 2); ++ix) {
            m = std::max(m, x.ch(c)[iy * x.w + ix]);
          }
        }
        y.ch(c)[oy * x.w + ox] = m;
      }
    }
  }
  return y;
}

// Nearest x2.
Act upsample2(const Act& x) {
  Act y(x.c, x.h * 2, x.w * 2);
  for (int c = 0; c < x.c; ++c) {
    for (int oy = 0; oy < y.h; ++oy) {
      for (int ox = 0; ox < y.w; ++ox) y.ch(c)[oy * y.w + ox] = x.ch(c)[(oy / 2) * x.w + ox / 2];
    }
  }
  return y;
}

// The calibration input in [0, 1]: the left half uniform noise (what tests feed), the right half
// smooth and image-like (waves, blocks, a little noise), so both kinds of input are in range.
Act calibration_image(int size, std::mt19937& rng) {
  Act x(3, size, size);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  for (int c = 0; c < 3; ++c) {
    auto fc = static_cast<float>(c);
    for (int y = 0; y < size; ++y) {
      for (int xx = 0; xx < size; ++xx) {
        float v = u(rng);
        if (xx >= size / 2) {
          float wave = std::sin(0.11f * static_cast<float>(xx) + fc) *
                       std::cos(0.07f * static_cast<float>(y) - fc);
          float block = static_cast<float>((xx / 16 + y / 16 + c) % 3) - 1.f;
          v = std::clamp(0.5f + 0.25f * wave + 0.1f * block + 0.1f * (v - 0.5f), 0.f, 1.f);
        }
        x.ch(c)[y * size + xx] = v;
      }
    }
  }
  return x;
}

int make_divisible(double x, int divisor) {
  return std::max(divisor, static_cast<int>(std::ceil(x / divisor)) * divisor);
}

// Accumulates nodes and initializers of one GraphProto (a TestModel), with the calibration
// activations of the values it adds.
class ModelBuilder {
 public:
  ModelBuilder(uint32_t seed, int opset)
      : t_(opset,
           opset >= 21   ? 10
           : opset >= 18 ? 9
                         : 8,
           "shoal-builder", ""),
        rng_(seed) {
    t_.m.set_producer_version("1");
  }

  onnx::GraphProto& graph() { return *t_.g; }
  std::mt19937& rng() { return rng_; }

  void add_input(const std::string& name, const std::vector<int64_t>& dims) {
    t_.input(name, onnx::TensorProto::FLOAT, dims);
  }
  void add_output(const std::string& name, const std::vector<int64_t>& dims) {
    t_.output(name, onnx::TensorProto::FLOAT, dims);
  }
  void add_metadata(const std::string& k, const std::string& v) { t_.metadata(k, v); }

  std::string initializer(const std::string& name, const std::vector<int64_t>& dims,
                          const std::vector<float>& data) {
    t_.initializer(raw_tensor(name, onnx::TensorProto::FLOAT, dims, data.data(), data.size() * 4));
    return name;
  }

  // A Constant node holding int64 values (shapes, splits), named like torch's exports.
  std::string const_i64(const std::string& scope, const std::vector<int64_t>& v) {
    std::string name = fmt::format("{}/Constant_{}", scope, const_count_++);
    t_.constant(name, name + "_output_0",
                raw_tensor("", onnx::TensorProto::INT64, {static_cast<int64_t>(v.size())}, v.data(),
                           v.size() * 8));
    return name + "_output_0";
  }

  std::string const_f32(const std::string& scope, const std::vector<float>& v) {
    std::string name = fmt::format("{}/Constant_{}", scope, const_count_++);
    t_.constant(name, name + "_output_0", float_tensor("", {static_cast<int64_t>(v.size())}, v));
    return name + "_output_0";
  }

  // Adds a node named `name` with `n_out` outputs "<name>_output_<k>".
  onnx::NodeProto* node(const std::string& op, const std::string& name,
                        const std::vector<std::string>& inputs, int n_out = 1) {
    std::vector<std::string> outputs;
    for (int k = 0; k < n_out; ++k) outputs.push_back(fmt::format("{}_output_{}", name, k));
    return t_.node(op, name, inputs, outputs);
  }
  std::string op(const std::string& type, const std::string& name,
                 const std::vector<std::string>& inputs) {
    return node(type, name, inputs)->output(0);
  }

  // Calibration activations by tensor name (batch 1); see the file comment.
  void set_act(const std::string& name, Act a) { acts_[name] = std::move(a); }
  const Act& act(const std::string& name) const {
    auto it = acts_.find(name);
    if (it == acts_.end())
      fail(ErrorCode::kInternal, "builder: no calibration activation for '{}'", name);
    return it->second;
  }

  // Conv with random weights rescaled per output channel so that its output on the calibration
  // image has std ~ U(gamma) and mean ~ U(beta) (BatchNorm folded with calibrated statistics).
  std::string conv(const std::string& scope, const std::string& wname, const std::string& x, int c1,
                   int c2, int k, int s, Range gamma = kBnGamma, Range beta = kBnBeta) {
    int fan_in = c1 * k * k;
    std::normal_distribution<float> nd(0.f, 1.f / std::sqrt(static_cast<float>(fan_in)));
    std::vector<float> w(static_cast<size_t>(c2) * static_cast<size_t>(fan_in));
    for (float& v : w) v = nd(rng_);
    Act y = conv_forward(act(x), w, c2, k, s);
    std::uniform_real_distribution<float> ug(gamma.lo, gamma.hi), ub(beta.lo, beta.hi);
    // Per-channel means, one pooled std for the layer: tiny maps (2x2 at stride 32 of a 64-pixel
    // input) give per-channel stds too noisy to divide by.
    std::vector<double> means(static_cast<size_t>(c2));
    double var = 0;
    for (int o = 0; o < c2; ++o) {
      const float* yo = y.ch(o);
      double sum = 0, sum2 = 0;
      for (size_t i = 0; i < y.plane(); ++i) {
        sum += yo[i];
        sum2 += static_cast<double>(yo[i]) * yo[i];
      }
      double n = static_cast<double>(y.plane());
      means[static_cast<size_t>(o)] = sum / n;
      var += std::max(0.0, sum2 / n - (sum / n) * (sum / n));
    }
    double sd = std::sqrt(var / c2);
    std::vector<float> b(static_cast<size_t>(c2));
    for (int o = 0; o < c2; ++o) {
      float* yo = y.ch(o);
      float g = ug(rng_), bt = ub(rng_);
      auto scale = static_cast<float>(g / std::max(sd, 1e-3));
      auto shift = static_cast<float>(bt - means[static_cast<size_t>(o)] * scale);
      for (int i = 0; i < fan_in; ++i)
        w[static_cast<size_t>(o) * static_cast<size_t>(fan_in) + static_cast<size_t>(i)] *= scale;
      for (size_t i = 0; i < y.plane(); ++i) yo[i] = yo[i] * scale + shift;
      b[static_cast<size_t>(o)] = shift;
    }
    std::string wn = initializer(wname + ".weight", {c2, c1, k, k}, w);
    std::string bn = initializer(wname + ".bias", {c2}, b);
    onnx::NodeProto* n = node("Conv", scope + "/Conv", {x, wn, bn});
    set_attr(n, "dilations", std::vector<int64_t>{1, 1});
    set_attr(n, "group", int64_t{1});
    set_attr(n, "kernel_shape", std::vector<int64_t>{k, k});
    int64_t p = k / 2;
    set_attr(n, "pads", std::vector<int64_t>{p, p, p, p});
    set_attr(n, "strides", std::vector<int64_t>{s, s});
    set_act(n->output(0), std::move(y));
    return n->output(0);
  }

  // Ultralytics Conv block: Conv (BN folded) + SiLU exported as Sigmoid and Mul.
  std::string conv_silu(const std::string& scope, const std::string& wname, const std::string& x,
                        int c1, int c2, int k, int s) {
    std::string y = conv(scope + "/conv", wname + ".conv", x, c1, c2, k, s);
    std::string sg = op("Sigmoid", scope + "/act/Sigmoid", {y});
    std::string out = op("Mul", scope + "/act/Mul", {y, sg});
    set_act(out, silu(act(y)));
    acts_.erase(y);
    return out;
  }

  std::string serialize() const { return t_.bytes(); }

 private:
  TestModel t_;
  std::mt19937 rng_;
  int const_count_ = 0;
  std::unordered_map<std::string, Act> acts_;
};

void check_options(const BuilderOptions& o, bool detector) {
  if (o.opset < 13 || o.opset > 22) {
    fail(ErrorCode::kInvalidArgument, "builder: opset {} out of range 13..22", o.opset);
  }
  if (o.num_classes < 1 || o.num_classes > 10000) {
    fail(ErrorCode::kInvalidArgument, "builder: num_classes {} out of range 1..10000",
         o.num_classes);
  }
  if (o.batch < 1 || o.batch > 64)
    fail(ErrorCode::kInvalidArgument, "builder: batch {} out of range 1..64", o.batch);
  if (!(o.width > 0 && o.width <= 4) || !(o.depth > 0 && o.depth <= 4)) {
    fail(ErrorCode::kInvalidArgument, "builder: width {} / depth {} out of range (0, 4]", o.width,
         o.depth);
  }
  if (o.max_channels < 8)
    fail(ErrorCode::kInvalidArgument, "builder: max_channels {} below 8", o.max_channels);
  if (detector) {
    if (o.imgsz < 32 || o.imgsz > 4096 || o.imgsz % 32 != 0) {
      fail(ErrorCode::kInvalidArgument,
           "builder: detector imgsz {} must be a multiple of 32 in "
           "32..4096",
           o.imgsz);
    }
    if (o.reg_max < 1 || o.reg_max > 64) {
      fail(ErrorCode::kInvalidArgument, "builder: reg_max {} out of range 1..64", o.reg_max);
    }
    if (o.head_channels < 0 || o.head_channels > 4096) {
      fail(ErrorCode::kInvalidArgument, "builder: head_channels {} out of range", o.head_channels);
    }
  } else if (o.imgsz < 8 || o.imgsz > 4096) {
    fail(ErrorCode::kInvalidArgument, "builder: classifier imgsz {} out of range 8..4096", o.imgsz);
  }
}

void add_common_metadata(ModelBuilder& b, const BuilderOptions& o, const char* task,
                         const char* kind, int stride) {
  b.add_metadata(
      "description",
      fmt::format("Shoal builder {} with random weights (seed {}); not trained", kind, o.seed));
  b.add_metadata("author", "Shoal");
  b.add_metadata("version", "shoal-builder-1");
  b.add_metadata("license", "AGPL-3.0 License (architecture); random weights");
  b.add_metadata("task", task);
  b.add_metadata("stride", std::to_string(stride));
  b.add_metadata("batch", std::to_string(o.batch));
  b.add_metadata("imgsz", fmt::format("[{}, {}]", o.imgsz, o.imgsz));
  b.add_metadata("names", class_names_metadata(o.num_classes));
}

// Channel Concat (axis 1) named `name`, with its calibration activation.
std::string concat(ModelBuilder& b, const std::string& name, const std::vector<std::string>& xs) {
  onnx::NodeProto* n = b.node("Concat", name, xs);
  set_attr(n, "axis", int64_t{1});
  std::vector<const Act*> acts;
  for (const auto& x : xs) acts.push_back(&b.act(x));
  b.set_act(n->output(0), concat_channels(acts));
  return n->output(0);
}

// C2f(c1, c2, n, shortcut): cv1 1x1 to 2c, Split in two, n Bottlenecks on the last part (3x3,
// 3x3, + residual), Concat of all parts, cv2 1x1.
std::string c2f(ModelBuilder& b, int idx, const std::string& x, int c1, int c2, int n,
                bool shortcut) {
  std::string scope = fmt::format("/model.{}", idx);
  std::string wn = fmt::format("model.{}", idx);
  int c = c2 / 2;
  std::string y = b.conv_silu(scope + "/cv1", wn + ".cv1", x, c1, 2 * c, 1, 1);
  std::string split = b.const_i64(scope, {c, c});
  onnx::NodeProto* sp = b.node("Split", scope + "/Split", {y, split}, 2);
  set_attr(sp, "axis", int64_t{1});
  std::vector<std::string> parts = {sp->output(0), sp->output(1)};
  b.set_act(parts[0], slice_channels(b.act(y), 0, c));
  b.set_act(parts[1], slice_channels(b.act(y), c, c));
  for (int i = 0; i < n; ++i) {
    std::string ms = fmt::format("{}/m.{}", scope, i);
    std::string mw = fmt::format("{}.m.{}", wn, i);
    std::string h = b.conv_silu(ms + "/cv1", mw + ".cv1", parts.back(), c, c, 3, 1);
    h = b.conv_silu(ms + "/cv2", mw + ".cv2", h, c, c, 3, 1);
    if (shortcut) {
      Act sum = b.act(h);
      const Act& r = b.act(parts.back());
      for (size_t k = 0; k < sum.d.size(); ++k) sum.d[k] += r.d[k];
      h = b.op("Add", ms + "/Add", {parts.back(), h});
      b.set_act(h, std::move(sum));
    }
    parts.push_back(h);
  }
  return b.conv_silu(scope + "/cv2", wn + ".cv2", concat(b, scope + "/Concat", parts), (2 + n) * c,
                     c2, 1, 1);
}

std::string sppf(ModelBuilder& b, int idx, const std::string& x, int c1, int c2) {
  std::string scope = fmt::format("/model.{}", idx);
  std::string wn = fmt::format("model.{}", idx);
  int c = c1 / 2;
  std::string y = b.conv_silu(scope + "/cv1", wn + ".cv1", x, c1, c, 1, 1);
  std::vector<std::string> parts = {y};
  for (int i = 0; i < 3; ++i) {
    std::string name = i == 0 ? scope + "/m/MaxPool" : fmt::format("{}/m_{}/MaxPool", scope, i);
    onnx::NodeProto* mp = b.node("MaxPool", name, {parts.back()});
    set_attr(mp, "ceil_mode", int64_t{0});
    set_attr(mp, "dilations", std::vector<int64_t>{1, 1});
    set_attr(mp, "kernel_shape", std::vector<int64_t>{5, 5});
    set_attr(mp, "pads", std::vector<int64_t>{2, 2, 2, 2});
    set_attr(mp, "strides", std::vector<int64_t>{1, 1});
    b.set_act(mp->output(0), maxpool5(b.act(parts.back())));
    parts.push_back(mp->output(0));
  }
  return b.conv_silu(scope + "/cv2", wn + ".cv2", concat(b, scope + "/Concat", parts), 4 * c, c2, 1,
                     1);
}

std::string upsample(ModelBuilder& b, int idx, const std::string& x) {
  std::string scope = fmt::format("/model.{}", idx);
  std::string scales = b.const_f32(scope, {1.f, 1.f, 2.f, 2.f});
  onnx::NodeProto* r = b.node("Resize", scope + "/Resize", {x, "", scales});
  set_attr(r, "coordinate_transformation_mode", std::string("asymmetric"));
  set_attr(r, "cubic_coeff_a", -0.75f);
  set_attr(r, "mode", std::string("nearest"));
  set_attr(r, "nearest_mode", std::string("floor"));
  b.set_act(r->output(0), upsample2(b.act(x)));
  return r->output(0);
}

std::string concat(ModelBuilder& b, int idx, const std::vector<std::string>& xs) {
  return concat(b, fmt::format("/model.{}/Concat", idx), xs);
}

}  // namespace

namespace {

// Ultralytics' names dict string for `num_classes` classes: `known`'s names, then "class<i>".
template <size_t N>
std::string names_metadata(const std::array<const char*, N>& known, int num_classes) {
  std::string s = "{";
  for (int i = 0; i < num_classes; ++i) {
    if (i) s += ", ";
    std::string name =
        static_cast<size_t>(i) < N ? known[static_cast<size_t>(i)] : fmt::format("class{}", i);
    s += fmt::format("{}: '{}'", i, name);
  }
  return s + "}";
}

}  // namespace

std::string class_names_metadata(int num_classes) {
  return names_metadata(kCocoNames, num_classes);
}

std::string dota_names_metadata(int num_classes) {
  static const std::array<const char*, 15> kDotaNames = {"plane",
                                                         "ship",
                                                         "storage tank",
                                                         "baseball diamond",
                                                         "tennis court",
                                                         "basketball court",
                                                         "ground track field",
                                                         "harbor",
                                                         "bridge",
                                                         "large vehicle",
                                                         "small vehicle",
                                                         "helicopter",
                                                         "roundabout",
                                                         "soccer ball field",
                                                         "swimming pool"};
  return names_metadata(kDotaNames, num_classes);
}

std::string build_yolo_detector_onnx(const BuilderOptions& o) {
  check_options(o, true);
  ModelBuilder b(o.seed, o.opset);
  auto ch = [&](int c) { return make_divisible(std::min(c, o.max_channels) * o.width, 8); };
  auto rep = [&](int n) { return std::max(1, static_cast<int>(std::lround(n * o.depth))); };
  const int nc = o.num_classes;
  const int64_t batch = o.batch;

  b.add_input("images", {batch, 3, o.imgsz, o.imgsz});
  b.set_act("images", calibration_image(std::min(o.imgsz, kCalibSize), b.rng()));
  // Backbone.
  std::string x = b.conv_silu("/model.0", "model.0", "images", 3, ch(64), 3, 2);
  x = b.conv_silu("/model.1", "model.1", x, ch(64), ch(128), 3, 2);
  x = c2f(b, 2, x, ch(128), ch(128), rep(3), true);
  x = b.conv_silu("/model.3", "model.3", x, ch(128), ch(256), 3, 2);
  std::string p3 = c2f(b, 4, x, ch(256), ch(256), rep(6), true);
  x = b.conv_silu("/model.5", "model.5", p3, ch(256), ch(512), 3, 2);
  std::string p4 = c2f(b, 6, x, ch(512), ch(512), rep(6), true);
  x = b.conv_silu("/model.7", "model.7", p4, ch(512), ch(1024), 3, 2);
  x = c2f(b, 8, x, ch(1024), ch(1024), rep(3), true);
  std::string p5 = sppf(b, 9, x, ch(1024), ch(1024));
  // Neck (PAN).
  x = concat(b, 11, {upsample(b, 10, p5), p4});
  std::string h12 = c2f(b, 12, x, ch(1024) + ch(512), ch(512), rep(3), false);
  x = concat(b, 14, {upsample(b, 13, h12), p3});
  std::string out_p3 = c2f(b, 15, x, ch(512) + ch(256), ch(256), rep(3), false);
  x = b.conv_silu("/model.16", "model.16", out_p3, ch(256), ch(256), 3, 2);
  x = concat(b, 17, {x, h12});
  std::string out_p4 = c2f(b, 18, x, ch(256) + ch(512), ch(512), rep(3), false);
  x = b.conv_silu("/model.19", "model.19", out_p4, ch(512), ch(512), 3, 2);
  x = concat(b, 20, {x, p5});
  std::string out_p5 = c2f(b, 21, x, ch(512) + ch(1024), ch(1024), rep(3), false);

  // Detect head.
  if (o.head_seed != 0) b.rng().seed(o.head_seed);
  const int reg = o.reg_max;
  const std::vector<std::string> feats = {out_p3, out_p4, out_p5};
  const std::vector<int> chans = {ch(256), ch(512), ch(1024)};
  const std::vector<int> strides = {8, 16, 32};
  int c2 = o.head_channels ? o.head_channels : std::max({16, chans[0] / 4, reg * 4});
  int c3 = o.head_channels ? o.head_channels : std::max(chans[0], std::min(nc, 100));
  const int no = 4 * reg + nc;
  const std::string hs = "/model.22";
  std::vector<std::string> flat;
  int64_t anchors_total = 0;
  for (int i = 0; i < 3; ++i) {
    std::string s2 = fmt::format("{}/cv2.{}", hs, i), w2 = fmt::format("model.22.cv2.{}", i);
    std::string a = b.conv_silu(s2 + ".0", w2 + ".0", feats[i], chans[i], c2, 3, 1);
    a = b.conv_silu(s2 + ".1", w2 + ".1", a, c2, c2, 3, 1);
    a = b.conv(s2 + ".2", w2 + ".2", a, c2, 4 * reg, 1, 1, kBoxLogitStd, kBoxLogitMean);
    std::string s3 = fmt::format("{}/cv3.{}", hs, i), w3 = fmt::format("model.22.cv3.{}", i);
    std::string c = b.conv_silu(s3 + ".0", w3 + ".0", feats[i], chans[i], c3, 3, 1);
    c = b.conv_silu(s3 + ".1", w3 + ".1", c, c3, c3, 3, 1);
    c = b.conv(s3 + ".2", w3 + ".2", c, c3, nc, 1, 1, kClassLogitStd, kClassLogitMean);
    onnx::NodeProto* cat =
        b.node("Concat", fmt::format("{}/Concat{}", hs, i ? "_" + std::to_string(i) : ""), {a, c});
    set_attr(cat, "axis", int64_t{1});
    std::string shape = b.const_i64(hs, {batch, no, -1});
    flat.push_back(b.op("Reshape",
                        fmt::format("{}/Reshape{}", hs, i ? "_" + std::to_string(i) : ""),
                        {cat->output(0), shape}));
    int64_t g = o.imgsz / strides[static_cast<size_t>(i)];
    anchors_total += g * g;
  }
  onnx::NodeProto* all = b.node("Concat", hs + "/Concat_3", flat);
  set_attr(all, "axis", int64_t{2});
  std::string split = b.const_i64(hs, {4 * reg, nc});
  onnx::NodeProto* sp = b.node("Split", hs + "/Split", {all->output(0), split}, 2);
  set_attr(sp, "axis", int64_t{1});
  std::string box = sp->output(0), cls = sp->output(1);

  // DFL: softmax over reg_max bins per side, expectation by a fixed 1x1 conv with weights 0..15.
  std::string dshape = b.const_i64(hs + "/dfl", {batch, 4, reg, anchors_total});
  std::string d = b.op("Reshape", hs + "/dfl/Reshape", {box, dshape});
  onnx::NodeProto* tr = b.node("Transpose", hs + "/dfl/Transpose", {d});
  set_attr(tr, "perm", std::vector<int64_t>{0, 2, 1, 3});
  onnx::NodeProto* sm = b.node("Softmax", hs + "/dfl/Softmax", {tr->output(0)});
  set_attr(sm, "axis", int64_t{1});
  std::vector<float> bins(static_cast<size_t>(reg));
  for (int i = 0; i < reg; ++i) bins[static_cast<size_t>(i)] = static_cast<float>(i);
  std::string dw = b.initializer("model.22.dfl.conv.weight", {1, reg, 1, 1}, bins);
  onnx::NodeProto* dc = b.node("Conv", hs + "/dfl/conv/Conv", {sm->output(0), dw});
  set_attr(dc, "dilations", std::vector<int64_t>{1, 1});
  set_attr(dc, "group", int64_t{1});
  set_attr(dc, "kernel_shape", std::vector<int64_t>{1, 1});
  set_attr(dc, "pads", std::vector<int64_t>{0, 0, 0, 0});
  set_attr(dc, "strides", std::vector<int64_t>{1, 1});
  std::string dist = b.op("Reshape", hs + "/dfl/Reshape_1",
                          {dc->output(0), b.const_i64(hs + "/dfl", {batch, 4, anchors_total})});

  // Anchor decode (dist2bbox, xywh) and stride scaling.
  std::vector<float> anchors(static_cast<size_t>(2 * anchors_total));
  std::vector<float> stride_row(static_cast<size_t>(anchors_total));
  int64_t k = 0;
  for (int i = 0; i < 3; ++i) {
    int g = o.imgsz / strides[static_cast<size_t>(i)];
    for (int y = 0; y < g; ++y) {
      for (int xx = 0; xx < g; ++xx, ++k) {
        anchors[static_cast<size_t>(k)] = static_cast<float>(xx) + 0.5f;
        anchors[static_cast<size_t>(anchors_total + k)] = static_cast<float>(y) + 0.5f;
        stride_row[static_cast<size_t>(k)] = static_cast<float>(strides[static_cast<size_t>(i)]);
      }
    }
  }
  std::string anc = b.initializer("/model.22/anchors", {1, 2, anchors_total}, anchors);
  std::string str = b.initializer("/model.22/strides", {1, anchors_total}, stride_row);
  onnx::NodeProto* lr = b.node("Split", hs + "/Split_1", {dist, b.const_i64(hs, {2, 2})}, 2);
  set_attr(lr, "axis", int64_t{1});
  std::string x1y1 = b.op("Sub", hs + "/Sub", {anc, lr->output(0)});
  std::string x2y2 = b.op("Add", hs + "/Add", {anc, lr->output(1)});
  std::string sum = b.op("Add", hs + "/Add_1", {x1y1, x2y2});
  std::string two = b.const_f32(hs, {2.f});
  std::string cxy = b.op("Div", hs + "/Div", {sum, two});
  std::string wh = b.op("Sub", hs + "/Sub_1", {x2y2, x1y1});
  onnx::NodeProto* xywh = b.node("Concat", hs + "/Concat_4", {cxy, wh});
  set_attr(xywh, "axis", int64_t{1});
  std::string dbox = b.op("Mul", hs + "/Mul", {xywh->output(0), str});
  std::string scores = b.op("Sigmoid", hs + "/Sigmoid", {cls});
  onnx::NodeProto* out = b.node("Concat", hs + "/Concat_5", {dbox, scores});
  set_attr(out, "axis", int64_t{1});
  out->set_output(0, "output0");
  b.add_output("output0", {batch, 4 + nc, anchors_total});

  add_common_metadata(b, o, "detect", "YOLOv8-like detector", 32);
  return b.serialize();
}

std::string build_classifier_onnx(const BuilderOptions& o) {
  check_options(o, false);
  ModelBuilder b(o.seed, o.opset);
  auto ch = [&](int c) { return make_divisible(std::min(c, o.max_channels) * o.width, 8); };
  const int nc = o.num_classes;
  b.add_input("images", {o.batch, 3, o.imgsz, o.imgsz});
  b.set_act("images", calibration_image(std::min(o.imgsz, kCalibSize), b.rng()));
  std::string x = b.conv_silu("/model.0", "model.0", "images", 3, ch(64), 3, 2);
  x = b.conv_silu("/model.1", "model.1", x, ch(64), ch(128), 3, 2);
  x = b.conv_silu("/model.2/conv", "model.2.conv", x, ch(128), ch(256), 1, 1);
  const int cf = ch(256);
  std::vector<double> feat(static_cast<size_t>(cf));  // calibration features after pooling
  {
    const Act& a = b.act(x);
    for (int c = 0; c < cf; ++c) {
      double sum = 0;
      for (size_t i = 0; i < a.plane(); ++i) sum += a.ch(c)[i];
      feat[static_cast<size_t>(c)] = sum / static_cast<double>(a.plane());
    }
  }
  x = b.op("GlobalAveragePool", "/model.2/pool/GlobalAveragePool", {x});
  onnx::NodeProto* fl = b.node("Flatten", "/model.2/Flatten", {x});
  set_attr(fl, "axis", int64_t{1});
  // Linear layer scaled so class logits on the calibration image have a std of 2 (a confident
  // but not one-hot softmax), as the shared classifier was conditioned.
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> w(static_cast<size_t>(nc) * static_cast<size_t>(cf)),
      bias(static_cast<size_t>(nc));
  for (float& v : w) v = nd(b.rng());
  std::uniform_real_distribution<float> ub(-0.5f, 0.5f);
  for (float& v : bias) v = ub(b.rng());
  double sum = 0, sum2 = 0;
  for (int k = 0; k < nc; ++k) {
    double l = 0;
    for (int c = 0; c < cf; ++c)
      l += w[static_cast<size_t>(k * cf + c)] * feat[static_cast<size_t>(c)];
    sum += l;
    sum2 += l * l;
  }
  double mean = sum / nc, sd = std::sqrt(std::max(0.0, sum2 / nc - mean * mean));
  auto scale = static_cast<float>(2.0 / std::max(sd, 1e-3));
  if (nc == 1) scale = 1.f;
  for (float& v : w) v *= scale;
  std::string wn = b.initializer("model.2.linear.weight", {nc, cf}, w);
  std::string bn = b.initializer("model.2.linear.bias", {nc}, bias);
  onnx::NodeProto* gm = b.node("Gemm", "/model.2/linear/Gemm", {fl->output(0), wn, bn});
  set_attr(gm, "alpha", 1.f);
  set_attr(gm, "beta", 1.f);
  set_attr(gm, "transB", int64_t{1});
  onnx::NodeProto* sm = b.node("Softmax", "/model.2/Softmax", {gm->output(0)});
  set_attr(sm, "axis", int64_t{1});
  sm->set_output(0, "output0");
  b.add_output("output0", {o.batch, nc});
  add_common_metadata(b, o, "classify", "classifier", 1);
  return b.serialize();
}

void save_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) fail(ErrorCode::kInvalidArgument, "cannot open '{}' for writing", path);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.close();
  if (!f) fail(ErrorCode::kInvalidArgument, "cannot write {} bytes to '{}'", bytes.size(), path);
}

}  // namespace shoal

namespace shoal {

std::string build_head_onnx(const HeadModelOptions& o) {
  if (o.imgsz < 32 || o.imgsz > 4096 || o.imgsz % 32 != 0) {
    fail(ErrorCode::kInvalidArgument, "head model: imgsz {} must be a multiple of 32 in 32..4096",
         o.imgsz);
  }
  if (o.num_classes < 1 || o.num_classes > 10000) {
    fail(ErrorCode::kInvalidArgument, "head model: num_classes {} outside 1..10000", o.num_classes);
  }
  const bool grid_rows = o.kind == HeadKind::kYolov5 || o.kind == HeadKind::kObb;
  if (!grid_rows && (o.rows < 1 || o.rows > 10000)) {
    fail(ErrorCode::kInvalidArgument, "head model: rows {} outside 1..10000", o.rows);
  }
  const int nc = o.num_classes;
  const float S = static_cast<float>(o.imgsz);
  int64_t cells = 0;
  for (int s : {8, 16, 32}) cells += int64_t{o.imgsz / s} * (o.imgsz / s);
  int64_t rows = o.kind == HeadKind::kYolov5 ? 3 * cells : o.rows;
  int64_t cols = 4 + nc;  // rtdetr
  if (o.kind == HeadKind::kYolov5) cols = 5 + nc;
  if (o.kind == HeadKind::kEnd2End) cols = 6;
  // OBB: the table is built as rows of anchors, [cells, 4+nc+1], and transposed to the
  // channels-first [4+nc+1, cells] Ultralytics exports.
  if (o.kind == HeadKind::kObb) {
    rows = cells;
    cols = 4 + nc + 1;
  }

  std::mt19937 rng(o.seed);
  auto uni = [&](float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(rng); };
  auto any_class = [&] { return std::uniform_int_distribution<int>(0, nc - 1)(rng); };
  std::vector<float> table(static_cast<size_t>(rows * cols), 0.f);
  std::vector<float> shift(table.size(), 0.f);
  // OBB: the objects the anchors copy, each (cx, cy, w, h, angle, class).
  constexpr float kPi = 3.14159265358979323846f;
  struct Object {
    float cx, cy, w, h, angle;
    int cls;
  };
  std::vector<Object> objects;
  if (o.kind == HeadKind::kObb) {
    const int n = std::max(3, static_cast<int>(cells / 12));
    for (int i = 0; i < n; ++i) {
      objects.push_back({uni(S * 0.1f, S * 0.9f), uni(S * 0.1f, S * 0.9f), uni(S * 0.08f, S * 0.4f),
                         uni(S * 0.04f, S * 0.2f), uni(-kPi / 4, 3 * kPi / 4), any_class()});
    }
  }
  for (int64_t r = 0; r < rows; ++r) {
    float* t = table.data() + r * cols;
    float* z = shift.data() + r * cols;
    switch (o.kind) {
      case HeadKind::kYolov5: {
        t[0] = uni(0, S);
        t[1] = uni(0, S);
        t[2] = uni(2, S / 2);
        t[3] = uni(2, S / 2);
        t[4] = uni(0, 1) < 0.35f ? uni(0.2f, 1.f) : uni(0.f, 0.2f);
        for (int c = 0; c < nc; ++c) t[5 + c] = uni(0, 1);
        for (int k = 0; k < 4; ++k) z[k] = uni(-2, 2);
        break;
      }
      case HeadKind::kEnd2End: {
        const float w = uni(2, S / 2), h = uni(2, S / 2);
        t[0] = uni(-2, S - w / 2);  // some boxes cross an edge: clipped on the way back
        t[1] = uni(-2, S - h / 2);
        t[2] = t[0] + w;
        t[3] = t[1] + h;
        const float left = 1.f - static_cast<float>(r) / static_cast<float>(rows);
        t[4] = 0.97f * left * left;  // descending, as TopK leaves them
        t[5] = static_cast<float>(any_class());
        z[0] = z[2] = uni(-2, 2);
        z[1] = z[3] = uni(-2, 2);
        break;
      }
      case HeadKind::kRtdetr: {
        t[0] = uni(0.05f, 0.95f);
        t[1] = uni(0.05f, 0.95f);
        t[2] = uni(0.02f, 0.5f);
        t[3] = uni(0.02f, 0.5f);
        for (int c = 0; c < nc; ++c) t[4 + c] = uni(0.f, 0.3f);
        if (uni(0, 1) < 0.25f) t[4 + any_class()] = uni(0.3f, 1.f);
        z[0] = uni(-0.01f, 0.01f);
        z[1] = uni(-0.01f, 0.01f);
        break;
      }
      case HeadKind::kObb: {
        const Object& ob =
            objects[std::uniform_int_distribution<size_t>(0, objects.size() - 1)(rng)];
        float w = ob.w * uni(0.85f, 1.15f), h = ob.h * uni(0.85f, 1.15f);
        float angle = ob.angle + uni(-0.15f, 0.15f);
        if (uni(0, 1) < 0.3f) {  // the same rectangle, sides swapped and a quarter turn on
          std::swap(w, h);
          angle += kPi / 2;
        }
        while (angle >= 3 * kPi / 4) angle -= kPi;  // Ultralytics' range [-pi/4, 3pi/4)
        while (angle < -kPi / 4) angle += kPi;
        t[0] = ob.cx + uni(-S * 0.03f, S * 0.03f);
        t[1] = ob.cy + uni(-S * 0.03f, S * 0.03f);
        t[2] = w;
        t[3] = h;
        for (int c = 0; c < nc; ++c) t[4 + c] = uni(0.f, 0.2f);
        if (uni(0, 1) < 0.4f) {
          const int cls = uni(0, 1) < 0.8f ? ob.cls : any_class();
          t[4 + cls] = uni(0.25f, 1.f);
        }
        t[4 + nc] = angle;
        z[0] = uni(-2, 2);
        z[1] = uni(-2, 2);
        z[4 + nc] = uni(-0.01f, 0.01f);
        break;
      }
    }
  }
  if (o.kind == HeadKind::kObb) {  // to channels first
    auto transpose = [&](std::vector<float>& v) {
      std::vector<float> out(v.size());
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c)
          out[static_cast<size_t>(c * rows + r)] = v[static_cast<size_t>(r * cols + c)];
      }
      v = std::move(out);
    };
    transpose(table);
    transpose(shift);
    std::swap(rows, cols);
  }

  TestModel t(17, 8, "pytorch");
  t.input("images", onnx::TensorProto::FLOAT, {1, 3, o.imgsz, o.imgsz});
  t.initializer(raw_tensor("head_table", onnx::TensorProto::FLOAT, {1, rows, cols}, table.data(),
                           table.size() * sizeof(float)));
  t.initializer(raw_tensor("head_shift", onnx::TensorProto::FLOAT, {1, rows, cols}, shift.data(),
                           shift.size() * sizeof(float)));
  onnx::NodeProto* mean = t.node("ReduceMean", "/head/ReduceMean", {"images"}, {"image_mean"});
  set_attr(mean, "axes", std::vector<int64_t>{1, 2, 3});
  set_attr(mean, "keepdims", int64_t{0});  // [1]
  t.node("Mul", "/head/Mul", {"image_mean", "head_shift"}, {"head_offset"});
  t.node("Add", "/head/Add", {"head_table", "head_offset"}, {"output0"});
  t.output("output0", onnx::TensorProto::FLOAT, {1, rows, cols});

  if (o.metadata) {
    if (o.kind == HeadKind::kYolov5) {  // yolov5's export.py: {'stride': ..., 'names': ...}
      t.metadata("stride", "32");
      t.metadata("names", class_names_metadata(nc));
    } else if (o.kind == HeadKind::kObb) {  // as Ultralytics exports YOLO11-obb
      t.metadata("description", "Ultralytics YOLO11n-obb model (random weights)");
      t.metadata("author", "Ultralytics");
      t.metadata("task", "obb");
      t.metadata("stride", "32");
      t.metadata("batch", "1");
      t.metadata("imgsz", fmt::format("[{}, {}]", o.imgsz, o.imgsz));
      t.metadata("names", dota_names_metadata(nc));
      t.metadata("args", "{'batch': 1, 'half': False, 'nms': False}");
    } else {
      const bool detr = o.kind == HeadKind::kRtdetr;
      t.metadata("description", detr ? "Ultralytics RT-DETR-l model (random weights)"
                                     : "Ultralytics YOLO26n model (random weights)");
      t.metadata("author", "Ultralytics");
      t.metadata("task", "detect");
      t.metadata("stride", "32");
      t.metadata("batch", "1");
      t.metadata("imgsz", fmt::format("[{}, {}]", o.imgsz, o.imgsz));
      t.metadata("names", class_names_metadata(nc));
      if (detr) t.metadata("head", "RTDETRDecoder");
      t.metadata("args", "{'batch': 1, 'half': False, 'nms': False}");
      t.metadata("end2end", detr ? "False" : "True");
    }
  }
  return t.bytes();
}

}  // namespace shoal
