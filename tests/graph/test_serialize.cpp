// Graph serialization: every field survives a round trip, optimised models deserialize to graphs
// that compile to bit-identical outputs, and corrupt blobs (truncated, flipped, wrong header,
// hostile counts and indices) throw shoal::Error without crashing or over-allocating.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>

#include "backend/reference/reference.h"
#include "core/error.h"
#include "graph/passes.h"
#include "graph/serialize.h"
#include "graph/shape_inference.h"
#include "model_builder/builder.h"
#include "onnx/import.h"
#include "runtime/compiled_model.h"
#include "test_util.h"

namespace shoal {
namespace {

// ---- field-by-field equality ("" when equal, else the first difference)

std::string tensor_diff(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype()) {
    return fmt::format("dtype {} vs {}", dtype_name(a.dtype()), dtype_name(b.dtype()));
  }
  if (!a.defined()) return "";
  if (a.dims() != b.dims())
    return fmt::format("dims {} vs {}", dims_str(a.dims()), dims_str(b.dims()));
  if (a.nbytes() && std::memcmp(a.raw(), b.raw(), a.nbytes()) != 0) return "payload bytes differ";
  return "";
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

std::string attr_diff(const Attribute& a, const Attribute& b) {
  if (a.kind != b.kind) return "kind";
  if (a.i != b.i) return "i";
  if (!same_bits(a.f, b.f)) return "f";
  if (a.s != b.s) return "s";
  if (a.ints != b.ints) return "ints";
  if (a.floats.size() != b.floats.size()) return "floats size";
  for (size_t i = 0; i < a.floats.size(); ++i) {
    if (!same_bits(a.floats[i], b.floats[i])) return fmt::format("floats[{}]", i);
  }
  if (a.strings != b.strings) return "strings";
  std::string t = tensor_diff(a.t, b.t);
  return t.empty() ? "" : "t: " + t;
}

std::string graph_diff(const Graph& a, const Graph& b) {
  if (a.producer != b.producer) return "producer";
  if (a.opset != b.opset) return "opset";
  if (a.metadata != b.metadata) return "metadata";
  if (a.inputs != b.inputs) return "inputs";
  if (a.outputs != b.outputs) return "outputs";
  if (a.values.size() != b.values.size()) return "value count";
  for (size_t i = 0; i < a.values.size(); ++i) {
    const Value& x = a.values[i];
    const Value& y = b.values[i];
    std::string where = fmt::format("value {} '{}': ", i, x.name);
    if (x.name != y.name) return where + "name";
    if (x.dtype != y.dtype) return where + "dtype";
    if (x.dims != y.dims) return where + "dims";
    if (x.has_shape != y.has_shape) return where + "has_shape";
    if (x.dim_params != y.dim_params) return where + "dim_params";
    if (x.producer != y.producer) return where + "producer";
    std::string t = tensor_diff(x.constant, y.constant);
    if (!t.empty()) return where + "constant " + t;
  }
  if (a.nodes.size() != b.nodes.size()) return "node count";
  for (size_t i = 0; i < a.nodes.size(); ++i) {
    const Node& x = a.nodes[i];
    const Node& y = b.nodes[i];
    std::string where = fmt::format("node {} {} '{}': ", i, x.op_type, x.name);
    if (x.name != y.name || x.op_type != y.op_type || x.domain != y.domain) return where + "names";
    if (x.inputs != y.inputs) return where + "inputs";
    if (x.outputs != y.outputs) return where + "outputs";
    if (x.dead != y.dead) return where + "dead";
    if (x.attrs.size() != y.attrs.size()) return where + "attribute count";
    for (auto ia = x.attrs.begin(), ib = y.attrs.begin(); ia != x.attrs.end(); ++ia, ++ib) {
      if (ia->first != ib->first) return where + "attribute names";
      std::string d = attr_diff(ia->second, ib->second);
      if (!d.empty()) return where + "attribute '" + ia->first + "' " + d;
    }
    if (x.post_ops.size() != y.post_ops.size()) return where + "post-op count";
    for (size_t k = 0; k < x.post_ops.size(); ++k) {
      const PostOp& p = x.post_ops[k];
      const PostOp& q = y.post_ops[k];
      if (p.kind != q.kind || !same_bits(p.alpha, q.alpha) || !same_bits(p.beta, q.beta) ||
          p.input != q.input) {
        return where + fmt::format("post-op {}", k);
      }
    }
  }
  return "";
}

// ---- graphs

Tensor filled(DType dt, Dims d, uint32_t seed) {
  Tensor t(dt, std::move(d));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-2.0, 2.0);
  for (int64_t i = 0; i < t.numel(); ++i) t.set_f64(i, u(rng) * 10);
  return t;
}

Attribute attr(Attribute::Kind k) {
  Attribute a;
  a.kind = k;
  return a;
}

// A small graph using every field and attribute kind of the IR, with edge cases (symbolic dims,
// an undefined dtype, -0.0 and NaN floats, empty and scalar tensors, a dead node, omitted
// optional inputs/outputs, every post-op form).
Graph every_field_graph() {
  Graph g;
  g.producer = "shoal-test";
  g.opset = 17;
  g.metadata = {{"names", "{0: 'a', 1: 'b'}"}, {"stride", "32"}, {"", "empty key"}};
  ValueId x = g.add_value("images", DType::kF32);
  g.value(x).dims = {-1, 3, 4, 4};
  g.value(x).has_shape = true;
  g.value(x).dim_params = {"batch", "", "", ""};
  ValueId w = g.add_constant("w", filled(DType::kF32, {2, 3, 1, 1}, 1));
  ValueId bias = g.add_constant("b", filled(DType::kF16, {2}, 2));
  ValueId empty = g.add_constant("empty", Tensor(DType::kI64, {0}));
  ValueId scalar = g.add_constant("scalar", filled(DType::kI8, {}, 3));
  ValueId y = g.add_value("y", DType::kF32);
  g.value(y).dims = {-1, 2, 4, 4};
  g.value(y).has_shape = true;
  ValueId z = g.add_value("z");  // undefined dtype, no shape

  Node conv;
  conv.name = "conv/0";
  conv.op_type = "Conv";
  conv.inputs = {x, w, bias, kNoValue};
  conv.outputs = {y};
  Attribute i = attr(Attribute::Kind::kInt);
  i.i = -(int64_t{1} << 62);
  conv.attrs["group"] = i;
  Attribute f = attr(Attribute::Kind::kFloat);
  f.f = -0.0f;
  conv.attrs["neg_zero"] = f;
  Attribute s = attr(Attribute::Kind::kString);
  s.s = std::string("SAME\0UPPER", 10);
  conv.attrs["auto_pad"] = s;
  Attribute ints = attr(Attribute::Kind::kInts);
  ints.ints = {1, -1, INT64_MAX, INT64_MIN, 0};
  conv.attrs["pads"] = ints;
  Attribute floats = attr(Attribute::Kind::kFloats);
  floats.floats = {1.5f, std::nanf("7"), -INFINITY, 1e-40f};
  conv.attrs["scales"] = floats;
  Attribute strings = attr(Attribute::Kind::kStrings);
  strings.strings = {"", "a", std::string(300, 'x')};
  conv.attrs["strings"] = strings;
  Attribute t = attr(Attribute::Kind::kTensor);
  t.t = filled(DType::kI32, {3, 2}, 4);
  conv.attrs["value"] = t;
  conv.attrs["body"] = attr(Attribute::Kind::kGraph);
  Attribute mixed = attr(Attribute::Kind::kInt);  // stray fields beside its kind's
  mixed.i = 5;
  mixed.s = "stray";
  mixed.t = filled(DType::kBool, {5}, 5);
  conv.attrs["mixed"] = mixed;
  PostOp silu;
  silu.kind = PostOp::Kind::kSilu;
  PostOp add;
  add.kind = PostOp::Kind::kAdd;
  add.input = 0;
  PostOp clip;
  clip.kind = PostOp::Kind::kClip;
  clip.alpha = -1.f;
  clip.beta = 6.f;
  conv.post_ops = {silu, add, clip};
  g.add_node(conv);

  Node dead;
  dead.name = "dead";
  dead.op_type = "Relu";
  dead.domain = "com.example";
  dead.inputs = {y, empty, scalar};
  dead.outputs = {z, kNoValue};
  dead.dead = true;
  g.add_node(dead);

  g.inputs = {x};
  g.outputs = {y, z};
  return g;
}

// Symbolic input dims set (batch 1, others 320) as CompiledModel::compile would, then specialised
// and optimised: the graph the disk cache stores.
Graph optimised_graph(Graph g) {
  std::map<std::string, Dims> overrides;
  for (ValueId v : g.inputs) {
    Dims d = g.value(v).dims;
    bool symbolic = false;
    for (size_t i = 0; i < d.size(); ++i) {
      if (d[i] < 0) {
        d[i] = i == 0 ? 1 : 320;
        symbolic = true;
      }
    }
    if (symbolic) overrides[g.value(v).name] = d;
  }
  for (ValueId v : g.inputs) {
    auto it = overrides.find(g.value(v).name);
    if (it != overrides.end()) g.value(v).dims = it->second;
    g.value(v).has_shape = true;
  }
  const int opset = static_cast<int>(g.opset);
  specialize_shapes(g, [opset](const Node& n, const std::vector<Tensor>& in,
                               std::vector<Tensor>& out) { reference_eval(n, opset, in, out); });
  optimize(g);
  return g;
}

std::vector<Tensor> run_cpu(const Graph& g, const std::vector<Tensor>& inputs) {
  CompileRequest req;
  req.optimize_graph = false;  // already optimised
  Session s(CompiledModel::compile(g, req));
  return s.run(inputs);
}

std::vector<Tensor> random_inputs(const Graph& g) {
  std::vector<Tensor> r;
  uint32_t seed = 7;
  for (ValueId v : g.inputs) {
    Tensor t(g.value(v).dtype, g.value(v).dims);
    std::mt19937 rng(seed++);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (int64_t i = 0; i < t.numel(); ++i) t.set_f64(i, u(rng));
    r.push_back(t);
  }
  return r;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Serializes, deserializes, checks field equality, byte-identical re-serialization, aligned
// payloads and (when `run`) bit-identical cpu outputs. Prints size and timings.
void check_round_trip(const Graph& g, const std::string& label, bool run, double prepare_ms = 0) {
  const auto t_ser = std::chrono::steady_clock::now();
  std::string blob = serialize_graph(g);
  const double ser_cold_ms = ms_since(t_ser);
  const auto t_de = std::chrono::steady_clock::now();
  Graph back = deserialize_graph(blob.data(), blob.size());
  const double de_cold_ms = ms_since(t_de);
  EXPECT_EQ(graph_diff(g, back), "") << label;
  EXPECT_TRUE(serialize_graph(back) == blob) << label << ": re-serialization differs";

  // Every tensor payload (value constants, then tensor attributes, in order) sits in the data
  // section at a 64-byte aligned offset, so a mapped file can use it in place.
  uint64_t data_offset = 0, payload_end = 0;
  std::memcpy(&data_offset, blob.data() + 48, 8);
  EXPECT_EQ(data_offset % kGraphPayloadAlignment, 0u) << label;
  auto check_payload = [&](const Tensor& t, const std::string& what) {
    if (!t.defined()) return;
    const uint64_t off = (payload_end + 63) / 64 * 64;
    payload_end = off + t.nbytes();
    ASSERT_LE(data_offset + payload_end, blob.size()) << label << ": " << what;
    EXPECT_EQ(std::memcmp(blob.data() + data_offset + off, t.raw(), t.nbytes()), 0)
        << label << ": " << what << " is not at aligned offset " << data_offset + off;
  };
  for (const Value& v : g.values) check_payload(v.constant, "value '" + v.name + "'");
  for (const Node& n : g.nodes) {
    for (const auto& [key, a] : n.attrs) check_payload(a.t, n.name + " attribute " + key);
  }
  EXPECT_EQ(data_offset + payload_end, blob.size()) << label;

  // Timings: the first round trip above (cold: fresh pages) and the best of 3 more (warm heap).
  double ser_ms[2] = {ser_cold_ms, 1e30}, de_ms[2] = {de_cold_ms, 1e30};
  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    std::string b2 = serialize_graph(g);
    ser_ms[1] = std::min(ser_ms[1], ms_since(t0));
    t0 = std::chrono::steady_clock::now();
    Graph g2 = deserialize_graph(b2.data(), b2.size());
    de_ms[1] = std::min(de_ms[1], ms_since(t0));
  }
  size_t weight_bytes = 0;
  for (const Value& v : g.values) weight_bytes += v.constant.nbytes();
  const std::string prepare =
      prepare_ms > 0 ? fmt::format("; import+specialise+optimise {:.1f} ms", prepare_ms) : "";
  std::printf(
      "[ serialize ] %-30s %9zu bytes (overhead %6zu, %3zu values, %3zu nodes): "
      "serialize %.2f / %.2f ms, deserialize %.2f / %.2f ms (cold / warm)%s\n",
      label.c_str(), blob.size(), blob.size() - weight_bytes, g.values.size(), g.nodes.size(),
      ser_ms[0], ser_ms[1], de_ms[0], de_ms[1], prepare.c_str());

  if (!run) return;
  std::vector<Tensor> in = random_inputs(g);
  std::vector<Tensor> want = run_cpu(g, in);
  std::vector<Tensor> got = run_cpu(back, in);
  ASSERT_EQ(want.size(), got.size()) << label;
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(want[i].dims(), got[i].dims()) << label;
    EXPECT_EQ(std::memcmp(want[i].raw(), got[i].raw(), want[i].nbytes()), 0)
        << label << ": output " << i << " is not bit-identical";
  }
}

void expect_invalid(std::string_view blob, const std::string& label, const char* needle = "",
                    bool verify = true) {
  DeserializeOptions o;
  o.verify_checksum = verify;
  try {
    deserialize_graph(blob.data(), blob.size(), o);
    ADD_FAILURE() << label << ": accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidModel) << label;
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << label << ": " << e.what();
  }
}

// ---- round trips

TEST(GraphSerialize, EveryFieldRoundTrips) {
  Graph g = every_field_graph();
  check_round_trip(g, "every-field graph", false);
  check_round_trip(Graph(), "empty graph", false);
}

TEST(GraphSerialize, BuilderModelsRoundTripAndRunBitIdentical) {
  BuilderOptions o;
  o.imgsz = 64;
  o.seed = 3;
  std::string det = build_yolo_detector_onnx(o);
  Graph imported = import_onnx_bytes(det.data(), det.size(), "");
  check_round_trip(imported, "builder detector (imported)", false);
  check_round_trip(optimised_graph(imported), "builder detector (optimised)", true);
  o.imgsz = 32;
  o.num_classes = 10;
  std::string cls = build_classifier_onnx(o);
  check_round_trip(optimised_graph(import_onnx_bytes(cls.data(), cls.size(), "")),
                   "builder classifier (optimised)", true);
}

TEST(GraphSerialize, SharedModelsRoundTripAndRunBitIdentical) {
  std::string shared = shared_dir();
  if (shared.empty()) GTEST_SKIP() << "../shared not found: shared-model round trips skipped";
  std::vector<std::string> paths;
  for (const std::string& dir : {shared + "/models", shared + "/models/real"}) {
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.path().extension() == ".onnx") paths.push_back(e.path().string());
    }
  }
  std::sort(paths.begin(), paths.end());
  ASSERT_FALSE(paths.empty());
  // Under sanitizers the cpu runs dominate; field equality and re-serialization still run.
  const bool run = std::getenv("SHOAL_SKIP_SLOW") == nullptr;
  if (!run) std::printf("[ serialize ] SHOAL_SKIP_SLOW set: shared models not run on the cpu\n");
  for (const std::string& p : paths) {
    SCOPED_TRACE(p);
    std::string label = std::filesystem::path(p).filename().string();
    const auto t0 = std::chrono::steady_clock::now();
    Graph g = optimised_graph(import_onnx_file(p));
    check_round_trip(g, label, run, ms_since(t0));
  }
}

// ---- corruption

TEST(GraphSerialize, TruncationAlwaysThrows) {
  std::string blob = serialize_graph(every_field_graph());
  for (size_t n = 0; n < blob.size(); ++n) {
    expect_invalid(blob.substr(0, n), fmt::format("truncated to {}", n));
  }
  // Truncation that keeps a consistent header (checksum not checked): the structure parser must
  // stop at its section's end.
  uint64_t s_size;
  std::memcpy(&s_size, blob.data() + 40, 8);
  for (uint64_t n = 0; n < s_size; ++n) {
    std::string b = blob;
    std::memcpy(b.data() + 40, &n, 8);
    expect_invalid(b, fmt::format("structure cut to {}", n), "", false);
  }
  BuilderOptions o;
  o.imgsz = 64;
  std::string det = build_yolo_detector_onnx(o);
  std::string big = serialize_graph(optimised_graph(import_onnx_bytes(det.data(), det.size(), "")));
  for (size_t n = 0; n < big.size(); n += 1 + big.size() / 211) {
    expect_invalid(std::string_view(big).substr(0, n), fmt::format("detector truncated to {}", n));
  }
  expect_invalid(std::string_view(big).substr(0, big.size() - 1), "detector minus one byte",
                 "header says");
}

TEST(GraphSerialize, EveryFlippedByteThrows) {
  std::string blob = serialize_graph(every_field_graph());
  for (size_t i = 0; i < blob.size(); ++i) {
    std::string b = blob;
    b[i] = static_cast<char>(b[i] ^ 0x5a);
    expect_invalid(b, fmt::format("byte {} flipped", i));
  }
}

TEST(GraphSerialize, EveryFlippedBitWithoutChecksumNeverCrashes) {
  // With the checksum off the structure parser sees every corruption: each must either throw
  // shoal::Error or give a graph that re-serializes (names, floats, payload bytes may change).
  std::string blob = serialize_graph(every_field_graph());
  DeserializeOptions o;
  o.verify_checksum = false;
  int rejected = 0, accepted = 0;
  for (size_t i = 0; i < blob.size() * 8; ++i) {
    std::string b = blob;
    b[i / 8] = static_cast<char>(b[i / 8] ^ (1 << (i % 8)));
    try {
      Graph g = deserialize_graph(b.data(), b.size(), o);
      std::string again = serialize_graph(g);
      EXPECT_EQ(graph_diff(g, deserialize_graph(again.data(), again.size())), "");
      ++accepted;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidModel) << e.what();
      ++rejected;
    }
  }
  std::printf("[ serialize ] %zu bit flips without checksum: %d rejected, %d accepted\n",
              blob.size() * 8, rejected, accepted);
  EXPECT_GT(rejected, 0);
}

TEST(GraphSerialize, BadHeaderThrows) {
  std::string blob = serialize_graph(every_field_graph());
  expect_invalid("", "empty", "shorter than");
  EXPECT_THROW(deserialize_graph(nullptr, 0), Error);
  std::string b = blob;
  b[0] = 'X';
  expect_invalid(b, "magic", "magic");
  expect_invalid(std::string(blob.size(), '\0'), "zeros", "magic");
  b = blob;
  uint32_t v = kGraphFormatVersion + 1;
  std::memcpy(b.data() + 8, &v, 4);
  expect_invalid(b, "version", "version 2 is not supported");
  v = 0;
  std::memcpy(b.data() + 8, &v, 4);
  expect_invalid(b, "version 0", "version 0");
  b = blob;
  b[12] = 1;
  expect_invalid(b, "flags", "flags");
  expect_invalid(blob + std::string(64, '\0'), "padded", "header says");
  b = blob;
  b[20] ^= 1;
  expect_invalid(b, "checksum", "checksum mismatch");
  b = blob;
  b[blob.size() - 1] ^= 1;
  expect_invalid(b, "payload byte", "checksum mismatch");
}

// A blob around a hand-written structure section (checksum left zero: parse with it off).
std::string craft(const std::string& structure, const std::string& data = "") {
  std::string blob(kGraphHeaderBytes, '\0');
  std::memcpy(blob.data(), "SHOALGRF", 8);
  uint32_t version = kGraphFormatVersion;
  std::memcpy(blob.data() + 8, &version, 4);
  uint64_t s_off = kGraphHeaderBytes, s_size = structure.size();
  uint64_t d_off = (s_off + s_size + 63) / 64 * 64, d_size = data.size();
  uint64_t total = d_off + d_size;
  std::memcpy(blob.data() + 24, &total, 8);
  std::memcpy(blob.data() + 32, &s_off, 8);
  std::memcpy(blob.data() + 40, &s_size, 8);
  std::memcpy(blob.data() + 48, &d_off, 8);
  std::memcpy(blob.data() + 56, &d_size, 8);
  blob += structure;
  blob.resize(d_off, '\0');
  return blob + data;
}

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int x : b) s.push_back(static_cast<char>(x));
  return s;
}

TEST(GraphSerialize, HostileStructureThrows) {
  // producer "", opset 0, 0 values, 0 nodes, 0 inputs, 0 outputs, 0 metadata.
  const std::string empty = bytes({0, 0, 0, 0, 0, 0, 0});
  DeserializeOptions off;
  off.verify_checksum = false;
  const std::string empty_blob = craft(empty);
  EXPECT_EQ(graph_diff(deserialize_graph(empty_blob.data(), empty_blob.size(), off), Graph()), "");
  expect_invalid(craft(empty), "checksum zero", "checksum mismatch");
  auto bad = [&](const std::string& s, const char* needle, const std::string& data = "") {
    expect_invalid(craft(s, data), needle, needle, false);
  };
  // Value count 2^62: refused before anything is allocated.
  bad(bytes({0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 0, 0, 0, 0}),
      "value count");
  bad(bytes({0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}), "overflows 64 bits");
  bad(bytes({0x7f, 'a'}), "string of 127 bytes");
  bad(empty + bytes({0}), "unread bytes");
  // One value: name "v", dtype, has_shape, rank, dim_params, producer, tensor code.
  auto value = [](int dtype, int has_shape, int producer, std::string tensor) {
    return bytes({1, 'v', dtype, has_shape, 0, 0, producer}) + tensor;
  };
  auto one_value = [&](std::string v, std::string nodes = "") {
    return bytes({0, 0, 1, nodes.empty() ? 0 : 1}) + v + nodes + bytes({0, 0, 0});
  };
  const std::string one = craft(one_value(value(1, 1, 1, bytes({0}))));
  EXPECT_NO_THROW(deserialize_graph(one.data(), one.size(), off));
  bad(one_value(value(42, 1, 1, bytes({0}))), "dtype code 42");
  bad(one_value(value(1, 2, 1, bytes({0}))), "not 0 or 1");
  bad(one_value(value(1, 1, 2, bytes({0}))), "value producer");  // producer 1 with 0 nodes
  // Tensors: f32 [2] needs 8 bytes at an aligned offset inside the data section.
  const std::string eight(8, '\1');
  const std::string with_tensor = craft(one_value(value(1, 1, 1, bytes({1, 1, 2, 0, 8}))), eight);
  EXPECT_NO_THROW(deserialize_graph(with_tensor.data(), with_tensor.size(), off));
  bad(one_value(value(1, 1, 1, bytes({1, 1, 2, 0, 8}))), "leaves the data section");
  bad(one_value(value(1, 1, 1, bytes({1, 1, 2, 0, 9}))), "needs 8 bytes");
  bad(one_value(value(1, 1, 1, bytes({1, 1, 2, 4, 8}))), "misaligned", eight + eight);
  bad(one_value(value(1, 1, 1, bytes({1, 1, 2, 0, 8}))), "tensors end at 8", eight + eight);
  bad(one_value(value(1, 1, 1, bytes({99, 0}))), "tensor dtype code 99");
  bad(one_value(
          value(1, 1, 1,
                bytes({1, 2, 0xff, 0xff, 0xff, 0xff, 0x0f, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0}))),
      "more than");
  // One node reading value 0: name, op_type, domain, inputs, outputs, attrs, post-ops, dead.
  auto node = [](std::string tail) { return bytes({0, 1, 'X', 0, 1}) + tail; };
  const std::string v = value(1, 1, 1, bytes({0}));
  const std::string ok = craft(one_value(v, node(bytes({0, 0, 0, 0, 1}))));  // a dead node
  EXPECT_NO_THROW(deserialize_graph(ok.data(), ok.size(), off));
  bad(one_value(v, node(bytes({0, 0, 0, 0, 0}))), "not a graph input, a constant or an output");
  bad(one_value(v, node(bytes({2, 0, 0, 0, 0}))), "index 1 is outside [-1, 1)");
  bad(one_value(v, node(bytes({3, 0, 0, 0, 0}))), "index -2 is outside");
  bad(one_value(v, node(bytes({0, 0, 1, 1, 'k', 9, 0, 0, 0}))), "kind code 9");
  bad(one_value(v, node(bytes({0, 0, 1, 1, 'k', 0, 0x80, 0, 0}))), "unknown bits");
  bad(one_value(v, node(bytes({0, 0, 2, 1, 'k', 0, 0, 1, 'k', 0, 0, 0, 0}))), "appears twice");
  bad(one_value(v, node(bytes({0, 0, 0, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}))),
      "post-op kind code 12");
  // kAdd needs a valid input index; the node has one input (value 0).
  bad(one_value(v, node(bytes({0, 1, 0, 0, 1, 8, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0}))), "post-op input");
  bad(one_value(v, node(bytes({0, 0, 0, 0, 2}))), "dead flag");
}

}  // namespace
}  // namespace shoal
