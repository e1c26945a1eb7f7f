// Tests of the ONNX importer on small models built here with the protobuf API, and of the model
// builder (its graphs import with the right metadata, shapes and deterministic bytes).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "backend/reference/reference.h"
#include "core/error.h"
#include "graph/ops.h"
#include "graph/shape_inference.h"
#include "onnx/builder.h"
#include "onnx/import.h"
#include "model_builder/onnx_test_model.h"

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
  t.node("NonMaxSuppression", "nms1", {"X"}, {"A"});
  t.node("Unique", "uniq", {"A"}, {"B"});
  t.node("NonMaxSuppression", "nms2", {"B"}, {"C"});
  t.node("Relu", "ok", {"C"}, {"D"});
  auto* custom = t.node("FusedConv", "fc", {"D"}, {"Y"});
  custom->set_domain("com.microsoft");
  t.output("Y");
  expect_error([&] { t.import(); }, ErrorCode::kUnsupported,
               {"unsupported ops: NonMaxSuppression (2 nodes: 'nms1', 'nms2'), Unique (1 node: "
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
  for (int64_t opset : {6, 23}) {
    TestModel t(opset);
    t.input("X", onnx::TensorProto::FLOAT, {2});
    t.node("Relu", "r", {"X"}, {"Y"});
    t.output("Y");
    expect_error([&] { t.import(); }, ErrorCode::kUnsupported,
                 {fmt::format("opset {}", opset), "7..22"});
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

// ---------------------------------------------------------------------------------------------
// Builder

TEST(OnnxBuilder, DetectorImportsWithMetadataAndShapes) {
  BuilderOptions o;  // yolov8n-like at 640
  std::string bytes = build_yolo_detector_onnx(o);
  Graph g = import_onnx_bytes(bytes.data(), bytes.size(), "");
  EXPECT_EQ(g.metadata.at("task"), "detect");
  EXPECT_EQ(g.metadata.at("stride"), "32");
  EXPECT_EQ(g.metadata.at("imgsz"), "[640, 640]");
  const std::string& names = g.metadata.at("names");
  EXPECT_EQ(names.rfind("{0: 'person', 1: 'bicycle', ", 0), 0u) << names.substr(0, 60);
  EXPECT_NE(names.find("79: 'toothbrush'}"), std::string::npos);
  EXPECT_EQ(g.opset, 17);
  ASSERT_EQ(g.inputs.size(), 1u);
  EXPECT_EQ(g.value(g.inputs[0]).name, "images");
  EXPECT_EQ(g.value(g.inputs[0]).dims, (Dims{1, 3, 640, 640}));
  ASSERT_EQ(g.outputs.size(), 1u);
  EXPECT_EQ(g.value(g.outputs[0]).name, "output0");
  EXPECT_EQ(g.value(g.outputs[0]).dims, (Dims{1, 84, 8400}));
  std::map<std::string, int> ops;
  for (const Node& n : g.nodes) ++ops[n.op_type];
  EXPECT_EQ(ops["Conv"], 64);  // as yolov8n
  EXPECT_EQ(ops["MaxPool"], 3);
  EXPECT_EQ(ops["Resize"], 2);
  EXPECT_EQ(ops["Softmax"], 1);
  EXPECT_GT(ops["Split"], 0);
  int64_t weights = 0;
  for (const Value& v : g.values) {
    if (v.is_constant() && v.dtype == DType::kF32 && v.dims.size() == 4)
      weights += v.constant.numel();
  }
  EXPECT_GT(weights, 3'000'000);  // yolov8n has 3.15M
  EXPECT_LT(weights, 3'300'000);
}

TEST(OnnxBuilder, OptionsAndDeterminism) {
  BuilderOptions o;
  o.imgsz = 320;
  o.num_classes = 3;
  std::string a = build_yolo_detector_onnx(o);
  EXPECT_EQ(a, build_yolo_detector_onnx(o));
  BuilderOptions o2 = o;
  o2.seed = 1;
  EXPECT_NE(a, build_yolo_detector_onnx(o2));
  Graph g = import_onnx_bytes(a.data(), a.size(), "");
  EXPECT_EQ(g.value(g.outputs[0]).dims, (Dims{1, 7, 2100}));
  EXPECT_EQ(g.metadata.at("names"), "{0: 'person', 1: 'bicycle', 2: 'car'}");
  EXPECT_EQ(g.metadata.at("imgsz"), "[320, 320]");

  BuilderOptions c;
  c.imgsz = 64;
  c.num_classes = 10;
  std::string cb = build_classifier_onnx(c);
  Graph gc = import_onnx_bytes(cb.data(), cb.size(), "");
  EXPECT_EQ(gc.metadata.at("task"), "classify");
  EXPECT_EQ(gc.value(gc.outputs[0]).dims, (Dims{1, 10}));

  BuilderOptions bad;
  bad.imgsz = 100;
  EXPECT_THROW(build_yolo_detector_onnx(bad), Error);
}

// Runs a specialised graph through the reference kernels; returns every value's tensor.
std::vector<Tensor> run_reference(Graph& g, const Tensor& input) {
  Value& in = g.value(g.inputs[0]);
  in.dims = input.dims();
  auto eval = [&](const Node& n, const std::vector<Tensor>& i, std::vector<Tensor>& o) {
    reference_eval(n, static_cast<int>(g.opset), i, o);
  };
  specialize_shapes(g, eval);
  std::vector<Tensor> vals(g.values.size());
  for (size_t i = 0; i < g.values.size(); ++i) vals[i] = g.values[i].constant;
  vals[static_cast<size_t>(g.inputs[0])] = input;
  for (NodeId id : g.live_nodes()) {
    const Node& n = g.nodes[static_cast<size_t>(id)];
    std::vector<Tensor> ins, outs;
    for (ValueId v : n.inputs)
      ins.push_back(v == kNoValue ? Tensor() : vals[static_cast<size_t>(v)]);
    for (ValueId o : n.outputs) outs.emplace_back(g.value(o).dtype, g.value(o).dims);
    eval(n, ins, outs);
    for (size_t k = 0; k < n.outputs.size(); ++k) vals[static_cast<size_t>(n.outputs[k])] = outs[k];
  }
  return vals;
}

Tensor random_image(Dims dims, uint32_t seed) {
  Tensor t(DType::kF32, std::move(dims));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
  return t;
}

double stddev(const Tensor& t) {
  double s = 0, s2 = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v = t.get_f64(i);
    s += v;
    s2 += v * v;
  }
  double m = s / static_cast<double>(t.numel());
  return std::sqrt(std::max(0.0, s2 / static_cast<double>(t.numel()) - m * m));
}

// The builder's weights keep activations of order one through the whole network on the inputs
// tests feed (uniform noise in [0, 1]), and the outputs depend on the input.
TEST(OnnxBuilder, ActivationsStayInRangeAndDependOnInput) {
  BuilderOptions o;
  o.imgsz = 320;
  o.num_classes = 5;
  std::string bytes = build_yolo_detector_onnx(o);
  Graph model = import_onnx_bytes(bytes.data(), bytes.size(), "");
  std::vector<Tensor> a, b;
  Graph ga = model, gb = model;
  try {
    a = run_reference(ga, random_image({1, 3, 320, 320}, 1));
    b = run_reference(gb, random_image({1, 3, 320, 320}, 2));
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kUnsupported)
      GTEST_SKIP() << "reference kernels missing: " << e.what();
    throw;
  }
  double sd_min = INFINITY, sd_max = 0;
  for (const Node& n : ga.nodes) {
    if (n.dead || n.op_type != "Mul" || n.name.find("/act/") == std::string::npos) continue;
    double sd = stddev(a[static_cast<size_t>(n.outputs[0])]);
    sd_min = std::min(sd_min, sd);
    sd_max = std::max(sd_max, sd);
    EXPECT_GT(sd, 0.1) << n.name;
    EXPECT_LT(sd, 10.0) << n.name;
  }
  fmt::print("SiLU activation std over the network: {:.3f} .. {:.3f}\n", sd_min, sd_max);
  const Tensor& oa = a[static_cast<size_t>(ga.outputs[0])];
  const Tensor& ob = b[static_cast<size_t>(gb.outputs[0])];
  const int64_t n = 2100;
  ASSERT_EQ(oa.dims(), (Dims{1, 9, n}));
  double max_box_diff = 0, max_score_diff = 0;
  int64_t above = 0;
  for (int64_t c = 0; c < 9; ++c) {
    for (int64_t k = 0; k < n; ++k) {
      double va = oa.get_f64(c * n + k), vb = ob.get_f64(c * n + k);
      ASSERT_TRUE(std::isfinite(va)) << c << "," << k;
      double& m = c < 4 ? max_box_diff : max_score_diff;
      m = std::max(m, std::fabs(va - vb));
      if (c >= 4 && va > 0.25) ++above;
    }
  }
  EXPECT_GT(max_box_diff, 1.0);     // pixels
  EXPECT_GT(max_score_diff, 0.05);  // probabilities
  EXPECT_GT(above, 0);              // something to decode ...
  EXPECT_LT(above, 5 * n / 4);      // ... but not everything
}

TEST(OnnxBuilder, ClassifierOutputsDependOnInput) {
  BuilderOptions o;
  o.imgsz = 64;
  o.num_classes = 10;
  std::string bytes = build_classifier_onnx(o);
  Graph model = import_onnx_bytes(bytes.data(), bytes.size(), "");
  Graph ga = model, gb = model;
  std::vector<Tensor> a, b;
  try {
    a = run_reference(ga, random_image({1, 3, 64, 64}, 1));
    b = run_reference(gb, random_image({1, 3, 64, 64}, 2));
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kUnsupported)
      GTEST_SKIP() << "reference kernels missing: " << e.what();
    throw;
  }
  const Tensor& pa = a[static_cast<size_t>(ga.outputs[0])];
  const Tensor& pb = b[static_cast<size_t>(gb.outputs[0])];
  ASSERT_EQ(pa.dims(), (Dims{1, 10}));
  double sum = 0, max_p = 0, diff = 0;
  for (int64_t k = 0; k < 10; ++k) {
    sum += pa.get_f64(k);
    max_p = std::max(max_p, pa.get_f64(k));
    diff = std::max(diff, std::fabs(pa.get_f64(k) - pb.get_f64(k)));
  }
  EXPECT_NEAR(sum, 1.0, 1e-5);
  EXPECT_GT(max_p, 0.2);    // not uniform
  EXPECT_LT(max_p, 0.999);  // not one-hot
  EXPECT_GT(diff, 1e-3);    // depends on the input
}

}  // namespace
}  // namespace shoal
