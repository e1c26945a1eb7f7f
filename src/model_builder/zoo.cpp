#include "model_builder/zoo.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <tuple>

#include "core/error.h"
#include "model_builder/builder.h"
#include "model_builder/onnx_test_model.h"

namespace shoal {
namespace {

// BatchNorm after a conv: folded into the conv's weights and bias (torch.onnx.export in eval
// mode) or left as a BatchNormalization node after a bias-less conv (paddle2onnx).
enum class Bn { kFolded, kNode };

// A network under construction: layers with seeded weights, activations spelled as the exporter
// spells them.
class Net {
 public:
  Net(int opset, Bn bn, uint32_t seed)
      : opset_(opset), bn_(bn), t_(opset, 8), b_(t_, WeightStyle::kInitializer, seed) {}

  void input(int imgsz) { t_.input("images", onnx::TensorProto::FLOAT, {1, 3, imgsz, imgsz}); }
  // Renames `x` (a node output) to `name` and makes it a graph output.
  void output(const std::string& x, const std::string& name) {
    b_.op("Identity", {x}, &last_);
    last_->set_output(0, name);
    t_.output(name);
  }
  std::string bytes() const { return t_.bytes(); }
  NetBuilder& b() { return b_; }

  std::string op(const std::string& type, std::vector<std::string> in) {
    return b_.op(type, std::move(in), &last_);
  }
  // The node `op` made last, to set attributes on.
  onnx::NodeProto* last() { return last_; }

  std::string act(const std::string& x, const std::string& a) {
    if (a.empty()) return x;
    if (a == "relu") return op("Relu", {x});
    if (a == "relu6")
      return op("Clip", {x, b_.floats("lo", {}, {0.f}), b_.floats("hi", {}, {6.f})});
    if (a == "leaky") {
      std::string y = op("LeakyRelu", {x});
      set_attr(last_, "alpha", 0.1f);
      return y;
    }
    if (a == "silu") return op("Mul", {x, op("Sigmoid", {x})});
    if (a == "sigmoid") return op("Sigmoid", {x});
    if (a == "hswish") {
      // HardSwish from opset 14 (torch); before, x * HardSigmoid(x) with alpha 1/6 (paddle2onnx).
      if (opset_ >= 14) return op("HardSwish", {x});
      return op("Mul", {x, hsigmoid(x, 1.f / 6.f)});
    }
    if (a == "hsigmoid") return hsigmoid(x, 1.f / 6.f);
    if (a == "hsigmoid_paddle") return hsigmoid(x, 0.2f);
    if (a == "gelu") {
      // 0.5 x (1 + erf(x / sqrt 2)), as torch exports GELU before opset 20.
      std::string e = op("Erf", {op("Div", {x, b_.floats("sqrt2", {}, {std::sqrt(2.f)})})});
      e = op("Add", {e, b_.floats("one", {}, {1.f})});
      return op("Mul", {op("Mul", {x, e}), b_.floats("half", {}, {0.5f})});
    }
    fail(ErrorCode::kInternal, "zoo: unknown activation '{}'", a);
  }

  // Conv k x k (padding k/2), BatchNorm as the exporter writes it, activation.
  std::string cba(const std::string& x, int cin, int cout, int k, int s, const std::string& a,
                  int group = 1) {
    std::string y;
    if (bn_ == Bn::kNode) {
      y = b_.batchnorm(b_.conv(x, cin, cout, k, s, group, /*bias=*/false), cout);
    } else {
      y = b_.conv(x, cin, cout, k, s, group);
    }
    return act(y, a);
  }
  std::string dw(const std::string& x, int c, int k, int s, const std::string& a) {
    return cba(x, c, c, k, s, a, c);
  }
  std::string conv(const std::string& x, int cin, int cout, int k, int s = 1) {
    return b_.conv(x, cin, cout, k, s);
  }
  std::string add(const std::string& x, const std::string& y) { return op("Add", {x, y}); }
  std::string concat(std::vector<std::string> xs, int64_t axis = 1) {
    std::string y = op("Concat", std::move(xs));
    set_attr(last_, "axis", axis);
    return y;
  }
  std::string maxpool(const std::string& x, int k, int s, int p) {
    std::string y = op("MaxPool", {x});
    set_attr(last_, "kernel_shape", std::vector<int64_t>{k, k});
    set_attr(last_, "strides", std::vector<int64_t>{s, s});
    set_attr(last_, "pads", std::vector<int64_t>{p, p, p, p});
    return y;
  }
  // Resize by constant scales (nearest as torch's Upsample(scale_factor) exports it, or linear
  // with half_pixel as F.interpolate(bilinear, align_corners=False)).
  std::string resize(const std::string& x, float scale, bool linear) {
    std::string y = op("Resize", {x, b_.floats("roi", {0}, {}),
                                  b_.floats("scales", {4}, {1.f, 1.f, scale, scale})});
    set_attr(last_, "mode", std::string(linear ? "linear" : "nearest"));
    if (linear) {
      set_attr(last_, "coordinate_transformation_mode", std::string("half_pixel"));
    } else {
      set_attr(last_, "coordinate_transformation_mode", std::string("asymmetric"));
      set_attr(last_, "nearest_mode", std::string("floor"));
    }
    return y;
  }
  // Nearest Resize to the spatial size of `like`, with the sizes computed from Shape as
  // F.interpolate(size=...) exports it.
  std::string resize_like(const std::string& x, const std::string& like) {
    std::string nc = op("Slice", {op("Shape", {x}), b_.ints("st", {0}), b_.ints("en", {2})});
    std::string hw = op("Slice", {op("Shape", {like}), b_.ints("st", {2}), b_.ints("en", {4})});
    std::string sizes = concat({nc, hw}, 0);
    std::string y =
        op("Resize", {x, b_.floats("roi", {0}, {}), b_.floats("scales", {0}, {}), sizes});
    set_attr(last_, "mode", std::string("nearest"));
    set_attr(last_, "coordinate_transformation_mode", std::string("asymmetric"));
    set_attr(last_, "nearest_mode", std::string("floor"));
    return y;
  }
  std::string reshape(const std::string& x, std::vector<int64_t> shape) {
    return op("Reshape", {x, b_.ints("shape", std::move(shape))});
  }
  std::string transpose(const std::string& x, std::vector<int64_t> perm) {
    std::string y = op("Transpose", {x});
    set_attr(last_, "perm", std::move(perm));
    return y;
  }
  // Split into parts of the given sizes along `axis`.
  std::vector<std::string> split(const std::string& x, std::vector<int64_t> sizes, int64_t axis) {
    std::string first;
    if (opset_ >= 13) {
      first = op("Split", {x, b_.ints("split", sizes)});
    } else {
      first = op("Split", {x});
      set_attr(last_, "split", sizes);
    }
    set_attr(last_, "axis", axis);
    std::vector<std::string> outs = {first};
    for (size_t i = 1; i < sizes.size(); ++i) {
      outs.push_back(first + "_" + std::to_string(i));
      last_->add_output(outs.back());
    }
    return outs;
  }
  // Classifier tail: global average pool, flatten, fully connected.
  std::string gap(const std::string& x) { return op("GlobalAveragePool", {x}); }
  std::string gemm(const std::string& x, int k, int m) {
    const float a = std::sqrt(3.f / static_cast<float>(k));
    std::string w = b_.floats("fc_w", {m, k}, b_.uniform(static_cast<size_t>(m) * k, -a, a));
    std::string bias = b_.floats("fc_b", {m}, b_.uniform(static_cast<size_t>(m), -0.2f, 0.2f));
    std::string y = op("Gemm", {x, w, bias});
    set_attr(last_, "transB", int64_t{1});
    return y;
  }
  std::string classifier(const std::string& x, int c, int classes = 1000) {
    return op("Softmax", {gemm(op("Flatten", {gap(x)}), c, classes)});
  }
  // x [.., k] @ W [k, m] + b, as torch exports nn.Linear on a 3-D input.
  std::string linear(const std::string& x, int k, int m) {
    const float a = std::sqrt(3.f / static_cast<float>(k));
    std::string w = b_.floats("lin_w", {k, m}, b_.uniform(static_cast<size_t>(m) * k, -a, a));
    std::string bias = b_.floats("lin_b", {m}, b_.uniform(static_cast<size_t>(m), -0.1f, 0.1f));
    return op("Add", {op("MatMul", {x, w}), bias});
  }
  std::string layernorm(const std::string& x, int d) {
    std::string y = op("LayerNormalization",
                       {x, b_.floats("ln_g", {d}, b_.uniform(static_cast<size_t>(d), 0.8f, 1.2f)),
                        b_.floats("ln_b", {d}, b_.uniform(static_cast<size_t>(d), -0.1f, 0.1f))});
    set_attr(last_, "axis", int64_t{-1});
    set_attr(last_, "epsilon", 1e-5f);
    return y;
  }
  std::string conv_transpose(const std::string& x, int cin, int cout, int k, int s) {
    const float a = std::sqrt(3.f / static_cast<float>(cin));
    std::string w = b_.floats("wt", {cin, cout, k, k},
                              b_.uniform(static_cast<size_t>(cin) * cout * k * k, -a, a));
    std::string bias = b_.floats("bt", {cout}, b_.uniform(static_cast<size_t>(cout), -0.2f, 0.2f));
    std::string y = op("ConvTranspose", {x, w, bias});
    set_attr(last_, "kernel_shape", std::vector<int64_t>{k, k});
    set_attr(last_, "strides", std::vector<int64_t>{s, s});
    return y;
  }

 private:
  std::string hsigmoid(const std::string& x, float alpha) {
    std::string y = op("HardSigmoid", {x});
    set_attr(last_, "alpha", alpha);
    set_attr(last_, "beta", 0.5f);
    return y;
  }

  int opset_;
  Bn bn_;
  TestModel t_;
  NetBuilder b_;
  onnx::NodeProto* last_ = nullptr;
};

int divisible(double v, int d = 8) {
  int n = std::max(d, static_cast<int>(v + d / 2.0) / d * d);
  if (n < 0.9 * v) n += d;
  return n;
}

// ---- classifiers (torchvision exports: BatchNorm folded, Softmax added) ----

std::string resnet(int imgsz, uint32_t seed, bool bottleneck, std::vector<int> blocks) {
  Net n(13, Bn::kFolded, seed);
  n.input(imgsz);
  std::string x = n.maxpool(n.cba("images", 3, 64, 7, 2, "relu"), 3, 2, 1);
  int cin = 64;
  const int widths[] = {64, 128, 256, 512};
  for (int stage = 0; stage < 4; ++stage) {
    const int w = widths[stage], cout = bottleneck ? w * 4 : w;
    for (int i = 0; i < blocks[stage]; ++i) {
      const int s = i == 0 && stage > 0 ? 2 : 1;
      std::string y;
      if (bottleneck) {
        y = n.cba(n.cba(n.cba(x, cin, w, 1, 1, "relu"), w, w, 3, s, "relu"), w, cout, 1, 1, "");
      } else {
        y = n.cba(n.cba(x, cin, w, 3, s, "relu"), w, w, 3, 1, "");
      }
      std::string sc = s != 1 || cin != cout ? n.cba(x, cin, cout, 1, s, "") : x;
      x = n.act(n.add(y, sc), "relu");
      cin = cout;
    }
  }
  n.output(n.classifier(x, cin), "output0");
  return n.bytes();
}

// Squeeze-excite inside an inverted residual: GlobalAveragePool, 1x1 to `channels` with `act`,
// 1x1 back with `gate`, Mul. channels 0: none.
struct SqueezeExcite {
  int channels = 0;
  const char* act = "relu";
  const char* gate = "sigmoid";
};

// One inverted residual (MobileNetV2 and V3, EfficientNet's MBConv): 1x1 expand to `exp`
// channels with `a` (none when exp == cin), k x k depthwise with `a`, the squeeze-excite, 1x1
// project to `out` without activation, and the residual Add when the shape is kept.
std::string inverted_residual(Net& n, const std::string& x, int cin, int exp, int out, int k, int s,
                              const std::string& a, const SqueezeExcite& se = {}) {
  std::string y = exp == cin ? x : n.cba(x, cin, exp, 1, 1, a);
  y = n.dw(y, exp, k, s, a);
  if (se.channels > 0) {
    std::string g = n.act(n.conv(n.gap(y), exp, se.channels, 1), se.act);
    y = n.op("Mul", {y, n.act(n.conv(g, se.channels, exp, 1), se.gate)});
  }
  y = n.cba(y, exp, out, 1, 1, "");
  return s == 1 && cin == out ? n.add(x, y) : y;
}

std::string mobilenet_v2(int imgsz, uint32_t seed) {
  Net n(13, Bn::kFolded, seed);
  n.input(imgsz);
  std::string x = n.cba("images", 3, 32, 3, 2, "relu6");
  int cin = 32;
  const int table[][4] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                          {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  for (const auto& [t, c, reps, s0] : table) {
    for (int i = 0; i < reps; ++i) {
      x = inverted_residual(n, x, cin, cin * t, c, 3, i == 0 ? s0 : 1, "relu6");
      cin = c;
    }
  }
  x = n.cba(x, cin, 1280, 1, 1, "relu6");
  n.output(n.classifier(x, 1280), "output0");
  return n.bytes();
}

struct Bneck {
  int k, exp, out;
  bool se;
  const char* act;
  int s;
};

// MobileNetV3-large bottlenecks; `scale` multiplies the channels (PP-OCR's backbone: 0.5).
const Bneck kMnv3Large[] = {
    {3, 16, 16, false, "relu", 1},    {3, 64, 24, false, "relu", 2},
    {3, 72, 24, false, "relu", 1},    {5, 72, 40, true, "relu", 2},
    {5, 120, 40, true, "relu", 1},    {5, 120, 40, true, "relu", 1},
    {3, 240, 80, false, "hswish", 2}, {3, 200, 80, false, "hswish", 1},
    {3, 184, 80, false, "hswish", 1}, {3, 184, 80, false, "hswish", 1},
    {3, 480, 112, true, "hswish", 1}, {3, 672, 112, true, "hswish", 1},
    {5, 672, 160, true, "hswish", 2}, {5, 960, 160, true, "hswish", 1},
    {5, 960, 160, true, "hswish", 1},
};

// Runs MobileNetV3-large's stem and bottlenecks; `taps` receives the output of the last block
// at each stride (4, 8, 16, 32 after the final 1x1 conv), with its channels.
std::string mnv3_backbone(Net& n, double scale, const char* se_gate,
                          std::vector<std::pair<std::string, int>>* taps, int* out_c) {
  int cin = divisible(16 * scale);
  std::string x = n.cba("images", 3, cin, 3, 2, "hswish");
  int stride = 2;
  std::pair<std::string, int> prev;
  for (const Bneck& bk : kMnv3Large) {
    const int exp = divisible(bk.exp * scale), out = divisible(bk.out * scale);
    if (bk.s == 2 && taps && stride >= 4) taps->push_back(prev);
    const SqueezeExcite se{bk.se ? divisible(exp / 4.0) : 0, "relu", se_gate};
    x = inverted_residual(n, x, cin, exp, out, bk.k, bk.s, bk.act, se);
    cin = out;
    stride *= bk.s;
    prev = {x, cin};
  }
  const int last = divisible(960 * scale);
  x = n.cba(x, cin, last, 1, 1, "hswish");
  if (taps) taps->push_back({x, last});
  *out_c = last;
  return x;
}

std::string mobilenet_v3_large(int imgsz, uint32_t seed) {
  Net n(14, Bn::kFolded, seed);
  n.input(imgsz);
  int c = 0;
  std::string x = mnv3_backbone(n, 1.0, "hsigmoid", nullptr, &c);
  x = n.act(n.gemm(n.op("Flatten", {n.gap(x)}), c, 1280), "hswish");
  n.output(n.op("Softmax", {n.gemm(x, 1280, 1000)}), "output0");
  return n.bytes();
}

std::string efficientnet_b0(int imgsz, uint32_t seed) {
  Net n(13, Bn::kFolded, seed);
  n.input(imgsz);
  std::string x = n.cba("images", 3, 32, 3, 2, "silu");
  int cin = 32;
  const int table[][5] = {{1, 3, 1, 16, 1},  {6, 3, 2, 24, 2},  {6, 5, 2, 40, 2}, {6, 3, 2, 80, 3},
                          {6, 5, 1, 112, 3}, {6, 5, 2, 192, 4}, {6, 3, 1, 320, 1}};
  for (const auto& [e, k, s0, c, reps] : table) {
    for (int i = 0; i < reps; ++i) {
      const SqueezeExcite se{std::max(1, cin / 4), "silu", "sigmoid"};
      x = inverted_residual(n, x, cin, cin * e, c, k, i == 0 ? s0 : 1, "silu", se);
      cin = c;
    }
  }
  x = n.cba(x, cin, 1280, 1, 1, "silu");
  n.output(n.classifier(x, 1280), "output0");
  return n.bytes();
}

// ShuffleNetV2 channel shuffle (2 groups) as torchvision exports it with static shapes.
std::string channel_shuffle(Net& n, const std::string& x, int c, int h) {
  std::string y = n.reshape(x, {1, 2, c / 2, h, h});
  y = n.transpose(y, {0, 2, 1, 3, 4});
  return n.reshape(y, {1, c, h, h});
}

// ShuffleNetV2 1.0x stages after the stem; `taps` receives each stage's output.
std::string shufflenet_stages(Net& n, std::string x, int cin, int h, const std::string& a,
                              std::vector<std::pair<std::string, int>>* taps) {
  const int outs[] = {116, 232, 464}, reps[] = {4, 8, 4};
  for (int stage = 0; stage < 3; ++stage) {
    const int c = outs[stage], half = c / 2;
    h /= 2;
    for (int i = 0; i < reps[stage]; ++i) {
      std::string left, right;
      if (i == 0) {
        left = n.cba(n.dw(x, cin, 3, 2, ""), cin, half, 1, 1, a);
        right = n.cba(x, cin, half, 1, 1, a);
        right = n.cba(n.dw(right, half, 3, 2, ""), half, half, 1, 1, a);
      } else {
        std::vector<std::string> parts = n.split(x, {half, half}, 1);
        left = parts[0];
        right = n.cba(parts[1], half, half, 1, 1, a);
        right = n.cba(n.dw(right, half, 3, 1, ""), half, half, 1, 1, a);
      }
      x = channel_shuffle(n, n.concat({left, right}), c, h);
      cin = c;
    }
    if (taps) taps->push_back({x, c});
  }
  return x;
}

std::string shufflenet_v2(int imgsz, uint32_t seed) {
  Net n(11, Bn::kFolded, seed);
  n.input(imgsz);
  std::string x = n.maxpool(n.cba("images", 3, 24, 3, 2, "relu"), 3, 2, 1);
  x = shufflenet_stages(n, x, 24, imgsz / 4, "relu", nullptr);
  x = n.cba(x, 464, 1024, 1, 1, "relu");
  // torchvision: x.mean([2, 3]) before the classifier.
  std::string m = n.op("ReduceMean", {x});
  set_attr(n.last(), "axes", std::vector<int64_t>{2, 3});
  set_attr(n.last(), "keepdims", int64_t{0});
  n.output(n.op("Softmax", {n.gemm(m, 1024, 1000)}), "output0");
  return n.bytes();
}

// RepVGG-A0 in its deployed form: plain 3x3 conv + ReLU stacks.
std::string repvgg_a0(int imgsz, uint32_t seed) {
  Net n(13, Bn::kFolded, seed);
  n.input(imgsz);
  const int widths[] = {48, 48, 96, 192, 1280}, layers[] = {1, 2, 4, 14, 1};
  std::string x = "images";
  int cin = 3;
  for (int stage = 0; stage < 5; ++stage) {
    for (int i = 0; i < layers[stage]; ++i) {
      x = n.cba(x, cin, widths[stage], 3, i == 0 ? 2 : 1, "relu");
      cin = widths[stage];
    }
  }
  n.output(n.classifier(x, cin), "output0");
  return n.bytes();
}

// ---- YOLO detectors with anchor-based heads decoded in the graph ----

// The classic YOLOv5/v7 Detect head on `levels` (feature, channels, stride), 80 classes, 3
// anchors per cell: 1x1 conv, Reshape to 5-D, Transpose, Sigmoid, grid/anchor decode, Concat.
std::string anchor_head(Net& n, const std::vector<std::tuple<std::string, int, int>>& levels,
                        int imgsz) {
  const int na = 3, no = 85;
  const float anchors[3][6] = {
      {10, 13, 16, 30, 33, 23}, {30, 61, 62, 45, 59, 119}, {116, 90, 156, 198, 373, 326}};
  std::vector<std::string> outs;
  int l = 0;
  for (const auto& [f, c, stride] : levels) {
    const int64_t ny = imgsz / stride;
    std::string y = n.conv(f, c, na * no, 1);
    y = n.act(n.transpose(n.reshape(y, {1, na, no, ny, ny}), {0, 1, 3, 4, 2}), "sigmoid");
    std::vector<std::string> p = n.split(y, {2, 2, no - 4}, 4);
    std::vector<float> grid;
    for (int64_t gy = 0; gy < ny; ++gy) {
      for (int64_t gx = 0; gx < ny; ++gx) {
        grid.push_back(static_cast<float>(gx) - 0.5f);
        grid.push_back(static_cast<float>(gy) - 0.5f);
      }
    }
    NetBuilder& b = n.b();
    std::string xy = n.op("Mul", {p[0], b.floats("two", {}, {2.f})});
    xy = n.op("Add", {xy, b.floats("grid", {1, 1, ny, ny, 2}, grid)});
    xy = n.op("Mul", {xy, b.floats("stride", {}, {static_cast<float>(stride)})});
    std::string wh = n.op("Mul", {p[1], b.floats("two", {}, {2.f})});
    wh = n.op("Mul", {n.op("Mul", {wh, wh}),
                      b.floats("anchor_grid", {1, na, 1, 1, 2},
                               std::vector<float>(anchors[l % 3], anchors[l % 3] + 6))});
    outs.push_back(n.reshape(n.concat({xy, wh, p[2]}, 4), {1, -1, no}));
    ++l;
  }
  return n.concat(outs, 1);
}

// YOLOv5 v5.0-era s model: Focus, SiLU, C3, SPP, PANet, the anchor head.
std::string yolov5s_classic(int imgsz, uint32_t seed) {
  Net n(12, Bn::kFolded, seed);
  n.input(imgsz);
  NetBuilder& b = n.b();
  const int64_t big = std::numeric_limits<int64_t>::max();
  std::vector<std::string> parts;
  for (int i = 0; i < 4; ++i) {
    parts.push_back(n.op("Slice", {"images", b.ints("st", {i % 2, i / 2}), b.ints("en", {big, big}),
                                   b.ints("ax", {2, 3}), b.ints("sp", {2, 2})}));
  }
  auto c3 = [&](const std::string& x, int c1, int c2, int reps, bool shortcut) {
    const int c = c2 / 2;
    std::string m = n.cba(x, c1, c, 1, 1, "silu");
    for (int i = 0; i < reps; ++i) {
      std::string y = n.cba(n.cba(m, c, c, 1, 1, "silu"), c, c, 3, 1, "silu");
      m = shortcut ? n.add(m, y) : y;
    }
    return n.cba(n.concat({m, n.cba(x, c1, c, 1, 1, "silu")}), 2 * c, c2, 1, 1, "silu");
  };
  std::string x = n.cba(n.concat(parts), 12, 32, 3, 1, "silu");
  x = c3(n.cba(x, 32, 64, 3, 2, "silu"), 64, 64, 1, true);
  std::string p3 = c3(n.cba(x, 64, 128, 3, 2, "silu"), 128, 128, 3, true);
  std::string p4 = c3(n.cba(p3, 128, 256, 3, 2, "silu"), 256, 256, 3, true);
  x = n.cba(p4, 256, 512, 3, 2, "silu");
  std::string s = n.cba(x, 512, 256, 1, 1, "silu");
  x = n.cba(n.concat({s, n.maxpool(s, 5, 1, 2), n.maxpool(s, 9, 1, 4), n.maxpool(s, 13, 1, 6)}),
            1024, 512, 1, 1, "silu");
  x = c3(x, 512, 512, 1, false);
  std::string h10 = n.cba(x, 512, 256, 1, 1, "silu");
  x = c3(n.concat({n.resize(h10, 2, false), p4}), 512, 256, 1, false);
  std::string h14 = n.cba(x, 256, 128, 1, 1, "silu");
  std::string o3 = c3(n.concat({n.resize(h14, 2, false), p3}), 256, 128, 1, false);
  std::string o4 = c3(n.concat({n.cba(o3, 128, 128, 3, 2, "silu"), h14}), 256, 256, 1, false);
  std::string o5 = c3(n.concat({n.cba(o4, 256, 256, 3, 2, "silu"), h10}), 512, 512, 1, false);
  n.output(anchor_head(n, {{o3, 128, 8}, {o4, 256, 16}, {o5, 512, 32}}, imgsz), "output");
  return n.bytes();
}

// YOLOv7-tiny: LeakyReLU, ELAN-tiny blocks, MaxPool downsampling, SPPCSPC-tiny.
std::string yolov7_tiny(int imgsz, uint32_t seed) {
  Net n(12, Bn::kFolded, seed);
  n.input(imgsz);
  auto elan = [&](const std::string& x, int cin, int c, int cout) {
    std::string a = n.cba(x, cin, c, 1, 1, "leaky");
    std::string b2 = n.cba(x, cin, c, 1, 1, "leaky");
    std::string b3 = n.cba(b2, c, c, 3, 1, "leaky");
    std::string b4 = n.cba(b3, c, c, 3, 1, "leaky");
    return n.cba(n.concat({b4, b3, b2, a}), 4 * c, cout, 1, 1, "leaky");
  };
  std::string x = n.cba(n.cba("images", 3, 32, 3, 2, "leaky"), 32, 64, 3, 2, "leaky");
  x = elan(x, 64, 32, 64);
  std::string p3 = elan(n.maxpool(x, 2, 2, 0), 64, 64, 128);
  std::string p4 = elan(n.maxpool(p3, 2, 2, 0), 128, 128, 256);
  x = elan(n.maxpool(p4, 2, 2, 0), 256, 256, 512);
  std::string a = n.cba(x, 512, 256, 1, 1, "leaky");
  std::string s = n.cba(x, 512, 256, 1, 1, "leaky");
  s = n.cba(n.concat({n.maxpool(s, 13, 1, 6), n.maxpool(s, 9, 1, 4), n.maxpool(s, 5, 1, 2), s}),
            1024, 256, 1, 1, "leaky");
  std::string p5 = n.cba(n.concat({s, a}), 512, 256, 1, 1, "leaky");
  x = n.resize(n.cba(p5, 256, 128, 1, 1, "leaky"), 2, false);
  std::string h4 = elan(n.concat({n.cba(p4, 256, 128, 1, 1, "leaky"), x}), 256, 64, 128);
  x = n.resize(n.cba(h4, 128, 64, 1, 1, "leaky"), 2, false);
  std::string o3 = elan(n.concat({n.cba(p3, 128, 64, 1, 1, "leaky"), x}), 128, 32, 64);
  std::string o4 = elan(n.concat({n.cba(o3, 64, 128, 3, 2, "leaky"), h4}), 256, 64, 128);
  std::string o5 = elan(n.concat({n.cba(o4, 128, 256, 3, 2, "leaky"), p5}), 512, 128, 256);
  n.output(anchor_head(n,
                       {{n.cba(o3, 64, 128, 3, 1, "leaky"), 128, 8},
                        {n.cba(o4, 128, 256, 3, 1, "leaky"), 256, 16},
                        {n.cba(o5, 256, 512, 3, 1, "leaky"), 512, 32}},
                       imgsz),
           "output");
  return n.bytes();
}

// ---- light, face and text detectors ----

// NanoDet-Plus / PicoDet-like: ShuffleNetV2 1.0x backbone (BatchNorm nodes, LeakyReLU), a PAN
// with bilinear up- and down-sampling, GFL heads of depthwise 5x5 + pointwise convs, class
// scores through Sigmoid, output [1, anchors, 80 + 32].
std::string nanodet_like(int imgsz, uint32_t seed) {
  Net n(11, Bn::kNode, seed);
  n.input(imgsz);
  std::string x = n.maxpool(n.cba("images", 3, 24, 3, 2, "leaky"), 3, 2, 1);
  std::vector<std::pair<std::string, int>> taps;
  shufflenet_stages(n, x, 24, imgsz / 4, "leaky", &taps);
  const int c = 96;
  std::vector<std::string> lat;
  for (const auto& [f, ch] : taps) lat.push_back(n.cba(f, ch, c, 1, 1, "leaky"));
  // Top-down, then bottom-up with bilinear scaling by 0.5.
  lat[1] = n.add(lat[1], n.resize(lat[2], 2.f, true));
  lat[0] = n.add(lat[0], n.resize(lat[1], 2.f, true));
  lat[1] = n.add(lat[1], n.resize(lat[0], 0.5f, true));
  lat[2] = n.add(lat[2], n.resize(lat[1], 0.5f, true));
  std::vector<std::string> outs;
  for (const std::string& f : lat) {
    std::string h = f;
    for (int i = 0; i < 2; ++i) h = n.cba(n.dw(h, c, 5, 1, "leaky"), c, c, 1, 1, "leaky");
    std::string o = n.conv(h, c, 80 + 32, 1);
    outs.push_back(n.reshape(o, {1, 80 + 32, -1}));
  }
  std::vector<std::string> parts = n.split(n.concat(outs, 2), {80, 32}, 1);
  std::string y = n.concat({n.act(parts[0], "sigmoid"), parts[1]}, 1);
  n.output(n.transpose(y, {0, 2, 1}), "output");
  return n.bytes();
}

// DBNet text detector as PP-OCR exports it (opset 11, BatchNorm nodes): MobileNetV3-large x0.5
// backbone (hard-swish as HardSigmoid·Mul, SE gate HardSigmoid slope 0.2), FPN with nearest
// upsampling, the DB head (3x3 conv, two 2x2 ConvTranspose, Sigmoid): [1, 1, H, W].
std::string dbnet(int imgsz, uint32_t seed) {
  Net n(11, Bn::kNode, seed);
  n.input(imgsz);
  std::vector<std::pair<std::string, int>> taps;
  int last = 0;
  mnv3_backbone(n, 0.5, "hsigmoid_paddle", &taps, &last);
  const int c = 96;
  std::vector<std::string> in;
  for (const auto& [f, ch] : taps) in.push_back(n.conv(f, ch, c, 1));
  in[2] = n.add(in[2], n.resize(in[3], 2, false));
  in[1] = n.add(in[1], n.resize(in[2], 2, false));
  in[0] = n.add(in[0], n.resize(in[1], 2, false));
  std::vector<std::string> p;
  for (int i = 0; i < 4; ++i) {
    std::string y = n.conv(in[i], c, c / 4, 3);
    p.push_back(i == 0 ? y : n.resize(y, static_cast<float>(1 << i), false));
  }
  std::string f = n.concat({p[3], p[2], p[1], p[0]});
  std::string h = n.cba(f, c, c / 4, 3, 1, "relu");
  h = n.b().batchnorm(n.conv_transpose(h, c / 4, c / 4, 2, 2), c / 4);
  h = n.conv_transpose(n.act(h, "relu"), c / 4, 1, 2, 2);
  n.output(n.act(h, "sigmoid"), "maps");
  return n.bytes();
}

// RetinaFace with a MobileNet-0.25 body (LeakyReLU 0.1), FPN (nearest Resize to the lateral's
// size from Shape), SSH context modules, class/box/landmark heads: loc [1, A, 4],
// conf [1, A, 2] (Softmax), landms [1, A, 10].
std::string retinaface_mnet(int imgsz, uint32_t seed) {
  Net n(11, Bn::kFolded, seed);
  n.input(imgsz);
  auto conv_dw = [&](const std::string& x, int cin, int cout, int s) {
    return n.cba(n.dw(x, cin, 3, s, "leaky"), cin, cout, 1, 1, "leaky");
  };
  std::string x = n.cba("images", 3, 8, 3, 2, "leaky");
  x = conv_dw(conv_dw(x, 8, 16, 1), 16, 32, 2);
  x = conv_dw(conv_dw(x, 32, 32, 1), 32, 64, 2);
  std::string s1 = conv_dw(x, 64, 64, 1);
  x = conv_dw(s1, 64, 128, 2);
  for (int i = 0; i < 5; ++i) x = conv_dw(x, 128, 128, 1);
  std::string s2 = x;
  std::string s3 = conv_dw(conv_dw(s2, 128, 256, 2), 256, 256, 1);
  const int c = 64;
  std::string o1 = n.cba(s1, 64, c, 1, 1, "leaky");
  std::string o2 = n.cba(s2, 128, c, 1, 1, "leaky");
  std::string o3 = n.cba(s3, 256, c, 1, 1, "leaky");
  o2 = n.cba(n.add(o2, n.resize_like(o3, o2)), c, c, 3, 1, "leaky");
  o1 = n.cba(n.add(o1, n.resize_like(o2, o1)), c, c, 3, 1, "leaky");
  auto ssh = [&](const std::string& f) {
    std::string a = n.cba(f, c, c / 2, 3, 1, "");
    std::string b5 = n.cba(f, c, c / 4, 3, 1, "leaky");
    std::string b = n.cba(b5, c / 4, c / 4, 3, 1, "");
    std::string d = n.cba(n.cba(b5, c / 4, c / 4, 3, 1, "leaky"), c / 4, c / 4, 3, 1, "");
    return n.act(n.concat({a, b, d}), "relu");
  };
  std::vector<std::string> loc, conf, landm;
  for (const std::string& f : {ssh(o1), ssh(o2), ssh(o3)}) {
    auto head = [&](int per_anchor) {
      std::string y = n.transpose(n.conv(f, c, 2 * per_anchor, 1), {0, 2, 3, 1});
      return n.reshape(y, {1, -1, per_anchor});
    };
    loc.push_back(head(4));
    conf.push_back(head(2));
    landm.push_back(head(10));
  }
  n.output(n.concat(loc, 1), "loc");
  std::string cf = n.op("Softmax", {n.concat(conf, 1)});
  set_attr(n.last(), "axis", int64_t{-1});
  n.output(cf, "conf");
  n.output(n.concat(landm, 1), "landms");
  return n.bytes();
}

// RT-DETR-like hybrid encoder (opset 17): a ResNet-18 body, 1x1 input projections to 256, one
// transformer encoder layer (AIFI: 8-head attention as MatMul/Softmax, LayerNormalization, GELU
// FFN) on the stride-32 tokens with a fixed position embedding, and the CCFM fusion (nearest up,
// 3x3 stride-2 down, CSP blocks of 3x3 convs with SiLU). Output: the three fused levels
// flattened and concatenated, [1, 256, tokens].
std::string rtdetr_encoder(int imgsz, uint32_t seed) {
  Net n(17, Bn::kFolded, seed);
  n.input(imgsz);
  std::string x = n.maxpool(n.cba("images", 3, 64, 7, 2, "relu"), 3, 2, 1);
  int cin = 64;
  std::vector<std::pair<std::string, int>> feats;
  const int widths[] = {64, 128, 256, 512};
  for (int stage = 0; stage < 4; ++stage) {
    const int w = widths[stage];
    for (int i = 0; i < 2; ++i) {
      const int s = i == 0 && stage > 0 ? 2 : 1;
      std::string y = n.cba(n.cba(x, cin, w, 3, s, "relu"), w, w, 3, 1, "");
      std::string sc = s != 1 || cin != w ? n.cba(x, cin, w, 1, s, "") : x;
      x = n.act(n.add(y, sc), "relu");
      cin = w;
    }
    if (stage > 0) feats.push_back({x, w});
  }
  const int d = 256, heads = 8, hd = d / heads;
  std::vector<std::string> proj;
  for (const auto& [f, ch] : feats) proj.push_back(n.cba(f, ch, d, 1, 1, ""));
  // AIFI on the stride-32 level.
  const int64_t h32 = imgsz / 32, tokens = h32 * h32;
  NetBuilder& b = n.b();
  std::string src = n.transpose(n.reshape(proj[2], {1, d, tokens}), {0, 2, 1});
  std::vector<float> pos(static_cast<size_t>(tokens) * d);
  for (int64_t t = 0; t < tokens; ++t) {
    for (int i = 0; i < d; ++i) {
      const double f = std::pow(10000.0, -static_cast<double>(i % (d / 2)) / (d / 2));
      pos[t * d + i] = static_cast<float>(i < d / 2 ? std::sin(t * f) : std::cos(t * f));
    }
  }
  std::string qk_in = n.add(src, b.floats("pos", {1, tokens, d}, pos));
  auto heads_of = [&](const std::string& t) {
    return n.transpose(n.reshape(t, {1, tokens, heads, hd}), {0, 2, 1, 3});
  };
  std::string q = heads_of(n.linear(qk_in, d, d));
  std::string k =
      n.transpose(n.reshape(n.linear(qk_in, d, d), {1, tokens, heads, hd}), {0, 2, 3, 1});
  std::string v = heads_of(n.linear(src, d, d));
  std::string att = n.op("MatMul", {q, k});
  att = n.op("Mul", {att, b.floats("scale", {}, {1.f / std::sqrt(static_cast<float>(hd))})});
  att = n.op("Softmax", {att});
  set_attr(n.last(), "axis", int64_t{-1});
  std::string o = n.transpose(n.op("MatMul", {att, v}), {0, 2, 1, 3});
  o = n.linear(n.reshape(o, {1, tokens, d}), d, d);
  src = n.layernorm(n.add(src, o), d);
  std::string ffn = n.linear(n.act(n.linear(src, d, 1024), "gelu"), 1024, d);
  src = n.layernorm(n.add(src, ffn), d);
  std::string f5 = n.reshape(n.transpose(src, {0, 2, 1}), {1, d, h32, h32});
  // CCFM.
  auto csp = [&](const std::string& in, int c_in) {
    std::string a = n.cba(in, c_in, d, 1, 1, "silu");
    for (int i = 0; i < 3; ++i) a = n.cba(a, d, d, 3, 1, "silu");
    return n.add(a, n.cba(in, c_in, d, 1, 1, "silu"));
  };
  std::string l5 = n.cba(f5, d, d, 1, 1, "silu");
  std::string t4 = csp(n.concat({n.resize(l5, 2, false), proj[1]}), 2 * d);
  std::string l4 = n.cba(t4, d, d, 1, 1, "silu");
  std::string o3 = csp(n.concat({n.resize(l4, 2, false), proj[0]}), 2 * d);
  std::string o4 = csp(n.concat({n.cba(o3, d, d, 3, 2, "silu"), l4}), 2 * d);
  std::string o5 = csp(n.concat({n.cba(o4, d, d, 3, 2, "silu"), l5}), 2 * d);
  std::vector<std::string> flat;
  for (const std::string& f : {o3, o4, o5}) flat.push_back(n.reshape(f, {1, d, -1}));
  n.output(n.concat(flat, 2), "memory");
  return n.bytes();
}

std::string yolov8(int imgsz, uint32_t seed, double width, double depth, int max_channels) {
  BuilderOptions o;
  o.seed = seed;
  o.imgsz = imgsz;
  o.width = width;
  o.depth = depth;
  o.max_channels = max_channels;
  return build_yolo_detector_onnx(o);
}

struct ZooBuilder {
  ZooEntry entry;
  std::function<std::string(int, uint32_t)> build;
};

const std::vector<ZooBuilder>& builders() {
  static const std::vector<ZooBuilder> kZoo = {
      {{"shufflenet_v2", "ShuffleNetV2 1.0x: channel split and shuffle (torch, opset 11)", 224, 32},
       shufflenet_v2},
      {{"mobilenet_v2", "MobileNetV2: inverted residuals, ReLU6 as Clip (torch, opset 13)", 224,
        32},
       mobilenet_v2},
      {{"mobilenet_v3", "MobileNetV3-large: HardSwish, squeeze-excite (torch, opset 14)", 224, 32},
       mobilenet_v3_large},
      {{"efficientnet_b0", "EfficientNet-B0: SiLU, SE, depthwise 5x5 (torch, opset 13)", 224, 32},
       efficientnet_b0},
      {{"resnet18", "ResNet-18 (torchvision, opset 13)", 224, 32},
       [](int s, uint32_t seed) {
         return resnet(s, seed, false, {2, 2, 2, 2});
       }},
      {{"resnet50", "ResNet-50 (torchvision, opset 13)", 224, 32},
       [](int s, uint32_t seed) {
         return resnet(s, seed, true, {3, 4, 6, 3});
       }},
      {{"repvgg_a0", "RepVGG-A0, deployed: 3x3 conv + ReLU stacks (opset 13)", 224, 32}, repvgg_a0},
      {{"yolov5s_classic", "YOLOv5s v5.0: Focus, C3, SPP, anchor head decoded in 5-D (opset 12)",
        640, 32},
       yolov5s_classic},
      {{"yolov7_tiny", "YOLOv7-tiny: LeakyReLU, ELAN, MaxPool branches, anchor head (opset 12)",
        640, 32},
       yolov7_tiny},
      {{"nanodet",
        "NanoDet/PicoDet-like: ShuffleNetV2, bilinear PAN, GFL heads (BN nodes, opset 11)", 416,
        32},
       nanodet_like},
      {{"dbnet", "DBNet text detector (PP-OCR): MobileNetV3 x0.5, FPN, ConvTranspose (opset 11)",
        640, 32},
       dbnet},
      {{"retinaface", "RetinaFace MobileNet-0.25: LeakyReLU, FPN, SSH context (opset 11)", 640, 32},
       retinaface_mnet},
      {{"rtdetr_encoder", "RT-DETR-like hybrid encoder: ResNet-18, attention, LayerNorm (opset 17)",
        640, 32},
       rtdetr_encoder},
      {{"yolov8s", "YOLOv8s (the built-in detector at width 0.5)", 640, 32},
       [](int s, uint32_t seed) { return yolov8(s, seed, 0.5, 0.33, 1024); }},
      {{"yolov8m", "YOLOv8m (the built-in detector at width 0.75, depth 0.67)", 640, 32},
       [](int s, uint32_t seed) { return yolov8(s, seed, 0.75, 0.67, 768); }},
  };
  return kZoo;
}

}  // namespace

const std::vector<ZooEntry>& zoo_entries() {
  static const std::vector<ZooEntry> kEntries = [] {
    std::vector<ZooEntry> v;
    for (const ZooBuilder& z : builders()) v.push_back(z.entry);
    return v;
  }();
  return kEntries;
}

std::string build_zoo_onnx(const std::string& name, int imgsz, uint32_t seed) {
  for (const ZooBuilder& z : builders()) {
    if (z.entry.name != name) continue;
    if (imgsz == 0) imgsz = z.entry.imgsz;
    if (imgsz <= 0 || imgsz % z.entry.min_imgsz != 0 || imgsz > 4096) {
      fail(ErrorCode::kInvalidArgument,
           "zoo model '{}': imgsz {} is not a multiple of {} in {}..4096", name, imgsz,
           z.entry.min_imgsz, z.entry.min_imgsz);
    }
    return z.build(imgsz, seed);
  }
  std::string names;
  for (const ZooBuilder& z : builders()) names += (names.empty() ? "" : ", ") + z.entry.name;
  fail(ErrorCode::kInvalidArgument, "no zoo model '{}'; the zoo has: {}", name, names);
}

}  // namespace shoal
