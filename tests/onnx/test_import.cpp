// Tests of the ONNX importer on small models built here with the protobuf API (TestModel).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/error.h"
#include "graph/ops.h"
#include "model_builder/builder.h"
#include "model_builder/onnx_test_model.h"
#include "onnx/import.h"
#include "runtime/compiled_model.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;

// Expects `f` to throw shoal::Error with `code` and a message containing every `parts`.
template <typename F>
void expect_error(F&& f, ErrorCode code, std::vector<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no error thrown; expected " << error_code_name(code);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    for (const auto& p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos)
          << "'" << p << "' not in: " << e.what();
  }
}

const Value& value(const Graph& g, const std::string& name) {
  auto id = g.find_value(name);
  if (!id) throw std::runtime_error("no value " + name);
  return g.value(*id);
}

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / fmt::format("shoal_import_test_{}_{}", ::getpid(), rd());
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST(OnnxImport, BasicGraphAndMetadata) {
  TestModel t;
  t.m.set_producer_version("2.1");
  auto* p = t.m.add_metadata_props();
  p->set_key("task");
  p->set_value("detect");
  t.input("X", onnx::TensorProto::FLOAT, {1, 4});
  t.float_init("W", {4}, {1, 2, 3, 4});
  t.node("Add", "add", {"X", "W"}, {"A"});
  t.node("Relu", "", {"A"}, {"Y"});
  t.output("Y");
  Graph g = t.import();
  EXPECT_EQ(g.opset, 17);
  EXPECT_EQ(g.producer, "shoal-test 2.1");
  EXPECT_EQ(g.metadata.at("task"), "detect");
  ASSERT_EQ(g.inputs.size(), 1u);
  EXPECT_EQ(g.value(g.inputs[0]).name, "X");
  EXPECT_EQ(g.value(g.inputs[0]).dtype, DType::kF32);
  EXPECT_EQ(g.value(g.inputs[0]).dims, (Dims{1, 4}));
  ASSERT_EQ(g.outputs.size(), 1u);
  EXPECT_EQ(g.value(g.outputs[0]).name, "Y");
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.nodes[0].name, "add");
  EXPECT_EQ(g.nodes[1].name, "Relu_1");  // generated "<op_type>_<index>"
  const Value& w = value(g, "W");
  ASSERT_TRUE(w.is_constant());
  EXPECT_EQ(w.constant.data<float>()[3], 4.f);
}

TEST(OnnxImport, NodesOutOfOrderAreSorted) {
  TestModel t;
  t.input("X", onnx::TensorProto::FLOAT, {2});
  t.node("Relu", "second", {"A"}, {"Y"});
  t.node("Neg", "first", {"X"}, {"A"});
  t.output("Y");
  Graph g = t.import();
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.nodes[0].name, "first");
  EXPECT_EQ(g.nodes[1].name, "second");
}

TEST(OnnxImport, InitializersListedAsInputsAreNotRuntimeInputs) {
  TestModel t;
  t.input("X", onnx::TensorProto::FLOAT, {1, 2});
  t.input("W", onnx::TensorProto::FLOAT, {2});  // old exporters list initializers as inputs
  t.float_init("W", {2}, {5, 6});
  t.node("Mul", "mul", {"X", "W"}, {"Y"});
  t.output("Y");
  Graph g = t.import();
  ASSERT_EQ(g.inputs.size(), 1u);
  EXPECT_EQ(g.value(g.inputs[0]).name, "X");
  EXPECT_TRUE(value(g, "W").is_constant());
}

TEST(OnnxImport, ConstantNodesBecomeConstantValues) {
  TestModel t;
  t.input("X", onnx::TensorProto::FLOAT, {3});
  auto add_const = [&](const std::string& out, auto set) {
    auto* n = t.node("Constant", "c_" + out, {}, {out});
    auto* a = n->add_attribute();
    set(a);
  };
  add_const("t", [](onnx::AttributeProto* a) {
    a->set_name("value");
    a->set_type(onnx::AttributeProto::TENSOR);
    a->mutable_t()->set_data_type(onnx::TensorProto::INT64);
    a->mutable_t()->add_dims(2);
    a->mutable_t()->add_int64_data(7);
    a->mutable_t()->add_int64_data(-8);
  });
  add_const("f", [](onnx::AttributeProto* a) {
    a->set_name("value_float");
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(2.5f);
  });
  add_const("fs", [](onnx::AttributeProto* a) {
    a->set_name("value_floats");
    a->set_type(onnx::AttributeProto::FLOATS);
    a->add_floats(1.f);
    a->add_floats(2.f);
    a->add_floats(3.f);
  });
  add_const("i", [](onnx::AttributeProto* a) {
    a->set_name("value_int");
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(42);
  });
  add_const("is", [](onnx::AttributeProto* a) {
    a->set_name("value_ints");
    a->set_type(onnx::AttributeProto::INTS);
    a->add_ints(4);
    a->add_ints(5);
  });
  t.node("Add", "add", {"X", "fs"}, {"Y"});
  t.output("Y");
  Graph g = t.import();
  ASSERT_EQ(g.nodes.size(), 1u);  // Constants are values, not nodes
  const Value& vt = value(g, "t");
  ASSERT_TRUE(vt.is_constant());
  EXPECT_EQ(vt.dtype, DType::kI64);
  EXPECT_EQ(vt.dims, (Dims{2}));
  EXPECT_EQ(vt.constant.data<int64_t>()[1], -8);
  EXPECT_EQ(value(g, "f").constant.data<float>()[0], 2.5f);
  EXPECT_EQ(value(g, "f").dims, Dims{});
  EXPECT_EQ(value(g, "fs").dims, (Dims{3}));
  EXPECT_EQ(value(g, "fs").constant.data<float>()[2], 3.f);
  EXPECT_EQ(value(g, "i").constant.data<int64_t>()[0], 42);
  EXPECT_EQ(value(g, "is").constant.data<int64_t>()[1], 5);
}

TEST(OnnxImport, TypedTensorFields) {
  TestModel t;
  t.input("X", onnx::TensorProto::FLOAT, {2});
  auto* h = t.g->add_initializer();
  h->set_name("h");
  h->set_data_type(onnx::TensorProto::FLOAT16);
  h->add_dims(2);
  h->add_int32_data(f32_to_f16(1.5f));
  h->add_int32_data(f32_to_f16(-2.f));
  auto* b = t.g->add_initializer();
  b->set_name("b");
  b->set_data_type(onnx::TensorProto::BOOL);
  b->add_dims(3);
  b->add_int32_data(1);
  b->add_int32_data(0);
  b->add_int32_data(1);
  auto* i8 = t.g->add_initializer();
  i8->set_name("i8");
  i8->set_data_type(onnx::TensorProto::INT8);
  i8->add_dims(1);
  i8->add_int32_data(-5);
  auto* d = t.g->add_initializer();
  d->set_name("d");
  d->set_data_type(onnx::TensorProto::DOUBLE);
  d->add_double_data(0.25);  // scalar
  auto* raw = t.g->add_initializer();
  raw->set_name("raw");
  raw->set_data_type(onnx::TensorProto::INT32);
  raw->add_dims(2);
  int32_t rv[2] = {-3, 9};
  raw->set_raw_data(std::string(reinterpret_cast<char*>(rv), 8));
  t.node("Relu", "r", {"X"}, {"Y"});
  t.output("Y");
  Graph g = t.import();
  EXPECT_EQ(value(g, "h").dtype, DType::kF16);
  EXPECT_EQ(f16_to_f32(value(g, "h").constant.data<uint16_t>()[0]), 1.5f);
  EXPECT_EQ(f16_to_f32(value(g, "h").constant.data<uint16_t>()[1]), -2.f);
  EXPECT_EQ(value(g, "b").constant.get_i64(1), 0);
  EXPECT_EQ(value(g, "b").constant.get_i64(2), 1);
  EXPECT_EQ(value(g, "i8").constant.get_i64(0), -5);
  EXPECT_EQ(value(g, "d").constant.get_f64(0), 0.25);
  EXPECT_EQ(value(g, "d").dims, Dims{});
  EXPECT_EQ(value(g, "raw").constant.get_i64(0), -3);
  EXPECT_EQ(value(g, "raw").constant.get_i64(1), 9);
}

TEST(OnnxImport, ElementCountMismatchNamesTheTensor) {
  {
    TestModel t;
    t.input("X", onnx::TensorProto::FLOAT, {2});
    t.float_init("weights", {2, 3}, {1, 2, 3, 4, 5});
    t.node("Relu", "r", {"X"}, {"Y"});
    t.output("Y");
    expect_error([&] { t.import(); }, ErrorCode::kInvalidModel, {"weights", "5", "6"});
  }
  {
    TestModel t;
    t.input("X", onnx::TensorProto::FLOAT, {2});
    auto* w = t.g->add_initializer();
    w->set_name("rawbad");
    w->set_data_type(onnx::TensorProto::FLOAT);
    w->add_dims(4);
    w->set_raw_data(std::string(12, '\0'));
    t.node("Relu", "r", {"X"}, {"Y"});
    t.output("Y");
    expect_error([&] { t.import(); }, ErrorCode::kInvalidModel, {"rawbad", "12", "16"});
  }
  {  // huge dims with no data must fail before allocating
    TestModel t;
    t.input("X", onnx::TensorProto::FLOAT, {2});
    auto* w = t.g->add_initializer();
    w->set_name("huge");
    w->set_data_type(onnx::TensorProto::FLOAT);
    w->add_dims(int64_t{1} << 40);
    w->add_dims(int64_t{1} << 40);
    t.node("Relu", "r", {"X"}, {"Y"});
    t.output("Y");
    expect_error([&] { t.import(); }, ErrorCode::kLimit, {"huge"});
  }
}

// Quantization parameters a quantized export can get wrong: a zero point outside its type's
// range is refused at import; a zero, negative or NaN scale when the model compiles, naming the
// node.
TEST(OnnxImport, QuantizationParametersAreChecked) {
  auto model = [](int zp, float scale) {
    TestModel t(13);
    t.input("X", onnx::TensorProto::FLOAT, {1, 4});
    t.float_init("s", {}, {scale});
    t.int_init("zp", onnx::TensorProto::UINT8, {}, {zp});
    t.node("QuantizeLinear", "q", {"X", "s", "zp"}, {"Q"});
    t.node("DequantizeLinear", "dq", {"Q", "s", "zp"}, {"Y"});
    t.output("Y");
    return t;
  };
  TestModel bad_zp = model(300, 0.1f);
  expect_error([&] { bad_zp.import(); }, ErrorCode::kInvalidModel, {"zp", "300", "uint8"});
  for (float scale : {0.f, -0.5f, std::nanf("")}) {
    TestModel t = model(128, scale);
    Graph g = t.import();
    expect_error([&] { CompiledModel::compile(g, CompileRequest{}); }, ErrorCode::kInvalidModel,
                 {"'q'", "scale", "positive"});
  }
  TestModel good = model(128, 0.1f);
  Graph g = good.import();
  Session s(CompiledModel::compile(g, CompileRequest{}));
  Tensor x(DType::kF32, {1, 4});
  for (int i = 0; i < 4; ++i) x.data<float>()[i] = 0.26f * static_cast<float>(i) - 13.f;
  const Tensor y = s.run({x})[0];
  EXPECT_FLOAT_EQ(y.data<float>()[0], -12.8f);  // saturated at 0 - 128
  EXPECT_FLOAT_EQ(y.data<float>()[3], 0.1f * std::nearbyint((0.78f - 13.f) / 0.1f));
}

// DynamicQuantizeLinear as ONNX defines it and ONNX Runtime computes it: the range widened to 0,
// 255 steps, the zero point and the values rounded half to even.
TEST(OnnxImport, DynamicQuantizeLinearByHand) {
  TestModel t(13);
  t.input("X", onnx::TensorProto::FLOAT, {4});
  t.node("DynamicQuantizeLinear", "dql", {"X"}, {"Y", "S", "Z"});
  t.output("Y");
  t.output("S");
  t.output("Z");
  Graph g = t.import();
  Session s(CompiledModel::compile(g, CompileRequest{}));
  Tensor x(DType::kF32, {4});
  const float v[4] = {-1.f, 0.f, 0.5f, 2.f};
  std::memcpy(x.raw(), v, sizeof v);
  const std::vector<Tensor> out = s.run({x});
  const float scale = 3.f / 255.f;
  EXPECT_FLOAT_EQ(out[1].data<float>()[0], scale);
  EXPECT_EQ(out[2].data<uint8_t>()[0], 85);  // round(1 / scale)
  const uint8_t want[4] = {0, 85, static_cast<uint8_t>(std::nearbyint(0.5f / scale) + 85), 255};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(out[0].data<uint8_t>()[i], want[i]) << i;
}

TEST(OnnxImport, ExternalData) {
  TempDir dir;
  std::vector<float> data = {9, 1, 2, 3, 4, 5, 6};  // tensor at offset 4 (skips the 9)
  write_file(dir.path() / "weights.bin",
             std::string(reinterpret_cast<const char*>(data.data()), data.size() * 4));
  auto make = [](const std::string& location, int64_t offset, int64_t length) {
    TestModel t;
    t.input("X", onnx::TensorProto::FLOAT, {2, 3});
    auto* w = t.g->add_initializer();
    w->set_name("W");
    w->set_data_type(onnx::TensorProto::FLOAT);
    w->add_dims(2);
    w->add_dims(3);
    w->set_data_location(onnx::TensorProto::EXTERNAL);
    auto kv = [&](const char* k, const std::string& v) {
      auto* e = w->add_external_data();
      e->set_key(k);
      e->set_value(v);
    };
    kv("location", location);
    if (offset >= 0) kv("offset", std::to_string(offset));
    if (length >= 0) kv("length", std::to_string(length));
    t.node("Add", "add", {"X", "W"}, {"Y"});
    t.output("Y");
    return t;
  };
  fs::path model = dir.path() / "model.onnx";

  write_file(model, make("weights.bin", 4, 24).bytes());
  Graph g = import_onnx_file(model.string());
  const Value& w = value(g, "W");
  ASSERT_TRUE(w.is_constant());
  for (int i = 0; i < 6; ++i) EXPECT_EQ(w.constant.data<float>()[i], static_cast<float>(i + 1));

  // From memory with the folder given explicitly.
  std::string bytes = make("weights.bin", 4, -1).bytes();
  Graph g2 = import_onnx_bytes(bytes.data(), bytes.size(), dir.path().string());
  EXPECT_EQ(value(g2, "W").constant.data<float>()[5], 6.f);
  // From memory without a folder: refused.
  expect_error([&] { import_onnx_bytes(bytes.data(), bytes.size(), ""); },
               ErrorCode::kInvalidArgument, {"W", "weights.bin"});

  write_file(model, make("missing.bin", 0, -1).bytes());
  expect_error([&] { import_onnx_file(model.string()); }, ErrorCode::kNotFound,
               {"'W'", "missing.bin"});

  fs::create_directories(dir.path() / "sub");
  write_file(dir.path() / "sub" / "model.onnx", make("../weights.bin", 4, 24).bytes());
  expect_error([&] { import_onnx_file((dir.path() / "sub" / "model.onnx").string()); },
               ErrorCode::kInvalidModel, {"'W'", "../weights.bin"});

  write_file(model, make((dir.path() / "weights.bin").string(), 4, 24).bytes());
  expect_error([&] { import_onnx_file(model.string()); }, ErrorCode::kInvalidModel,
               {"'W'", "absolute"});

  write_file(model, make("weights.bin", 8, -1).bytes());  // 20 bytes left, 24 needed
  expect_error([&] { import_onnx_file(model.string()); }, ErrorCode::kInvalidModel,
               {"'W'", "weights.bin", "28"});

  write_file(model, make("weights.bin", 4, 20).bytes());  // length disagrees with dims
  expect_error([&] { import_onnx_file(model.string()); }, ErrorCode::kInvalidModel, {"'W'", "20"});
}

TEST(OnnxImport, SymbolicInputDims) {
  TestModel t;
  t.input("images", onnx::TensorProto::FLOAT, {0, 3, 0, 0}, {"batch", "", "height", "width"});
  t.node("Relu", "r", {"images"}, {"Y"});
  t.output("Y");
  Graph g = t.import();
  const Value& in = g.value(g.inputs[0]);
  EXPECT_TRUE(in.has_shape);
  EXPECT_EQ(in.dims, (Dims{-1, 3, -1, -1}));
  EXPECT_EQ(in.dim_params, (std::vector<std::string>{"batch", "", "height", "width"}));
}

TEST(OnnxImport, UnsupportedInputDtypeAndNonTensorInputs) {
  {
    TestModel t;
    t.input("S", onnx::TensorProto::STRING, {2});
    t.node("Identity", "id", {"S"}, {"Y"});
    t.output("Y");
    expect_error([&] { t.import(); }, ErrorCode::kUnsupported, {"'S'", "STRING"});
  }
  {
    TestModel t;
    t.input("U", onnx::TensorProto::UINT16, {2});
    t.node("Identity", "id", {"U"}, {"Y"});
    t.output("Y");
    expect_error([&] { t.import(); }, ErrorCode::kUnsupported, {"'U'", "UINT16"});
  }
  {
    TestModel t;
    auto* vi = t.g->add_input();
    vi->set_name("seq");
    vi->mutable_type()
        ->mutable_sequence_type()
        ->mutable_elem_type()
        ->mutable_tensor_type()
        ->set_elem_type(onnx::TensorProto::FLOAT);
    t.node("Identity", "id", {"seq"}, {"Y"});
    t.output("Y");
    expect_error([&] { t.import(); }, ErrorCode::kUnsupported, {"'seq'", "sequence"});
  }
}

TEST(OnnxImport, AttributesOfEveryKind) {
  TestModel t;
  t.input("X", onnx::TensorProto::FLOAT, {1, 1, 4, 4});
  auto* n = t.node("MaxPool", "pool", {"X"}, {"Y"});
  auto add = [&](const char* name, auto set) {
    auto* a = n->add_attribute();
    a->set_name(name);
    set(a);
  };
  add("i", [](auto* a) {
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(3);
  });
  add("f", [](auto* a) {
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(0.5f);
  });
  add("s", [](auto* a) {
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s("NOTSET");
  });
  add("is", [](auto* a) {
    a->set_type(onnx::AttributeProto::INTS);
    a->add_ints(2);
    a->add_ints(2);
  });
  add("fs", [](auto* a) {
    a->set_type(onnx::AttributeProto::FLOATS);
    a->add_floats(1.5f);
  });
  add("ss", [](auto* a) {
    a->set_type(onnx::AttributeProto::STRINGS);
    a->add_strings("a");
    a->add_strings("b");
  });
  add("t", [](auto* a) {
    a->set_type(onnx::AttributeProto::TENSOR);
    a->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
    a->mutable_t()->add_float_data(7.f);
  });
  add("untyped", [](auto* a) { a->set_i(11); });  // old exporters omit the type
  t.output("Y");
  Graph g = t.import();
  const Node& node = g.nodes.at(0);
  EXPECT_EQ(node.attr_int("i", 0), 3);
  EXPECT_EQ(node.attr_float("f", 0), 0.5f);
  EXPECT_EQ(node.attr_string("s", ""), "NOTSET");
  EXPECT_EQ(node.attr_ints("is"), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(node.attr_floats("fs"), (std::vector<float>{1.5f}));
  EXPECT_EQ(node.attrs.at("ss").strings, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(node.attrs.at("t").kind, Attribute::Kind::kTensor);
  EXPECT_EQ(node.attrs.at("t").t.data<float>()[0], 7.f);
  EXPECT_EQ(node.attr_int("untyped", 0), 11);
}

TEST(OnnxImport, GraphAttributeIsUnsupported) {
  TestModel t;
  t.input("X", onnx::TensorProto::FLOAT, {2});
  auto* n = t.node("Relu", "with_body", {"X"}, {"Y"});
  auto* a = n->add_attribute();
  a->set_name("body");
  a->set_type(onnx::AttributeProto::GRAPH);
  a->mutable_g()->set_name("sub");
  t.output("Y");
  expect_error([&] { t.import(); }, ErrorCode::kUnsupported, {"with_body", "body", "subgraph"});
}

TEST(OnnxImport, UnsupportedOpsAreAllListed) {
  TestModel t;
  t.input("X", onnx::TensorProto::FLOAT, {4});
  t.node("RoiAlign", "roi1", {"X"}, {"A"});
  t.node("Unique", "uniq", {"A"}, {"B"});
  t.node("RoiAlign", "roi2", {"B"}, {"C"});
  t.node("Relu", "ok", {"C"}, {"D"});
  auto* custom = t.node("FusedConv", "fc", {"D"}, {"Y"});
  custom->set_domain("com.microsoft");
  t.output("Y");
  expect_error([&] { t.import(); }, ErrorCode::kUnsupported,
               {"unsupported ops: RoiAlign (2 nodes: 'roi1', 'roi2'), Unique (1 node: "
                "'uniq')",
                "com.microsoft.FusedConv (1 node: 'fc')"});
}

TEST(OnnxImport, OpNewerThanTheModelsOpsetIsRefused) {
  TestModel t(13);
  t.input("X", onnx::TensorProto::FLOAT, {4});
  t.node("HardSwish", "hs", {"X"}, {"Y"});
  t.output("Y");
  expect_error([&] { t.import(); }, ErrorCode::kUnsupported,
               {"HardSwish at opset 13 (ONNX defines it from opset 14) (1 node: 'hs')"});
  TestModel ok(14);
  ok.input("X", onnx::TensorProto::FLOAT, {4});
  ok.node("HardSwish", "hs", {"X"}, {"Y"});
  ok.output("Y");
  EXPECT_NO_THROW(ok.import());
}

TEST(OnnxImport, OpsetAndIrVersionChecks) {
  {
    TestModel t(23);
    t.input("X", onnx::TensorProto::FLOAT, {2});
    t.node("Relu", "r", {"X"}, {"Y"});
    t.output("Y");
    expect_error([&] { t.import(); }, ErrorCode::kUnsupported, {"opset 23", "7..22"});
  }
  // Opsets 1..6 read at 7 when no op of the model changed in between (ONNX's schema registry):
  // Relu last changed at 6, Elu at 6; Relu at opset 5 is the older Relu.
  for (int64_t opset : {6, 5}) {
    TestModel t(opset);
    t.input("X", onnx::TensorProto::FLOAT, {2});
    t.node("Elu", "e", {"X"}, {"Z"});
    t.node("Relu", "r", {"Z"}, {"Y"});
    t.output("Y");
    if (opset == 6) {
      EXPECT_EQ(t.import().opset, 7);
    } else {
      expect_error([&] { t.import(); }, ErrorCode::kUnsupported,
                   {"opset 5", "7..22", "Elu changed between opset 5 and 7", "re-export"});
    }
  }
  {
    TestModel t;
    t.m.set_ir_version(99);
    t.input("X", onnx::TensorProto::FLOAT, {2});
    t.node("Relu", "r", {"X"}, {"Y"});
    t.output("Y");
    expect_error([&] { t.import(); }, ErrorCode::kUnsupported, {"IR version 99"});
  }
  {
    TestModel t;
    t.m.clear_opset_import();
    t.input("X", onnx::TensorProto::FLOAT, {2});
    t.node("Relu", "r", {"X"}, {"Y"});
    t.output("Y");
    expect_error([&] { t.import(); }, ErrorCode::kInvalidModel, {"opset"});
  }
}

TEST(OnnxImport, InconsistentGraphs) {
  {
    TestModel t;
    t.input("X", onnx::TensorProto::FLOAT, {2});
    t.node("Relu", "a", {"X"}, {"Y"});
    t.node("Neg", "b", {"X"}, {"Y"});
    t.output("Y");
    expect_error([&] { t.import(); }, ErrorCode::kInvalidModel, {"Neg 'b'", "'Y'"});
  }
  {
    TestModel t;
    t.input("X", onnx::TensorProto::FLOAT, {2});
    t.node("Add", "add", {"X", "nowhere"}, {"Y"});
    t.output("Y");
    expect_error([&] { t.import(); }, ErrorCode::kInvalidModel, {"Add 'add'", "'nowhere'"});
  }
  {
    TestModel t;
    t.input("X", onnx::TensorProto::FLOAT, {2});
    t.node("Relu", "r", {"X"}, {"Y"});
    t.output("Z");
    expect_error([&] { t.import(); }, ErrorCode::kInvalidModel, {"'Z'"});
  }
  {
    TestModel t;
    t.input("X", onnx::TensorProto::FLOAT, {2});
    t.node("Relu", "a", {"B"}, {"A"});
    t.node("Relu", "b", {"A"}, {"B"});
    t.output("B");
    expect_error([&] { t.import(); }, ErrorCode::kInvalidModel, {"cycle"});
  }
  {  // found by the fuzzer: a node without outputs
    TestModel t;
    t.input("X", onnx::TensorProto::FLOAT, {2});
    t.node("Unsqueeze", "u", {"X"}, {});
    t.node("Relu", "r", {"X"}, {"Y"});
    t.output("Y");
    expect_error([&] { t.import(); }, ErrorCode::kInvalidModel, {"Unsqueeze 'u'", "no outputs"});
  }
}

// Every op with too few or too many inputs or outputs, or a required input left empty, is refused
// with the node named, before any shape function or kernel reads past what the node has (the
// fuzzer found Size without inputs folded out of bounds).
TEST(OnnxImport, InputAndOutputCountsAreCheckedForEveryOp) {
  auto check = [](const OpInfo& op, std::vector<std::string> in, std::vector<std::string> out,
                  const std::string& what) {
    SCOPED_TRACE(std::string(op.op_type) + ": " + what);
    TestModel t(std::max(17, op.first_opset));
    t.input("X", onnx::TensorProto::FLOAT, {1, 2, 4, 4});
    t.node(op.op_type, "n", std::move(in), out);
    t.output(out.back());
    expect_error([&] { t.import(); }, ErrorCode::kInvalidModel,
                 {std::string(op.op_type) + " 'n'", what});
  };
  for (const OpInfo& op : supported_ops()) {
    if (op.min_inputs > 0) {
      check(op, {}, {"Y"}, "takes");
      std::vector<std::string> in(static_cast<size_t>(op.min_inputs), "X");
      in.front() = "";
      check(op, in, {"Y"}, "required");
    }
    if (op.max_inputs != kAny) {
      check(op, std::vector<std::string>(static_cast<size_t>(op.max_inputs) + 1, "X"), {"Y"},
            "takes");
    }
    std::vector<std::string> in(static_cast<size_t>(std::max(op.min_inputs, 1)), "X");
    if (op.min_inputs == 0) in.clear();
    if (op.max_outputs != kAny) {
      std::vector<std::string> out;
      for (int i = 0; i <= op.max_outputs; ++i) out.push_back("Y" + std::to_string(i));
      check(op, in, out, "gives");
    }
    if (op.max_outputs > 1) check(op, in, {"", "Y1"}, "output 0");
  }
}

TEST(OnnxImport, TruncatedRandomAndForeignBytes) {
  BuilderOptions o;
  o.imgsz = 32;
  o.num_classes = 3;
  std::string bytes = build_classifier_onnx(o);
  ASSERT_NO_THROW(import_onnx_bytes(bytes.data(), bytes.size(), ""));
  for (size_t cut : {size_t{1}, size_t{10}, bytes.size() / 3, bytes.size() / 2, bytes.size() - 1}) {
    expect_error([&] { import_onnx_bytes(bytes.data(), cut, ""); }, ErrorCode::kInvalidModel,
                 {"not a valid ONNX model"});
  }
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 20; ++trial) {
    std::string junk(64 + trial * 37, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    expect_error([&] { import_onnx_bytes(junk.data(), junk.size(), ""); }, ErrorCode::kInvalidModel,
                 {"not a valid ONNX model"});
  }
  std::string text = "name: yolov8n\nnc: 80\nscales: [0.33, 0.25, 1024]\n";
  expect_error([&] { import_onnx_bytes(text.data(), text.size(), ""); }, ErrorCode::kInvalidModel,
               {"not a valid ONNX model"});

  TempDir dir;
  fs::path p = dir.path() / "cut.onnx";
  write_file(p, bytes.substr(0, bytes.size() / 2));
  expect_error([&] { import_onnx_file(p.string()); }, ErrorCode::kInvalidModel,
               {"'" + p.string() + "' is not a valid ONNX model"});
  expect_error([&] { import_onnx_file((dir.path() / "none.onnx").string()); }, ErrorCode::kNotFound,
               {"none.onnx"});
}

TEST(OnnxImport, ReadTensorProtoFile) {
  TempDir dir;
  onnx::TensorProto tp;
  tp.set_name("x");
  tp.set_data_type(onnx::TensorProto::INT64);
  tp.add_dims(3);
  for (int64_t v : {1, -2, 3}) tp.add_int64_data(v);
  write_file(dir.path() / "t.pb", tp.SerializeAsString());
  std::string name;
  Tensor t = read_tensor_proto_file((dir.path() / "t.pb").string(), &name);
  EXPECT_EQ(name, "x");
  EXPECT_EQ(t.dtype(), DType::kI64);
  EXPECT_EQ(t.to_i64_vector(), (std::vector<int64_t>{1, -2, 3}));
  expect_error([&] { read_tensor_proto_file((dir.path() / "nope.pb").string()); },
               ErrorCode::kNotFound, {"nope.pb"});
}

}  // namespace
}  // namespace shoal
