// Whole networks written the way other exporters write them (classic YOLOv5 with Focus slices and a
// 5-D decode head, a ShuffleNet-style detector with unfused BatchNorm and channel shuffle, a
// MobileNetV3-style classifier with weights in Constant nodes, an opset-9 darknet-converter net
// with Upsample), imported and run on the cpu backend against the reference backend, at more
// than one input shape where the export is dynamic.
//
// SHOAL_EXPORTER_STYLES_DIR=DIR also writes each model, its input and the cpu backend's outputs
// (as .npy) there, to check them against another engine (e.g. ../shared/tools/ortpeer/run.js).
#include <gtest/gtest.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <random>

#include "core/npy.h"
#include "model_builder/builder.h"
#include "model_builder/onnx_test_model.h"
#include "runtime/compiled_model.h"
#include "test_util.h"

namespace shoal {
namespace {

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

// Conv (+ bias) then an activation node.
std::string conv_act(NetBuilder& b, const std::string& x, int cin, int cout, int k, int s,
                     const std::string& act, float alpha = 0.1f) {
  onnx::NodeProto* n;
  std::string y = b.op(act, {b.conv(x, cin, cout, k, s)}, &n);
  if (act == "LeakyRelu") set_attr(n, "alpha", alpha);
  return y;
}

// Conv (no bias) -> BatchNormalization [-> activation].
std::string conv_bn(NetBuilder& b, const std::string& x, int cin, int cout, int k, int s,
                    const std::string& act, int group = 1) {
  std::string y = b.batchnorm(b.conv(x, cin, cout, k, s, group, /*bias=*/false), cout);
  return act.empty() ? y : b.op(act, {y});
}

// Classic YOLOv5 (v5.0 era, opset 12, static 1x3x64x64, initializers also listed as inputs):
// Focus (strided Slices + Concat), LeakyRelu, C3 with a residual, SPP (MaxPool 5/9/13), nearest
// Resize with scales, and the Detect head: Reshape to 5-D, Transpose (0,1,3,4,2), Sigmoid,
// Slice/Mul/Add/Pow against baked grids and anchors, Reshape and Concat of two levels.
// `inplace`: the decoded xy and wh are written back with ScatterND, as torch exports v5.0's
// `y[..., 0:2] = ...` assignments, instead of a Concat.
std::string yolov5_classic(bool inplace) {
  TestModel t(12, 6);
  NetBuilder b(t, WeightStyle::kInitializerAndInput, 5);
  const int nc = 3, no = nc + 5, na = 3;
  t.input("images", onnx::TensorProto::FLOAT, {1, 3, 64, 64});
  // Focus: x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]; the first
  // two as one two-axis Slice each, the others as a Slice per axis (both forms occur).
  std::vector<std::string> parts;
  for (int i = 0; i < 4; ++i) {
    const int64_t h0 = i % 2, w0 = i / 2;
    if (i < 2) {
      parts.push_back(
          b.op("Slice", {"images", b.ints("st", {h0, w0}), b.ints("en", {kInt64Max, kInt64Max}),
                         b.ints("ax", {2, 3}), b.ints("sp", {2, 2})}));
    } else {
      std::string r = b.op("Slice", {"images", b.ints("st", {h0}), b.ints("en", {kInt64Max}),
                                     b.ints("ax", {2}), b.ints("sp", {2})});
      parts.push_back(b.op("Slice", {r, b.ints("st", {w0}), b.ints("en", {kInt64Max}),
                                     b.ints("ax", {3}), b.ints("sp", {2})}));
    }
  }
  onnx::NodeProto* n;
  std::string focus = b.op("Concat", parts, &n);
  set_attr(n, "axis", int64_t{1});
  std::string x = conv_act(b, focus, 12, 16, 3, 1, "LeakyRelu");  // 32x32
  x = conv_act(b, x, 16, 32, 3, 2, "LeakyRelu");                  // 16x16
  // C3
  std::string a = conv_act(b, x, 32, 16, 1, 1, "LeakyRelu");
  std::string c = conv_act(b, x, 32, 16, 1, 1, "LeakyRelu");
  std::string m = conv_act(b, conv_act(b, a, 16, 16, 1, 1, "LeakyRelu"), 16, 16, 3, 1, "LeakyRelu");
  std::string cat = b.op("Concat", {b.op("Add", {a, m}), c}, &n);
  set_attr(n, "axis", int64_t{1});
  std::string p3 = conv_act(b, cat, 32, 32, 1, 1, "LeakyRelu");
  x = conv_act(b, p3, 32, 64, 3, 2, "LeakyRelu");  // 8x8
  // SPP
  std::string s = conv_act(b, x, 64, 32, 1, 1, "LeakyRelu");
  std::vector<std::string> spp = {s};
  for (int64_t k : {5, 9, 13}) {
    spp.push_back(b.op("MaxPool", {s}, &n));
    set_attr(n, "kernel_shape", std::vector<int64_t>{k, k});
    set_attr(n, "strides", std::vector<int64_t>{1, 1});
    set_attr(n, "pads", std::vector<int64_t>{k / 2, k / 2, k / 2, k / 2});
  }
  std::string sppcat = b.op("Concat", spp, &n);
  set_attr(n, "axis", int64_t{1});
  std::string p4 = conv_act(b, sppcat, 128, 64, 1, 1, "LeakyRelu");
  // Top-down: nearest Resize x2 (roi empty, scales given), Concat with P3.
  std::string up = b.op("Resize",
                        {conv_act(b, p4, 64, 32, 1, 1, "LeakyRelu"), b.floats("roi", {0}, {}),
                         b.floats("scales", {4}, {1, 1, 2, 2})},
                        &n);
  set_attr(n, "mode", std::string("nearest"));
  set_attr(n, "coordinate_transformation_mode", std::string("asymmetric"));
  set_attr(n, "nearest_mode", std::string("floor"));
  std::string td = b.op("Concat", {up, p3}, &n);
  set_attr(n, "axis", int64_t{1});
  p3 = conv_act(b, td, 64, 32, 1, 1, "LeakyRelu");
  // Detect on (P3, 16x16, stride 4) and (P4, 8x8, stride 8).
  std::vector<std::string> levels;
  const std::pair<std::string, int> feats[] = {{p3, 32}, {p4, 64}};
  for (int l = 0; l < 2; ++l) {
    const int64_t ny = l == 0 ? 16 : 8, stride = l == 0 ? 4 : 8;
    std::string y = b.conv(feats[l].first, feats[l].second, na * no, 1, 1);
    y = b.op("Reshape", {y, b.ints("shape", {1, na, no, ny, ny})});
    y = b.op("Transpose", {y}, &n);
    set_attr(n, "perm", std::vector<int64_t>{0, 1, 3, 4, 2});
    y = b.op("Sigmoid", {y});
    auto slice4 = [&](int64_t lo, int64_t hi) {
      return b.op("Slice", {y, b.ints("st", {lo}), b.ints("en", {hi}), b.ints("ax", {4})});
    };
    std::vector<float> grid;
    for (int64_t gy = 0; gy < ny; ++gy)
      for (int64_t gx = 0; gx < ny; ++gx) {
        grid.push_back(static_cast<float>(gx));
        grid.push_back(static_cast<float>(gy));
      }
    std::string xy = b.op("Mul", {slice4(0, 2), b.floats("two", {1}, {2.f})});
    xy = b.op("Sub", {xy, b.floats("half", {1}, {0.5f})});
    xy = b.op("Add", {xy, b.floats("grid", {1, 1, ny, ny, 2}, grid)});
    xy = b.op("Mul", {xy, b.floats("stride", {1}, {static_cast<float>(stride)})});
    std::string wh = b.op("Mul", {slice4(2, 4), b.floats("two", {1}, {2.f})});
    wh = b.op("Pow", {wh, b.floats("exp", {1}, {2.f})});
    wh = b.op("Mul", {wh, b.floats("anchors", {1, na, 1, 1, 2}, {10, 13, 16, 30, 33, 23})});
    std::string lv;
    if (inplace) {
      // indices [1, na, ny, nx, 2, 5]: the full coordinate of every element of y[..., c0:c0+2].
      auto index = [&](int64_t c0) {
        std::vector<int64_t> v;
        for (int64_t a = 0; a < na; ++a)
          for (int64_t gy = 0; gy < ny; ++gy)
            for (int64_t gx = 0; gx < ny; ++gx)
              for (int64_t c = c0; c < c0 + 2; ++c) v.insert(v.end(), {0, a, gy, gx, c});
        return b.op("Reshape", {b.ints("idx", v), b.ints("shape", {1, na, ny, ny, 2, 5})});
      };
      lv = b.op("ScatterND", {y, index(0), xy});
      lv = b.op("ScatterND", {lv, index(2), wh});
    } else {
      lv = b.op("Concat", {xy, wh, slice4(4, no)}, &n);
      set_attr(n, "axis", int64_t{4});
    }
    levels.push_back(b.op("Reshape", {lv, b.ints("shape", {1, -1, no})}));
  }
  b.op("Concat", levels, &n);
  set_attr(n, "axis", int64_t{1});
  n->set_output(0, "output");
  t.output("output");
  return t.bytes();
}

// Channel shuffle on a dynamic-shaped tensor, as torch exports it: Shape/Slice/Concat build the
// 5-D shape, Reshape, Transpose (0,2,1,3,4), Reshape back.
std::string shuffle(NetBuilder& b, const std::string& x, int c) {
  onnx::NodeProto* n;
  std::string shp = b.op("Shape", {x});
  std::string batch = b.op("Slice", {shp, b.ints("st", {0}), b.ints("en", {1})});
  std::string hw = b.op("Slice", {shp, b.ints("st", {2}), b.ints("en", {4})});
  std::string s5 = b.op("Concat", {batch, b.ints("g", {2}), b.ints("cg", {c / 2}), hw}, &n);
  set_attr(n, "axis", int64_t{0});
  std::string y = b.op("Transpose", {b.op("Reshape", {x, s5})}, &n);
  set_attr(n, "perm", std::vector<int64_t>{0, 2, 1, 3, 4});
  std::string s4 = b.op("Concat", {batch, b.ints("c", {c}), hw}, &n);
  set_attr(n, "axis", int64_t{0});
  return b.op("Reshape", {y, s4});
}

// ShuffleNetV2 unit; stride 2 has two branches, stride 1 splits the channels in halves.
std::string shuffle_unit(NetBuilder& b, const std::string& x, int cin, int cout, int stride) {
  const int half = cout / 2;
  onnx::NodeProto* n;
  std::string left, right = x;
  int rc = cin;
  if (stride == 2) {
    left = conv_bn(b, conv_bn(b, x, cin, cin, 3, 2, "", cin), cin, half, 1, 1, "Relu");
  } else {
    left = b.op("Split", {x}, &n);  // two equal halves; the second output added here
    right = left + "_second";
    n->add_output(right);
    set_attr(n, "axis", int64_t{1});
    rc = half;
  }
  std::string r = conv_bn(b, right, rc, half, 1, 1, "Relu");
  r = conv_bn(b, r, half, half, 3, stride, "", half);
  r = conv_bn(b, r, half, half, 1, 1, "Relu");
  std::string cat = b.op("Concat", {left, r}, &n);
  set_attr(n, "axis", int64_t{1});
  return shuffle(b, cat, cout);
}

// NanoDet-like (opset 11, symbolic batch/height/width): Conv-BN-Relu stem, MaxPool, ShuffleNetV2
// units (Split, depthwise convs, unfused BatchNormalization, channel shuffle), a bilinear FPN
// (Resize linear with scales, pytorch_half_pixel; Resize linear with sizes, align_corners),
// Clip(0, 6) and Sigmoid heads.
std::string shufflenet_fpn() {
  TestModel t(11, 6);
  NetBuilder b(t, WeightStyle::kInitializer, 11);
  t.input("input", onnx::TensorProto::FLOAT, {1, 3, 64, 64}, {"batch", "", "height", "width"});
  onnx::NodeProto* n;
  std::string x = conv_bn(b, "input", 3, 24, 3, 2, "Relu");
  x = b.op("MaxPool", {x}, &n);
  set_attr(n, "kernel_shape", std::vector<int64_t>{3, 3});
  set_attr(n, "strides", std::vector<int64_t>{2, 2});
  set_attr(n, "pads", std::vector<int64_t>{1, 1, 1, 1});
  std::string c3 = shuffle_unit(b, shuffle_unit(b, x, 24, 48, 2), 48, 48, 1);   // /8
  std::string c4 = shuffle_unit(b, shuffle_unit(b, c3, 48, 96, 2), 96, 96, 1);  // /16
  std::string c5 = shuffle_unit(b, c4, 96, 96, 2);                              // /32
  // FPN: c5 -> c4 by scales (pytorch_half_pixel), c4 -> c3 by sizes (align_corners).
  std::string l5 = b.conv(c5, 96, 48, 1);
  std::string u5 =
      b.op("Resize", {l5, b.floats("roi", {0}, {}), b.floats("scales", {4}, {1, 1, 2, 2})}, &n);
  set_attr(n, "mode", std::string("linear"));
  set_attr(n, "coordinate_transformation_mode", std::string("pytorch_half_pixel"));
  std::string p4 = b.op("Add", {b.conv(c4, 96, 48, 1), u5});
  std::string shp = b.op("Shape", {c3});
  std::string sizes = b.op("Concat",
                           {b.op("Slice", {shp, b.ints("st", {0}), b.ints("en", {2})}),
                            b.op("Slice", {shp, b.ints("st", {2}), b.ints("en", {4})})},
                           &n);
  set_attr(n, "axis", int64_t{0});
  std::string u4 =
      b.op("Resize", {p4, b.floats("roi", {0}, {}), b.floats("scales", {0}, {}), sizes}, &n);
  set_attr(n, "mode", std::string("linear"));
  set_attr(n, "coordinate_transformation_mode", std::string("align_corners"));
  std::string p3 = b.op("Add", {c3, u4});
  auto head = [&](const std::string& p, const std::string& out) {
    std::string h =
        b.op("Clip", {b.conv(p, 48, 32, 3), b.floats("lo", {}, {0.f}), b.floats("hi", {}, {6.f})});
    b.op("Sigmoid", {b.conv(h, 32, 8, 1)}, &n);
    n->set_output(0, out);
    t.output(out);
  };
  head(p3, "p3_scores");
  head(p4, "p4_scores");
  return t.bytes();
}

// One MobileNetV3 inverted residual: 1x1 expand (BN, HardSwish), depthwise (BN, HardSwish),
// optional squeeze-excite (GlobalAveragePool, 1x1 Relu, 1x1 HardSigmoid, Mul), 1x1 project (BN),
// residual Add when shapes allow.
std::string inverted_residual(NetBuilder& b, const std::string& x, int cin, int exp, int cout,
                              int stride, bool se) {
  onnx::NodeProto* n;
  std::string y = conv_bn(b, x, cin, exp, 1, 1, "HardSwish");
  y = conv_bn(b, y, exp, exp, 3, stride, "HardSwish", exp);
  if (se) {
    std::string s = b.op("GlobalAveragePool", {y});
    s = b.op("Relu", {b.conv(s, exp, exp / 4, 1)});
    s = b.op("HardSigmoid", {b.conv(s, exp / 4, exp, 1)}, &n);
    set_attr(n, "alpha", 1.f / 6.f);
    set_attr(n, "beta", 0.5f);
    y = b.op("Mul", {y, s});
  }
  y = conv_bn(b, y, exp, cout, 1, 1, "");
  return stride == 1 && cin == cout ? b.op("Add", {x, y}) : y;
}

// MobileNetV3-like classifier (opset 14, weights in Constant nodes, symbolic batch): HardSwish,
// HardSigmoid squeeze-excite, unfused BatchNorm, GlobalAveragePool, Flatten, Gemm (transB),
// Dropout (inference), Softmax.
std::string mobilenet_v3() {
  TestModel t(14, 7);
  NetBuilder b(t, WeightStyle::kConstantNode, 13);
  t.input("x", onnx::TensorProto::FLOAT, {1, 3, 64, 64}, {"N"});
  onnx::NodeProto* n;
  std::string y = conv_bn(b, "x", 3, 16, 3, 2, "HardSwish");
  y = inverted_residual(b, y, 16, 32, 16, 1, true);
  y = inverted_residual(b, y, 16, 48, 24, 2, false);
  y = inverted_residual(b, y, 24, 64, 24, 1, true);
  y = conv_bn(b, y, 24, 64, 1, 1, "HardSwish");
  y = b.op("Flatten", {b.op("GlobalAveragePool", {y})});
  auto gemm = [&](const std::string& in, int k, int m) {
    const float a = std::sqrt(3.f / static_cast<float>(k));
    std::string w = b.floats("fc_w", {m, k}, b.uniform(static_cast<size_t>(m * k), -a, a));
    std::string bias = b.floats("fc_b", {m}, b.uniform(static_cast<size_t>(m), -0.2f, 0.2f));
    std::string r = b.op("Gemm", {in, w, bias}, &n);
    set_attr(n, "transB", int64_t{1});
    return r;
  };
  y = b.op("Dropout", {b.op("HardSwish", {gemm(y, 64, 32)})});
  b.op("Softmax", {gemm(y, 32, 10)}, &n);
  n->set_output(0, "probs");
  t.output("probs");
  return t.bytes();
}

// A darknet-converter net (opset 9, IR 4, initializers also inputs): Conv-BN-LeakyRelu, MaxPool 2
// stride 2, AveragePool without padded cells, Upsample (scales input), a route Concat, Clip with
// min/max attributes, broadcast Mul by a per-channel constant.
std::string darknet_opset9() {
  TestModel t(9, 4);
  NetBuilder b(t, WeightStyle::kInitializerAndInput, 9);
  t.input("data", onnx::TensorProto::FLOAT, {1, 3, 48, 80});
  onnx::NodeProto* n;
  auto cbl = [&](const std::string& x, int cin, int cout, int k, int s) {
    std::string y = b.op("LeakyRelu", {conv_bn(b, x, cin, cout, k, s, "")}, &n);
    set_attr(n, "alpha", 0.1f);
    return y;
  };
  std::string x = cbl("data", 3, 16, 3, 1);
  x = b.op("MaxPool", {x}, &n);
  set_attr(n, "kernel_shape", std::vector<int64_t>{2, 2});
  set_attr(n, "strides", std::vector<int64_t>{2, 2});
  std::string r1 = cbl(x, 16, 32, 3, 1);  // 24x40
  x = b.op("MaxPool", {r1}, &n);
  set_attr(n, "kernel_shape", std::vector<int64_t>{2, 2});
  set_attr(n, "strides", std::vector<int64_t>{2, 2});
  x = cbl(x, 32, 64, 3, 1);  // 12x20
  x = b.op("AveragePool", {x}, &n);
  set_attr(n, "kernel_shape", std::vector<int64_t>{3, 3});
  set_attr(n, "strides", std::vector<int64_t>{1, 1});
  set_attr(n, "pads", std::vector<int64_t>{1, 1, 1, 1});
  set_attr(n, "count_include_pad", int64_t{0});
  std::string up =
      b.op("Upsample", {cbl(x, 64, 32, 1, 1), b.floats("scales", {4}, {1, 1, 2, 2})}, &n);
  set_attr(n, "mode", std::string("nearest"));
  std::string route = b.op("Concat", {up, r1}, &n);
  set_attr(n, "axis", int64_t{1});
  x = b.op("Clip", {cbl(route, 64, 32, 3, 1)}, &n);
  set_attr(n, "min", -1.f);
  set_attr(n, "max", 1.5f);
  x = b.op("Mul", {x, b.floats("chscale", {1, 32, 1, 1}, b.uniform(32, 0.5f, 2.f))});
  b.conv(x, 32, 18, 1);
  t.g->mutable_node(t.g->node_size() - 1)->set_output(0, "yolo");
  t.output("yolo");
  return t.bytes();
}

// A net of the activations and layers older detectors and face models use (opset 13, initializers):
// YOLOv4's Mish as torch writes it before opset 18 (Softplus, Tanh, Mul), PRelu with a [C,1,1]
// slope, Elu, a pixel-shuffle upsampler (DepthToSpace CRD), SpaceToDepth, InstanceNormalization
// and a ReduceL2 normalisation of the output embedding; symbolic batch. Several of these run as
// generic steps on the cpu backend between blocked convs.
std::string mixed_activations() {
  TestModel t(13);
  NetBuilder b(t, WeightStyle::kInitializer, 13);
  t.input("x", onnx::TensorProto::FLOAT, {1, 3, 32, 32}, {"batch", "", "", ""});
  onnx::NodeProto* n;
  auto mish = [&](const std::string& x) {
    return b.op("Mul", {x, b.op("Tanh", {b.op("Softplus", {x})})});
  };
  std::string y = mish(conv_bn(b, "x", 3, 16, 3, 2, ""));  // 16x16x16
  y = b.op("PRelu",
           {b.conv(y, 16, 32, 3, 1), b.floats("slope", {32, 1, 1}, b.uniform(32, 0.05f, 0.3f))});
  std::string skip = y;
  y = b.op("Elu", {b.conv(y, 32, 32, 3, 2)}, &n);  // 32x8x8
  set_attr(n, "alpha", 0.8f);
  y = b.op("DepthToSpace", {b.conv(y, 32, 64, 1, 1)}, &n);  // 16x16x16
  set_attr(n, "blocksize", int64_t{2});
  set_attr(n, "mode", std::string("CRD"));
  y = b.op("Concat", {y, skip}, &n);  // 48x16x16
  set_attr(n, "axis", int64_t{1});
  y = b.op("SpaceToDepth", {y}, &n);  // 192x8x8
  set_attr(n, "blocksize", int64_t{2});
  y = b.conv(y, 192, 32, 1, 1);
  y = b.op("InstanceNormalization", {y, b.floats("in_scale", {32}, b.uniform(32, 0.5f, 1.5f)),
                                     b.floats("in_bias", {32}, b.uniform(32, -0.2f, 0.2f))});
  y = mish(b.conv(y, 32, 24, 3, 1));
  y = b.op("Flatten", {b.op("GlobalAveragePool", {y})});
  std::string norm = b.op("ReduceL2", {y}, &n);
  set_attr(n, "axes", std::vector<int64_t>{1});
  b.op("Div", {y, norm}, &n);
  n->set_output(0, "embedding");
  t.output("embedding");
  return t.bytes();
}

// An end-to-end (NMS-free) head as YOLOv10 / YOLO26 exports write it (opset 17): the detector's
// [1, 4+nc, N] predictions are transposed and split, ReduceMax picks each anchor's best class
// score, TopK keeps max_det anchors, GatherElements (indices tiled by Tile) takes their boxes and
// scores, a second TopK over the flattened scores, Div/Mod recover anchor and class (int64), and
// GatherND with batch_dims=1 (torch's boxes[i, index // nc]) gathers the final boxes. Output
// [1, max_det, 6]: x, y, w, h, score, class.
std::string end2end_head() {
  TestModel t(17);
  NetBuilder b(t, WeightStyle::kInitializer, 17);
  const int nc = 5, max_det = 10;
  t.input("images", onnx::TensorProto::FLOAT, {1, 3, 32, 32});
  onnx::NodeProto* n;
  auto attr_axis = [&](const std::string& op, std::vector<std::string> in, int64_t axis) {
    std::string y = b.op(op, std::move(in), &n);
    set_attr(n, "axis", axis);
    return y;
  };
  const std::string c = b.conv("images", 3, 16, 3, 2);
  std::string x = b.op("Mul", {c, b.op("Sigmoid", {c})});
  std::string p = b.conv(x, 16, 4 + nc, 3, 2);  // [1, 9, 8, 8]
  p = b.op("Reshape", {p, b.ints("shape", {1, 4 + nc, 64})});
  p = b.op("Transpose", {p}, &n);  // [1, 64, 9]
  set_attr(n, "perm", std::vector<int64_t>{0, 2, 1});
  onnx::NodeProto* split;
  b.op("Split", {p, b.ints("split", {4, nc})}, &split);
  set_attr(split, "axis", int64_t{-1});
  split->set_output(0, "boxes_all");
  split->add_output("logits_all");
  std::string boxes = "boxes_all";
  std::string scores = b.op("Sigmoid", {"logits_all"});
  std::string amax = b.op("ReduceMax", {scores}, &n);  // [1, 64]
  set_attr(n, "axes", std::vector<int64_t>{-1});
  set_attr(n, "keepdims", int64_t{0});
  auto topk = [&](const std::string& in, std::string* values) {
    onnx::NodeProto* tk;
    std::string v = b.op("TopK", {in, b.ints("k", {max_det})}, &tk);
    set_attr(tk, "axis", int64_t{-1});
    tk->add_output(v + "_indices");
    if (values) *values = v;
    return v + "_indices";
  };
  std::string index = b.op("Unsqueeze", {topk(amax, nullptr), b.ints("axes", {-1})});  // [1,10,1]
  std::string sel_boxes =
      attr_axis("GatherElements", {boxes, b.op("Tile", {index, b.ints("reps", {1, 1, 4})})}, 1);
  std::string sel_scores =
      attr_axis("GatherElements", {scores, b.op("Tile", {index, b.ints("reps", {1, 1, nc})})}, 1);
  std::string flat = b.op("Reshape", {sel_scores, b.ints("shape", {1, -1})});  // [1, 50]
  std::string top_scores;
  std::string flat_index = topk(flat, &top_scores);
  std::string nc_i = b.ints("nc", {nc});
  std::string anchor = b.op("Div", {flat_index, nc_i});
  std::string cls = b.op("Mod", {flat_index, nc_i});
  std::string final_boxes =
      b.op("GatherND", {sel_boxes, b.op("Unsqueeze", {anchor, b.ints("axes", {-1})})}, &n);
  set_attr(n, "batch_dims", int64_t{1});
  std::string cls_f = b.op("Cast", {cls}, &n);
  set_attr(n, "to", int64_t{onnx::TensorProto::FLOAT});
  attr_axis("Concat",
            {final_boxes, b.op("Unsqueeze", {top_scores, b.ints("axes", {-1})}),
             b.op("Unsqueeze", {cls_f, b.ints("axes", {-1})})},
            -1);
  n->set_output(0, "output0");
  t.output("output0");
  return t.bytes();
}

// A QDQ-quantized net as ONNX Runtime's quantization tools write it (opset 13): int8 weights with
// per-channel scales behind DequantizeLinear, uint8 activations through QuantizeLinear /
// DequantizeLinear pairs around each conv. Each DequantizeLinear -> Conv becomes a ConvInteger
// (fuse_quantized_conv).
std::string qdq_int8() {
  TestModel t(13);
  NetBuilder b(t, WeightStyle::kInitializer, 21);
  t.input("x", onnx::TensorProto::FLOAT, {1, 3, 24, 24});
  onnx::NodeProto* n;
  auto qdq = [&](const std::string& x, float scale, int zp, const std::string& tag) {
    const std::string s = b.floats(tag + "_s", {}, {scale});
    const std::string z = t.int_init(tag + "_z", onnx::TensorProto::UINT8, {}, {zp});
    return b.op("DequantizeLinear", {b.op("QuantizeLinear", {x, s, z}), s, z});
  };
  std::mt19937 rng(5);
  auto qconv = [&](const std::string& x, int cin, int cout, const std::string& tag) {
    std::vector<int> w(static_cast<size_t>(cout * cin * 9));
    for (int& e : w) e = static_cast<int>(rng() % 255) - 127;
    std::vector<float> scales = b.uniform(static_cast<size_t>(cout), 0.002f, 0.006f);
    const std::string wq = t.int_init(tag + "_wq", onnx::TensorProto::INT8, {cout, cin, 3, 3}, w);
    const std::string wz =
        t.int_init(tag + "_wz", onnx::TensorProto::INT8, {cout}, std::vector<int>(cout, 0));
    std::string wf = b.op("DequantizeLinear", {wq, b.floats(tag + "_ws", {cout}, scales), wz}, &n);
    set_attr(n, "axis", int64_t{0});
    std::string y =
        b.op("Conv", {x, wf, b.floats(tag + "_b", {cout}, b.uniform(cout, -0.1f, 0.1f))}, &n);
    set_attr(n, "pads", std::vector<int64_t>{1, 1, 1, 1});
    return b.op("Relu", {y});
  };
  std::string y = qdq("x", 1.f / 255, 0, "in");
  y = qdq(qconv(y, 3, 16, "c1"), 0.02f, 0, "a1");
  y = qdq(qconv(y, 16, 16, "c2"), 0.02f, 0, "a2");
  b.op("GlobalAveragePool", {qconv(y, 16, 8, "c3")}, &n);
  n->set_output(0, "features");
  t.output("features");
  return t.bytes();
}

// The same kind of net in ONNX Runtime's QOperator format (opset 13): QuantizeLinear once, then
// QLinearConv (uint8 data, int8 per-channel weights, int32 bias), the com.microsoft QLinearSigmoid
// and QLinearMul (SiLU), QLinearLeakyRelu, QLinearAdd, QLinearConcat, QLinearAveragePool,
// QLinearGlobalAveragePool and QLinearMatMul, DequantizeLinear at the end.
std::string qoperator_int8() {
  TestModel t(13);
  auto* ms = t.m.add_opset_import();
  ms->set_domain("com.microsoft");
  ms->set_version(1);
  NetBuilder b(t, WeightStyle::kInitializer, 23);
  t.input("x", onnx::TensorProto::FLOAT, {1, 3, 16, 16});
  int count = 0;
  // A quantized tensor's (scale, zero point) initializers.
  auto params = [&](float scale, int zp) {
    const std::string tag = "q" + std::to_string(count++);
    return std::pair{b.floats(tag + "_s", {}, {scale}),
                     t.int_init(tag + "_z", onnx::TensorProto::UINT8, {}, {zp})};
  };
  auto node = [&](const std::string& op, std::vector<std::string> in, bool microsoft) {
    const std::string out = "v" + std::to_string(count++);
    onnx::NodeProto* n = t.node(op, out + "_node", std::move(in), {out});
    if (microsoft) n->set_domain("com.microsoft");
    return std::pair{out, n};
  };
  std::mt19937 rng(9);
  const auto [s0, z0] = params(1.f / 255, 0);
  const std::string x0 = b.op("QuantizeLinear", {"x", s0, z0});
  // QLinearConv 3 -> 8, 3x3, per-channel int8 weights, int32 bias.
  std::vector<int> w(8 * 3 * 9), bias(8);
  for (int& e : w) e = static_cast<int>(rng() % 255) - 127;
  for (int& e : bias) e = static_cast<int>(rng() % 2001) - 1000;
  const std::string wq = t.int_init("wq", onnx::TensorProto::INT8, {8, 3, 3, 3}, w);
  const std::string ws = b.floats("ws", {8}, b.uniform(8, 0.002f, 0.006f));
  const std::string wz = t.int_init("wz", onnx::TensorProto::INT8, {8}, std::vector<int>(8, 0));
  const std::string bq = t.int_init("bq", onnx::TensorProto::INT32, {8}, bias);
  const auto [s1, z1] = params(0.02f, 128);
  auto [c1, conv] = node("QLinearConv", {x0, s0, z0, wq, ws, wz, s1, z1, bq}, false);
  set_attr(conv, "pads", std::vector<int64_t>{1, 1, 1, 1});
  set_attr(conv, "kernel_shape", std::vector<int64_t>{3, 3});
  const auto [s2, z2] = params(1.f / 255, 0);
  const std::string sg = node("QLinearSigmoid", {c1, s1, z1, s2, z2}, true).first;
  const auto [s3, z3] = params(0.015f, 100);
  const std::string silu = node("QLinearMul", {c1, s1, z1, sg, s2, z2, s3, z3}, true).first;
  auto [lr, lrn] = node("QLinearLeakyRelu", {silu, s3, z3, s3, z3}, true);
  set_attr(lrn, "alpha", 0.1f);
  const auto [s4, z4] = params(0.03f, 120);
  const std::string sum = node("QLinearAdd", {silu, s3, z3, lr, s3, z3, s4, z4}, true).first;
  auto [cat, catn] = node("QLinearConcat", {s4, z4, sum, s4, z4, c1, s1, z1}, true);
  set_attr(catn, "axis", int64_t{1});
  auto [pool, pooln] = node("QLinearAveragePool", {cat, s4, z4, s4, z4}, true);
  set_attr(pooln, "kernel_shape", std::vector<int64_t>{2, 2});
  set_attr(pooln, "strides", std::vector<int64_t>{2, 2});
  const std::string gap = node("QLinearGlobalAveragePool", {pool, s4, z4, s4, z4}, true).first;
  const std::string flat = b.op("Flatten", {gap});
  std::vector<int> m(16 * 5);
  for (int& e : m) e = static_cast<int>(rng() % 255) - 127;
  const std::string mq = t.int_init("mq", onnx::TensorProto::INT8, {16, 5}, m);
  const std::string mz = t.int_init("mz", onnx::TensorProto::INT8, {}, {0});
  const auto [s5, z5] = params(0.01f, 128);
  const std::string mm =
      node("QLinearMatMul", {flat, s4, z4, mq, b.floats("ms", {}, {0.004f}), mz, s5, z5}, false)
          .first;
  t.node("DequantizeLinear", "out_node", {mm, s5, z5}, {"features"});
  t.output("features");
  return t.bytes();
}

// A net as ONNX Runtime's quantize_dynamic writes it (opset 13): DynamicQuantizeLinear on the
// activations, ConvInteger / MatMulInteger with int8 weights, then Cast -> Mul by the product of
// the run-time and weight scales -> Add bias.
std::string dynamic_int8() {
  TestModel t(13);
  NetBuilder b(t, WeightStyle::kInitializer, 29);
  t.input("x", onnx::TensorProto::FLOAT, {1, 3, 12, 12});
  std::mt19937 rng(31);
  auto dynamic = [&](const std::string& x, const std::string& tag) {
    onnx::NodeProto* n =
        t.node("DynamicQuantizeLinear", tag + "_dq", {x}, {tag + "_q", tag + "_s", tag + "_z"});
    return std::array<std::string, 3>{n->output(0), n->output(1), n->output(2)};
  };
  auto dequantized = [&](const std::string& acc, const std::string& xs, float ws,
                         const std::string& tag) {
    onnx::NodeProto* n;
    const std::string f = b.op("Cast", {acc}, &n);
    set_attr(n, "to", int64_t{onnx::TensorProto::FLOAT});
    const std::string scale = b.op("Mul", {xs, b.floats(tag + "_ws", {}, {ws})});
    return b.op("Mul", {f, scale});
  };
  std::vector<int> w(8 * 3 * 9);
  for (int& e : w) e = static_cast<int>(rng() % 255) - 127;
  const auto [q1, s1, z1] = dynamic("x", "a1");
  onnx::NodeProto* n;
  const std::string c =
      b.op("ConvInteger", {q1, t.int_init("wq", onnx::TensorProto::INT8, {8, 3, 3, 3}, w), z1}, &n);
  set_attr(n, "pads", std::vector<int64_t>{1, 1, 1, 1});
  std::string y = b.op("Add", {dequantized(c, s1, 0.004f, "c"),
                               b.floats("cb", {1, 8, 1, 1}, b.uniform(8, -0.2f, 0.2f))});
  y = b.op("Flatten", {b.op("GlobalAveragePool", {b.op("Relu", {y})})});
  std::vector<int> m(8 * 4);
  for (int& e : m) e = static_cast<int>(rng() % 255) - 127;
  const auto [q2, s2, z2] = dynamic(y, "a2");
  const std::string mm =
      b.op("MatMulInteger", {q2, t.int_init("mq", onnx::TensorProto::INT8, {8, 4}, m), z2}, &n);
  b.op("Relu", {dequantized(mm, s2, 0.01f, "m")}, &n);
  n->set_output(0, "scores");
  t.output("scores");
  return t.bytes();
}

struct StyleCase {
  const char* name;
  std::function<std::string()> build;
  std::vector<Dims> shapes;  // input shapes to run at (the first is the exported one)
  // Norm-wise bound against the reference backend. Quantized nets get more: a float difference
  // of 1e-7 can move an activation across a rounding boundary, a whole quantum (0.02 here).
  double tol = 1e-5;
};

const std::vector<StyleCase>& style_cases() {
  static const std::vector<StyleCase> cases = {
      {"yolov5_classic", [] { return yolov5_classic(false); }, {{1, 3, 64, 64}}},
      {"yolov5_inplace_scatternd", [] { return yolov5_classic(true); }, {{1, 3, 64, 64}}},
      {"shufflenet_fpn", shufflenet_fpn, {{1, 3, 64, 64}, {2, 3, 96, 128}}},
      {"mobilenet_v3", mobilenet_v3, {{1, 3, 64, 64}, {3, 3, 64, 64}}},
      {"darknet_opset9", darknet_opset9, {{1, 3, 48, 80}}},
      {"mixed_activations", mixed_activations, {{1, 3, 32, 32}, {2, 3, 32, 32}}},
      {"end2end_head", end2end_head, {{1, 3, 32, 32}}},
      {"qdq_int8", qdq_int8, {{1, 3, 24, 24}}, 1e-3},
      {"qoperator_int8", qoperator_int8, {{1, 3, 16, 16}}, 2e-2},
      {"dynamic_int8", dynamic_int8, {{1, 3, 12, 12}}, 1e-5},
  };
  return cases;
}

Tensor random_input(const Dims& d, uint32_t seed) {
  Tensor x(DType::kF32, d);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  float* p = x.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] = u(rng);
  return x;
}

class ExporterStyle : public ::testing::TestWithParam<int> {};

TEST_P(ExporterStyle, CpuBackendMatchesReference) {
  const StyleCase& c = style_cases()[static_cast<size_t>(GetParam())];
  const std::string bytes = c.build();
  const char* dump = std::getenv("SHOAL_EXPORTER_STYLES_DIR");
  if (dump) save_bytes(std::string(dump) + "/" + c.name + ".onnx", bytes);
  for (size_t si = 0; si < c.shapes.size(); ++si) {
    const Dims& shape = c.shapes[si];
    Graph g = import_onnx_bytes(bytes.data(), bytes.size(), "");
    ASSERT_EQ(g.inputs.size(), 1u) << c.name << ": weights listed as inputs must not be inputs";
    const std::string in_name = g.value(g.inputs[0]).name;
    Tensor x = random_input(shape, 7 + static_cast<uint32_t>(si));
    std::vector<std::vector<Tensor>> outs;
    std::vector<TensorInfo> infos;
    for (const char* backend : {"cpu", "reference"}) {
      CompileRequest req;
      req.backend = backend;
      req.input_dims[in_name] = shape;
      auto cm = CompiledModel::compile(g, req);
      Session s(cm);
      outs.push_back(s.run({x}));
      infos = cm->outputs();
    }
    ASSERT_EQ(outs[0].size(), outs[1].size());
    for (size_t i = 0; i < outs[0].size(); ++i) {
      ASSERT_EQ(outs[0][i].dims(), outs[1][i].dims()) << c.name << " " << infos[i].name;
      Error3 e = compare(outs[0][i], outs[1][i]);
      EXPECT_LE(e.norm_rel, c.tol) << c.name << " " << infos[i].name << " " << e.str();
      EXPECT_LE(e.max_abs, 10 * c.tol * e.ref_max_abs)
          << c.name << " " << infos[i].name << " " << e.str();
      EXPECT_GT(e.ref_max_abs, 0.0) << c.name << " " << infos[i].name << ": all-zero output";
      if (dump) {
        std::string tag = std::string(dump) + "/" + c.name + "_" + std::to_string(si);
        write_npy(tag + "_" + infos[i].name + ".npy", outs[0][i]);
        if (i == 0) write_npy(tag + "_input.npy", x);
      }
    }
  }
}

// The QDQ net's convolutions run as ConvInteger (int8 data and weights, the dequantization fused
// after the sums) and compute what the model as written computes (the reference backend without
// graph passes): within one activation quantum (0.02) everywhere.
TEST(ExporterQdq, ConvolutionsRunOnInt8DataAndMatchTheModelAsWritten) {
  const std::string bytes = qdq_int8();
  Graph g = import_onnx_bytes(bytes.data(), bytes.size(), "");
  CompileRequest req;
  auto cm = CompiledModel::compile(g, req);
  EXPECT_EQ(cm->pass_stats().at("fuse_quantized_conv"), 3);
  int convs = 0;
  for (const Step& st : cm->program().steps) {
    EXPECT_NE(st.op, "DequantizeLinear") << st.label;
    EXPECT_NE(st.op, "Conv") << st.label;
    convs += st.op == "ConvInteger" && st.label.find("[generic") == std::string::npos;
  }
  EXPECT_EQ(convs, 3);
  CompileRequest as_written;
  as_written.backend = "reference";
  as_written.optimize_graph = false;
  const Tensor x = random_input({1, 3, 24, 24}, 3);
  const Tensor got = Session(cm).run({x})[0];
  const Tensor want = Session(CompiledModel::compile(g, as_written)).run({x})[0];
  ASSERT_EQ(got.dims(), want.dims());
  for (int64_t i = 0; i < got.numel(); ++i) {
    EXPECT_NEAR(got.get_f64(i), want.get_f64(i), 0.02) << "feature " << i;
  }
}

// ONNX Runtime's QOperator format imports as QDQ: every QLinear* node becomes DequantizeLinear ->
// float op -> QuantizeLinear (no com.microsoft node is left), the QLinearConv runs as a
// ConvInteger, and the result is the model as written (the reference backend without passes)
// within one output quantum (0.01).
TEST(ExporterQdq, QOperatorFormatRunsAsQdq) {
  const std::string bytes = qoperator_int8();
  Graph g = import_onnx_bytes(bytes.data(), bytes.size(), "");
  for (const Node& n : g.nodes) EXPECT_TRUE(n.domain.empty()) << n.domain << "." << n.op_type;
  auto cm = CompiledModel::compile(g, CompileRequest{});
  EXPECT_EQ(cm->pass_stats().at("fuse_quantized_conv"), 1);
  for (const Step& st : cm->program().steps) {
    EXPECT_EQ(st.label.find("[generic"), std::string::npos) << st.label;
  }
  CompileRequest as_written;
  as_written.backend = "reference";
  as_written.optimize_graph = false;
  const Tensor x = random_input({1, 3, 16, 16}, 4);
  const Tensor got = Session(cm).run({x})[0];
  const Tensor want = Session(CompiledModel::compile(g, as_written)).run({x})[0];
  ASSERT_EQ(got.dims(), (Dims{1, 5}));
  for (int64_t i = 0; i < got.numel(); ++i) {
    EXPECT_NEAR(got.get_f64(i), want.get_f64(i), 0.0101) << "feature " << i;
  }
}

// Opsets 20-22 changed only the types Shoal's ops accept: the same detector exported at each runs
// bit for bit as at opset 17 (ONNX Runtime 1.30 also gives identical outputs for yolo11n-seg
// relabelled 17 -> 20..23).
TEST(ExporterOpsets, NewerOpsetsRunAsOpset17) {
  BuilderOptions o;
  o.imgsz = 64;
  o.num_classes = 5;
  o.seed = 3;
  auto run = [&](int opset) {
    o.opset = opset;
    const std::string bytes = build_yolo_detector_onnx(o);
    Graph g = import_onnx_bytes(bytes.data(), bytes.size(), "");
    EXPECT_EQ(g.opset, opset);
    CompileRequest req;
    req.backend = "cpu";
    Session s(CompiledModel::compile(g, req));
    return s.run({random_input({1, 3, 64, 64}, 11)});
  };
  const std::vector<Tensor> base = run(17);
  for (int opset : {19, 20, 21, 22}) {
    const std::vector<Tensor> out = run(opset);
    ASSERT_EQ(out.size(), base.size());
    for (size_t i = 0; i < out.size(); ++i) {
      ASSERT_EQ(out[i].nbytes(), base[i].nbytes());
      EXPECT_EQ(std::memcmp(out[i].raw(), base[i].raw(), out[i].nbytes()), 0) << "opset " << opset;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Styles, ExporterStyle,
                         ::testing::Range(0, static_cast<int>(style_cases().size())),
                         [](const ::testing::TestParamInfo<int>& i) {
                           return std::string(style_cases()[static_cast<size_t>(i.param)].name);
                         });

}  // namespace
}  // namespace shoal
