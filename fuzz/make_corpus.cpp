// Writes the fuzz seed corpus (every file < 20 KB): tiny builder classifiers, two hand-built
// graphs with the detector's op patterns (the full builder detector is ~100 KB even at 8
// channels), and optionally a few ONNX conformance models.
// Usage: fuzz_make_corpus OUT_DIR [ONNX_NODE_TEST_DIR]
#include <onnx/onnx_pb.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "model_builder/builder.h"
#include "model_builder/onnx_test_model.h"

namespace {

using shoal::set_attr;

// A TestModel whose values get short generated names ("w3" initializers, "c4" int64 Constant
// outputs, "v5" node outputs) and whose nodes stay unnamed, to keep the seeds small.
struct Mini {
  shoal::TestModel t;
  int count = 0;

  explicit Mini(int opset) : t(opset, 8, "shoal-corpus", "") {
    t.metadata("names", "{0: 'a', 1: 'b'}");
  }
  std::string f32(const std::vector<int64_t>& dims, const std::vector<float>& v) {
    return t.float_init("w" + std::to_string(count++), dims, v)->name();
  }
  std::string i64(const std::vector<int64_t>& v) {  // as a Constant node
    std::string out = "c" + std::to_string(count++);
    t.constant("", out, shoal::int64_tensor("", {static_cast<int64_t>(v.size())}, v));
    return out;
  }
  onnx::NodeProto* op(const std::string& type, const std::vector<std::string>& in, int n_out = 1) {
    std::vector<std::string> out;
    for (int k = 0; k < n_out; ++k) out.push_back("v" + std::to_string(count++));
    return t.node(type, "", in, out);
  }
  std::string op1(const std::string& type, const std::vector<std::string>& in) {
    return op(type, in)->output(0);
  }
  std::vector<float> ramp(size_t n, float scale) {
    std::vector<float> v(n);
    for (size_t k = 0; k < n; ++k) v[k] = scale * static_cast<float>((k * 7) % 11) - scale * 5;
    return v;
  }
};

// A QDQ-quantized Conv as ONNX Runtime writes it: uint8 activations with a zero point through
// QuantizeLinear/DequantizeLinear, int8 weights with per-channel scales behind DequantizeLinear
// (fused into a ConvInteger at load), then a quantized Sigmoid and a residual Add.
std::string qdq_patterns() {
  Mini b(13);
  b.t.input("x", onnx::TensorProto::FLOAT, {1, 4, 6, 6});
  const std::string s = b.f32({}, {0.02f});
  b.t.int_init("zp", onnx::TensorProto::UINT8, {}, {128});
  std::vector<int> w(144);
  for (int k = 0; k < 144; ++k) w[static_cast<size_t>(k)] = (k * 37) % 255 - 127;
  b.t.int_init("wq", onnx::TensorProto::INT8, {4, 4, 3, 3}, w);
  const std::string ws = b.f32({4}, {0.003f, 0.004f, 0.002f, 0.005f});
  const std::string xq =
      b.op1("DequantizeLinear", {b.op1("QuantizeLinear", {"x", s, "zp"}), s, "zp"});
  auto* dw = b.op("DequantizeLinear", {"wq", ws});
  set_attr(dw, "axis", int64_t{0});
  auto* c = b.op("Conv", {xq, dw->output(0), b.f32({4}, {0.1f, -0.1f, 0, 0.2f})});
  set_attr(c, "pads", std::vector<int64_t>{1, 1, 1, 1});
  const std::string y =
      b.op1("DequantizeLinear", {b.op1("QuantizeLinear", {c->output(0), s, "zp"}), s, "zp"});
  b.op("Add", {b.op1("Sigmoid", {y}), xq})->set_output(0, "out");
  b.t.output("out");
  return b.t.bytes();
}

// ONNX Runtime's QOperator format: QLinearConv (per-tensor int8 weights, int32 bias), the
// com.microsoft QLinearSigmoid, QLinearMul, QLinearConcat and QLinearGlobalAveragePool.
std::string qoperator_patterns() {
  Mini b(13);
  auto* ms = b.t.m.add_opset_import();
  ms->set_domain("com.microsoft");
  ms->set_version(1);
  b.t.input("x", onnx::TensorProto::FLOAT, {1, 2, 5, 5});
  const std::string s = b.f32({}, {0.02f}),
                    z = b.t.int_init("z", onnx::TensorProto::UINT8, {}, {128});
  std::vector<int> w(3 * 2 * 9);
  for (size_t k = 0; k < w.size(); ++k) w[k] = static_cast<int>((k * 41) % 255) - 127;
  const std::string wq = b.t.int_init("wq", onnx::TensorProto::INT8, {3, 2, 3, 3}, w);
  const std::string wz = b.t.int_init("wz", onnx::TensorProto::INT8, {}, {0});
  const std::string bq = b.t.int_init("bq", onnx::TensorProto::INT32, {3}, {100, -50, 7});
  const std::string ws = b.f32({}, {0.004f});
  const std::string xq = b.op1("QuantizeLinear", {"x", s, z});
  auto* c = b.op("QLinearConv", {xq, s, z, wq, ws, wz, s, z, bq});
  set_attr(c, "pads", std::vector<int64_t>{1, 1, 1, 1});
  auto ms_op = [&](const std::string& type, const std::vector<std::string>& in) {
    auto* n = b.op(type, in);
    n->set_domain("com.microsoft");
    return n;
  };
  const std::string y = c->output(0);
  const std::string sg = ms_op("QLinearSigmoid", {y, s, z, s, z})->output(0);
  const std::string m = ms_op("QLinearMul", {y, s, z, sg, s, z, s, z})->output(0);
  auto* cat = ms_op("QLinearConcat", {s, z, m, s, z, y, s, z});
  set_attr(cat, "axis", int64_t{1});
  const std::string gap =
      ms_op("QLinearGlobalAveragePool", {cat->output(0), s, z, s, z})->output(0);
  b.op("DequantizeLinear", {gap, s, z})->set_output(0, "out");
  b.t.output("out");
  return b.t.bytes();
}

// Conv+SiLU, C2f-style Split/Concat/Add, SPPF MaxPool, Resize x2, DFL-style
// Reshape/Transpose/Softmax, anchor decode Sub/Add/Div/Mul, Sigmoid scores.
std::string detector_patterns() {
  Mini b(17);
  b.t.input("images", onnx::TensorProto::FLOAT, {1, 3, 8, 8});
  auto* c = b.op("Conv", {"images", b.f32({4, 3, 3, 3}, b.ramp(108, 0.05f)),
                          b.f32({4}, {0.1f, -0.1f, 0, 0.2f})});
  set_attr(c, "kernel_shape", std::vector<int64_t>{3, 3});
  set_attr(c, "pads", std::vector<int64_t>{1, 1, 1, 1});
  set_attr(c, "strides", std::vector<int64_t>{2, 2});
  std::string x = b.op1("Mul", {c->output(0), b.op1("Sigmoid", {c->output(0)})});
  auto* sp = b.op("Split", {x, b.i64({2, 2})}, 2);
  set_attr(sp, "axis", int64_t{1});
  std::string add = b.op1("Add", {sp->output(1), b.op1("Relu", {sp->output(1)})});
  auto* cat = b.op("Concat", {sp->output(0), sp->output(1), add});
  set_attr(cat, "axis", int64_t{1});
  auto* mp = b.op("MaxPool", {cat->output(0)});
  set_attr(mp, "kernel_shape", std::vector<int64_t>{5, 5});
  set_attr(mp, "pads", std::vector<int64_t>{2, 2, 2, 2});
  auto* up = b.op("Resize", {mp->output(0), "", b.f32({4}, {1, 1, 2, 2})});
  set_attr(up, "mode", std::string("nearest"));
  set_attr(up, "coordinate_transformation_mode", std::string("asymmetric"));
  set_attr(up, "nearest_mode", std::string("floor"));
  std::string r = b.op1("Reshape", {up->output(0), b.i64({1, 4, 3, -1})});  // [1,4,3,64]
  auto* tr = b.op("Transpose", {r});
  set_attr(tr, "perm", std::vector<int64_t>{0, 2, 1, 3});
  auto* sm = b.op("Softmax", {tr->output(0)});
  set_attr(sm, "axis", int64_t{1});
  std::string d = b.op1("ReduceSum", {sm->output(0), b.i64({1})});  // [1,1,4,64]
  d = b.op1("Reshape", {d, b.i64({1, 4, 64})});
  auto* lr = b.op("Split", {d, b.i64({2, 2})}, 2);
  set_attr(lr, "axis", int64_t{1});
  std::vector<float> anchors(128);
  for (size_t k = 0; k < 64; ++k) {
    anchors[k] = static_cast<float>(k % 8) + 0.5f;
    anchors[64 + k] = static_cast<float>(k / 8) + 0.5f;
  }
  std::string anc = b.f32({1, 2, 64}, anchors);
  std::string a = b.op1("Sub", {anc, lr->output(0)});
  std::string bb = b.op1("Add", {anc, lr->output(1)});
  std::string cxy = b.op1("Div", {b.op1("Add", {a, bb}), b.f32({1}, {2.f})});
  auto* xywh = b.op("Concat", {cxy, b.op1("Sub", {bb, a})});
  set_attr(xywh, "axis", int64_t{1});
  std::string box = b.op1("Mul", {xywh->output(0), b.f32({1, 64}, std::vector<float>(64, 4.f))});
  auto* out = b.op("Concat", {box, b.op1("Sigmoid", {d})});
  set_attr(out, "axis", int64_t{1});
  out->set_output(0, "output0");
  b.t.output("output0", onnx::TensorProto::FLOAT, {1, 8, 64});
  return b.t.bytes();
}

// A dynamic-shape graph as yolov8n-dynamic computes anchors: Shape/Gather/Cast/Range/Unsqueeze/
// Expand/ConstantOfShape/Slice/Squeeze/Flatten/Gemm/Where on a symbolic batch.
std::string dynamic_patterns() {
  Mini b(17);
  b.t.input("x", onnx::TensorProto::FLOAT, {-1, 2, 4, 6}, {"batch"});
  std::string shape = b.op1("Shape", {"x"});
  auto* g = b.op("Gather", {shape, b.i64({3})});
  set_attr(g, "axis", int64_t{0});
  auto* cast = b.op("Cast", {g->output(0)});
  set_attr(cast, "to", int64_t{onnx::TensorProto::FLOAT});
  std::string zero = b.f32({}, {0.f}), one = b.f32({}, {1.f});
  auto* sq = b.op("Squeeze", {cast->output(0), b.i64({0})});
  std::string range = b.op1("Range", {zero, sq->output(0), one});  // [6]
  std::string uns = b.op1("Unsqueeze", {range, b.i64({0})});       // [1,6]
  std::string ex = b.op1("Expand", {uns, b.i64({4, 6})});          // [4,6]
  auto* cs = b.op("ConstantOfShape", {b.i64({4, 6})});
  set_attr(cs, "value", shoal::float_tensor("", {1}, {0.5f}));
  std::string grid = b.op1("Add", {ex, cs->output(0)});
  std::string y = b.op1("Add", {"x", grid});
  std::string sl = b.op1("Slice", {y, b.i64({1}), b.i64({-1}), b.i64({3}), b.i64({2})});
  auto* fl = b.op("Flatten", {sl});
  set_attr(fl, "axis", int64_t{1});  // [batch, 2*4*2]
  auto* gm = b.op("Gemm", {fl->output(0), b.f32({3, 16}, b.ramp(48, 0.1f)), b.f32({3}, {0, 1, 2})});
  set_attr(gm, "transB", int64_t{1});
  std::string pos = b.op1("Greater", {gm->output(0), zero});
  auto* w = b.op("Where", {pos, gm->output(0), b.op1("Neg", {gm->output(0)})});
  w->set_output(0, "out");
  b.t.output("out", onnx::TensorProto::FLOAT, {-1, 3}, {"batch"});
  return b.t.bytes();
}

// Conformance models worth seeding (small; various ops and attribute kinds).
const char* const kNodeTests[] = {
    "test_conv_with_strides_padding",
    "test_maxpool_2d_pads",
    "test_resize_upsample_scales_nearest",
    "test_reshape_negative_dim",
    "test_slice_neg_steps",
    "test_gather_negative_indices",
    "test_pad_constant",
    "test_split_variable_parts_2d",
    "test_transpose_all_permutations_3",
    "test_constantofshape_int_zeros",
    "test_expand_dim_changed",
    "test_gemm_all_attributes",
    "test_softmax_axis_1",
    "test_where_long_example",
    "test_batchnorm_epsilon",
    "test_convtranspose_pads",
    "test_reduce_mean_keepdims_example",
    "test_tile_precomputed",
    "test_scatternd_add",
    "test_top_k",
    "test_depthtospace_crd_mode_example",
    "test_gather_elements_negative_indices",
    "test_prelu_broadcast",
    "test_reduce_log_sum_exp_keepdims_example",
    "test_mod_mixed_sign_int64",
    "test_and_bcast4v3d",
    "test_mean_example",
    "test_argmin_keepdims_example_select_last_index",
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s OUT_DIR [ONNX_NODE_TEST_DIR]\n", argv[0]);
    return 2;
  }
  namespace fs = std::filesystem;
  std::string dir = argv[1];
  try {
    shoal::BuilderOptions cls;
    cls.imgsz = 8;
    cls.num_classes = 3;
    cls.max_channels = 32;  // 8-channel convs
    shoal::save_bytes(dir + "/classifier_tiny.onnx", shoal::build_classifier_onnx(cls));
    shoal::BuilderOptions cls19 = cls;
    cls19.opset = 19;
    cls19.seed = 3;
    cls19.imgsz = 13;
    cls19.num_classes = 90;  // names beyond COCO's 80
    shoal::save_bytes(dir + "/classifier_opset19.onnx", shoal::build_classifier_onnx(cls19));
    shoal::save_bytes(dir + "/detector_patterns.onnx", detector_patterns());
    shoal::save_bytes(dir + "/dynamic_patterns.onnx", dynamic_patterns());
    shoal::save_bytes(dir + "/qdq_patterns.onnx", qdq_patterns());
    shoal::save_bytes(dir + "/qoperator_patterns.onnx", qoperator_patterns());
    shoal::save_bytes(dir + "/classifier_half.onnx",
                      shoal::to_float16_onnx(shoal::build_classifier_onnx(cls)));
    if (argc == 3) {
      for (const char* t : kNodeTests) {
        fs::path src = fs::path(argv[2]) / t / "model.onnx";
        std::error_code ec;
        if (fs::exists(src) && fs::file_size(src) < 20000) {
          fs::copy_file(src, fs::path(dir) / (std::string(t) + ".onnx"),
                        fs::copy_options::overwrite_existing, ec);
        }
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
