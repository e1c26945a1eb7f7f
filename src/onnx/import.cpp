// ONNX import on the generated protobuf classes (libonnx-dev). Everything read from the file is
// validated before use: sizes with checked arithmetic, element counts against dims before any
// allocation, external-data paths confined to the model's folder.
#include "onnx/import.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "graph/ops.h"
#include "onnx/qoperator.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;

// protobuf cannot parse a message of 2 GiB or more (sizes are int); larger models must keep
// their weights in external data files.
constexpr size_t kMaxProtoBytes = static_cast<size_t>(INT_MAX);
constexpr int64_t kMinIrVersion = 3;   // first IR version with opset_import
constexpr int64_t kMaxIrVersion = 10;  // ONNX 1.16
constexpr int64_t kMinOpset = 7;
constexpr int64_t kMaxOpset = 22;     // 20-22 changed only types (int4, bfloat16) of Shoal's ops
constexpr size_t kMaxNamesPerOp = 5;  // node names listed per unsupported op

// Where tensors of one model come from, for external data and messages.
struct Source {
  std::string base_dir;  // "" = external data not allowed
};

bool is_default_domain(const std::string& d) { return d.empty() || d == "ai.onnx"; }

std::string onnx_dtype_name(int32_t t) {
  if (onnx::TensorProto_DataType_IsValid(t)) {
    return onnx::TensorProto_DataType_Name(static_cast<onnx::TensorProto_DataType>(t));
  }
  return "unknown data type " + std::to_string(t);
}

// Shoal dtype for an ONNX TensorProto.DataType, kUndefined when Shoal has no such dtype.
DType dtype_from_onnx(int32_t t) {
  switch (t) {
    case onnx::TensorProto::FLOAT:
      return DType::kF32;
    case onnx::TensorProto::DOUBLE:
      return DType::kF64;
    case onnx::TensorProto::FLOAT16:
      return DType::kF16;
    case onnx::TensorProto::BFLOAT16:
      return DType::kBF16;
    case onnx::TensorProto::INT8:
      return DType::kI8;
    case onnx::TensorProto::UINT8:
      return DType::kU8;
    case onnx::TensorProto::INT32:
      return DType::kI32;
    case onnx::TensorProto::INT64:
      return DType::kI64;
    case onnx::TensorProto::BOOL:
      return DType::kBool;
    default:
      return DType::kUndefined;
  }
}

constexpr const char* kSupportedDtypes =
    "float32, float64, float16, bfloat16, int8, uint8, int32, int64, bool";

DType checked_dtype(int32_t t, const std::string& what) {
  DType d = dtype_from_onnx(t);
  if (d == DType::kUndefined) {
    if (t == onnx::TensorProto::UNDEFINED) {
      fail(ErrorCode::kInvalidModel, "{} has no data type", what);
    }
    fail(ErrorCode::kUnsupported, "{} has data type {}; Shoal supports {}", what,
         onnx_dtype_name(t), kSupportedDtypes);
  }
  return d;
}

// Element count of `dims` from model data: rejects negative dims, overflow and huge tensors.
int64_t checked_numel(const Dims& dims, DType dtype, const std::string& what) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0)
      fail(ErrorCode::kInvalidModel, "{} has a negative dimension: {}", what, dims_str(dims));
    if (__builtin_mul_overflow(n, d, &n)) {
      fail(ErrorCode::kLimit, "{}: element count of {} overflows", what, dims_str(dims));
    }
  }
  int64_t bytes;
  if (__builtin_mul_overflow(n, static_cast<int64_t>(dtype_size(dtype)), &bytes) ||
      bytes > kMaxTensorBytes) {
    fail(ErrorCode::kLimit, "{}: {} {} is larger than the limit of {} bytes", what,
         dtype_name(dtype), dims_str(dims), kMaxTensorBytes);
  }
  return n;
}

// Resolves an external-data location against the model folder; refuses absolute paths and
// anything that leaves the folder ('..' or a symlink pointing outside).
fs::path resolve_external_path(const Source& src, const std::string& location,
                               const std::string& what) {
  if (src.base_dir.empty()) {
    fail(ErrorCode::kInvalidArgument,
         "{} uses external data '{}', but the model was loaded from memory without a folder to "
         "read it from",
         what, location);
  }
  if (location.empty())
    fail(ErrorCode::kInvalidModel, "{}: external data has an empty location", what);
  if (location.find('\0') != std::string::npos) {
    fail(ErrorCode::kInvalidModel, "{}: external data location contains a NUL byte", what);
  }
  fs::path rel(location);
  if (rel.is_absolute() || rel.has_root_name() || rel.has_root_directory()) {
    fail(ErrorCode::kInvalidModel,
         "{}: external data location '{}' is an absolute path; it must be "
         "relative to the model's folder",
         what, location);
  }
  for (const fs::path& part : rel.lexically_normal()) {
    if (part == "..") {
      fail(ErrorCode::kInvalidModel, "{}: external data location '{}' leaves the model's folder",
           what, location);
    }
  }
  fs::path base(src.base_dir);
  fs::path full = base / rel.lexically_normal();
  std::error_code ec;
  fs::path canon_base = fs::weakly_canonical(base, ec);
  fs::path canon_full = ec ? fs::path() : fs::weakly_canonical(full, ec);
  if (!ec) {
    auto rel_to_base = canon_full.lexically_relative(canon_base);
    if (rel_to_base.empty() || *rel_to_base.begin() == "..") {
      fail(ErrorCode::kInvalidModel,
           "{}: external data location '{}' resolves outside the model's "
           "folder ({})",
           what, location, canon_full.string());
    }
  }
  return full;
}

int64_t parse_external_int(const std::string& key, const std::string& v, const std::string& what) {
  if (v.empty() || v.size() > 18 ||
      !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    fail(ErrorCode::kInvalidModel, "{}: external data '{}' is not a valid number: '{}'", what, key,
         v);
  }
  return std::stoll(v);
}

// Reads the bytes of an EXTERNAL tensor into `t` (already allocated with the expected size).
void read_external(const onnx::TensorProto& tp, const Source& src, const std::string& what,
                   Tensor& t) {
  std::string location;
  int64_t offset = 0;
  int64_t length = -1;
  for (const auto& kv : tp.external_data()) {
    if (kv.key() == "location") {
      location = kv.value();
    } else if (kv.key() == "offset") {
      offset = parse_external_int("offset", kv.value(), what);
    } else if (kv.key() == "length") {
      length = parse_external_int("length", kv.value(), what);
    }
  }
  if (location.empty())
    fail(ErrorCode::kInvalidModel, "{}: external data without a location", what);
  fs::path path = resolve_external_path(src, location, what);
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    fail(ErrorCode::kNotFound, "{}: external data file '{}' not found", what, path.string());
  }
  auto file_size = static_cast<int64_t>(fs::file_size(path, ec));
  if (ec)
    fail(ErrorCode::kNotFound, "{}: cannot read external data file '{}'", what, path.string());
  auto need = static_cast<int64_t>(t.nbytes());
  if (length >= 0 && length != need) {
    fail(ErrorCode::kInvalidModel, "{}: external data length {} does not match {} {} ({} bytes)",
         what, length, dtype_name(t.dtype()), dims_str(t.dims()), need);
  }
  if (offset > file_size || file_size - offset < need) {
    fail(ErrorCode::kInvalidModel,
         "{}: external data file '{}' has {} bytes, needs {} at offset {}", what, path.string(),
         file_size, need, offset);
  }
  if (need == 0) return;
  std::ifstream f(path, std::ios::binary);
  f.seekg(offset);
  f.read(static_cast<char*>(t.raw()), need);
  if (!f || f.gcount() != need) {
    fail(ErrorCode::kInvalidModel, "{}: short read from external data file '{}'", what,
         path.string());
  }
}

void count_mismatch(const std::string& what, int64_t have, const char* field, DType dtype,
                    const Dims& dims, int64_t need) {
  fail(ErrorCode::kInvalidModel, "{}: {} holds {} values, but {} {} needs {}", what, field, have,
       dtype_name(dtype), dims_str(dims), need);
}

// Converts a TensorProto (typed fields, raw_data or external data) into a Tensor. `what` names
// the tensor in messages ("initializer 'w'").
Tensor tensor_from_proto(const onnx::TensorProto& tp, const Source& src, const std::string& what) {
  if (tp.has_segment())
    fail(ErrorCode::kUnsupported, "{} is segmented; Shoal does not support that", what);
  DType dtype = checked_dtype(tp.data_type(), what);
  Dims dims(tp.dims().begin(), tp.dims().end());
  int64_t n = checked_numel(dims, dtype, what);
  auto esize = static_cast<int64_t>(dtype_size(dtype));

  if (tp.data_location() == onnx::TensorProto::EXTERNAL) {
    Tensor t(dtype, dims);
    read_external(tp, src, what, t);
    if (dtype == DType::kBool) {
      auto* p = t.data<uint8_t>();
      for (int64_t i = 0; i < n; ++i) p[i] = p[i] ? 1 : 0;
    }
    return t;
  }

  if (tp.has_raw_data()) {
    const std::string& raw = tp.raw_data();
    if (static_cast<int64_t>(raw.size()) != n * esize) {
      fail(ErrorCode::kInvalidModel, "{}: raw_data has {} bytes, but {} {} needs {}", what,
           raw.size(), dtype_name(dtype), dims_str(dims), n * esize);
    }
    Tensor t(dtype, dims);
    if (!raw.empty()) std::memcpy(t.raw(), raw.data(), raw.size());
    if (dtype == DType::kBool) {
      auto* p = t.data<uint8_t>();
      for (int64_t i = 0; i < n; ++i) p[i] = p[i] ? 1 : 0;
    }
    return t;
  }

  // Typed fields (ONNX: float_data FLOAT; int32_data INT32/INT8/UINT8/BOOL/FLOAT16/BFLOAT16;
  // int64_data INT64; double_data DOUBLE).
  switch (dtype) {
    case DType::kF32: {
      if (tp.float_data_size() != n)
        count_mismatch(what, tp.float_data_size(), "float_data", dtype, dims, n);
      Tensor t(dtype, dims);
      if (n) std::memcpy(t.raw(), tp.float_data().data(), static_cast<size_t>(n) * 4);
      return t;
    }
    case DType::kF64: {
      if (tp.double_data_size() != n)
        count_mismatch(what, tp.double_data_size(), "double_data", dtype, dims, n);
      Tensor t(dtype, dims);
      if (n) std::memcpy(t.raw(), tp.double_data().data(), static_cast<size_t>(n) * 8);
      return t;
    }
    case DType::kI64: {
      if (tp.int64_data_size() != n)
        count_mismatch(what, tp.int64_data_size(), "int64_data", dtype, dims, n);
      Tensor t(dtype, dims);
      if (n) std::memcpy(t.raw(), tp.int64_data().data(), static_cast<size_t>(n) * 8);
      return t;
    }
    case DType::kI32:
    case DType::kI8:
    case DType::kU8:
    case DType::kBool:
    case DType::kF16:
    case DType::kBF16: {
      if (tp.int32_data_size() != n)
        count_mismatch(what, tp.int32_data_size(), "int32_data", dtype, dims, n);
      Tensor t(dtype, dims);
      const int32_t* s = tp.int32_data().data();
      const int32_t lo = dtype == DType::kI8 ? -128 : 0, hi = dtype == DType::kI8 ? 127 : 255;
      for (int64_t i = 0; i < n; ++i) {
        int32_t v = s[i];
        if ((dtype == DType::kI8 || dtype == DType::kU8) && (v < lo || v > hi)) {
          fail(ErrorCode::kInvalidModel,
               "{}: int32_data holds {} at index {}, outside {}'s range [{}, {}] (a zero point or "
               "quantized weight must fit its type); re-export the model",
               what, v, i, dtype_name(dtype), lo, hi);
        }
        switch (dtype) {
          case DType::kI32:
            t.data<int32_t>()[i] = v;
            break;
          case DType::kI8:
            t.data<int8_t>()[i] = static_cast<int8_t>(v);
            break;
          case DType::kU8:
            t.data<uint8_t>()[i] = static_cast<uint8_t>(v);
            break;
          case DType::kBool:
            t.data<uint8_t>()[i] = v != 0;
            break;
          default:
            t.data<uint16_t>()[i] = static_cast<uint16_t>(v);
            break;  // f16/bf16 bits
        }
      }
      return t;
    }
    case DType::kUndefined:
      break;
  }
  fail(ErrorCode::kInternal, "{}: unhandled data type", what);
}

Tensor parse_attribute_tensor(const onnx::AttributeProto& a, const Source& src,
                              const std::string& where) {
  return tensor_from_proto(a.t(), src, fmt::format("{}: attribute '{}'", where, a.name()));
}

// Infers the kind of an attribute written by old exporters without a type.
onnx::AttributeProto::AttributeType attribute_type(const onnx::AttributeProto& a) {
  if (a.type() != onnx::AttributeProto::UNDEFINED) return a.type();
  if (a.has_f()) return onnx::AttributeProto::FLOAT;
  if (a.has_i()) return onnx::AttributeProto::INT;
  if (a.has_s()) return onnx::AttributeProto::STRING;
  if (a.has_t()) return onnx::AttributeProto::TENSOR;
  if (a.has_g()) return onnx::AttributeProto::GRAPH;
  if (a.floats_size()) return onnx::AttributeProto::FLOATS;
  if (a.ints_size()) return onnx::AttributeProto::INTS;
  if (a.strings_size()) return onnx::AttributeProto::STRINGS;
  return onnx::AttributeProto::UNDEFINED;
}

Attribute convert_attribute(const onnx::AttributeProto& a, const Source& src,
                            const std::string& where) {
  Attribute r;
  switch (attribute_type(a)) {
    case onnx::AttributeProto::INT:
      r.kind = Attribute::Kind::kInt;
      r.i = a.i();
      break;
    case onnx::AttributeProto::FLOAT:
      r.kind = Attribute::Kind::kFloat;
      r.f = a.f();
      break;
    case onnx::AttributeProto::STRING:
      r.kind = Attribute::Kind::kString;
      r.s = a.s();
      break;
    case onnx::AttributeProto::INTS:
      r.kind = Attribute::Kind::kInts;
      r.ints.assign(a.ints().begin(), a.ints().end());
      break;
    case onnx::AttributeProto::FLOATS:
      r.kind = Attribute::Kind::kFloats;
      r.floats.assign(a.floats().begin(), a.floats().end());
      break;
    case onnx::AttributeProto::STRINGS:
      r.kind = Attribute::Kind::kStrings;
      r.strings.assign(a.strings().begin(), a.strings().end());
      break;
    case onnx::AttributeProto::TENSOR:
      r.kind = Attribute::Kind::kTensor;
      r.t = parse_attribute_tensor(a, src, where);
      break;
    case onnx::AttributeProto::GRAPH:
    case onnx::AttributeProto::GRAPHS:
      fail(ErrorCode::kUnsupported,
           "{}: attribute '{}' is a subgraph; Shoal does not support "
           "control flow or subgraphs",
           where, a.name());
    case onnx::AttributeProto::UNDEFINED:
      fail(ErrorCode::kInvalidModel, "{}: attribute '{}' has no type and no value", where,
           a.name());
    default:
      fail(ErrorCode::kUnsupported, "{}: attribute '{}' has type {}, which Shoal does not support",
           where, a.name(), onnx::AttributeProto_AttributeType_Name(a.type()));
  }
  return r;
}

// The value of a Constant node as a tensor.
Tensor constant_node_value(const onnx::NodeProto& n, const Source& src, const std::string& where) {
  if (n.attribute_size() != 1) {
    fail(ErrorCode::kInvalidModel, "{}: a Constant needs exactly one value attribute, has {}",
         where, n.attribute_size());
  }
  const onnx::AttributeProto& a = n.attribute(0);
  const std::string& k = a.name();
  if (k == "value") {
    if (attribute_type(a) != onnx::AttributeProto::TENSOR) {
      fail(ErrorCode::kInvalidModel, "{}: attribute 'value' must be a tensor", where);
    }
    return parse_attribute_tensor(a, src, where);
  }
  if (k == "value_float") {
    Tensor t(DType::kF32, {});
    t.data<float>()[0] = a.f();
    return t;
  }
  if (k == "value_int") {
    Tensor t(DType::kI64, {});
    t.data<int64_t>()[0] = a.i();
    return t;
  }
  if (k == "value_floats") {
    Tensor t(DType::kF32, {static_cast<int64_t>(a.floats_size())});
    if (a.floats_size()) std::memcpy(t.raw(), a.floats().data(), t.nbytes());
    return t;
  }
  if (k == "value_ints") {
    Tensor t(DType::kI64, {static_cast<int64_t>(a.ints_size())});
    if (a.ints_size()) std::memcpy(t.raw(), a.ints().data(), t.nbytes());
    return t;
  }
  if (k == "value_string" || k == "value_strings") {
    fail(ErrorCode::kUnsupported, "{}: string constants are not supported", where);
  }
  if (k == "sparse_value") {
    fail(ErrorCode::kUnsupported, "{}: sparse constants are not supported", where);
  }
  fail(ErrorCode::kInvalidModel, "{}: unknown Constant attribute '{}'", where, k);
}

// Sets dtype and dims of `v` from a graph input/output ValueInfoProto.
void apply_value_info(const onnx::ValueInfoProto& vi, Value& v, const char* role) {
  std::string what = fmt::format("{} '{}'", role, vi.name());
  if (!vi.has_type()) return;  // allowed for outputs; inputs are checked by the caller
  const onnx::TypeProto& type = vi.type();
  if (!type.has_tensor_type()) {
    const char* kind = type.has_sequence_type()        ? "a sequence"
                       : type.has_optional_type()      ? "an optional"
                       : type.has_map_type()           ? "a map"
                       : type.has_sparse_tensor_type() ? "a sparse tensor"
                                                       : "not a tensor";
    fail(ErrorCode::kUnsupported, "{} is {}; Shoal supports only tensor inputs and outputs", what,
         kind);
  }
  const onnx::TypeProto_Tensor& tt = type.tensor_type();
  v.dtype = checked_dtype(tt.elem_type(), what);
  if (!tt.has_shape()) return;
  v.has_shape = true;
  v.dims.clear();
  v.dim_params.clear();
  for (const auto& d : tt.shape().dim()) {
    if (d.has_dim_value()) {
      if (d.dim_value() < 0) {
        fail(ErrorCode::kInvalidModel, "{} has a negative dimension {}", what, d.dim_value());
      }
      v.dims.push_back(d.dim_value());
      v.dim_params.emplace_back();
    } else {
      v.dims.push_back(-1);
      v.dim_params.push_back(d.has_dim_param() ? d.dim_param() : std::string());
    }
  }
}

std::string join_quoted(const std::vector<std::string>& names, size_t limit) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < limit; ++i) {
    if (i) s += ", ";
    s += "'" + names[i] + "'";
  }
  if (names.size() > limit) s += fmt::format(", ... {} more", names.size() - limit);
  return s;
}

// One pass over all nodes: throws a single kUnsupported listing every op Shoal cannot run, and
// every op the model's opset does not define yet (e.g. HardSwish before opset 14: ONNX Runtime
// refuses such a model too).
void check_ops(const onnx::GraphProto& gp, const std::vector<std::string>& node_names,
               int64_t opset) {
  std::map<std::string, std::vector<std::string>> unsupported;  // op -> node names
  for (int i = 0; i < gp.node_size(); ++i) {
    const onnx::NodeProto& n = gp.node(i);
    std::string key;
    if (!is_default_domain(n.domain())) {
      key = n.domain() + "." + n.op_type();
    } else if (const OpInfo* info = find_op(n.op_type()); !info) {
      key = n.op_type();
    } else if (info->first_opset > opset) {
      key = fmt::format("{} at opset {} (ONNX defines it from opset {})", n.op_type(), opset,
                        info->first_opset);
    } else {
      continue;
    }
    unsupported[key].push_back(node_names[static_cast<size_t>(i)]);
  }
  if (unsupported.empty()) return;
  std::string list;
  for (const auto& [op, names] : unsupported) {
    if (!list.empty()) list += ", ";
    list += fmt::format("{} ({} node{}: {})", op, names.size(), names.size() == 1 ? "" : "s",
                        join_quoted(names, kMaxNamesPerOp));
  }
  fail(ErrorCode::kUnsupported, "unsupported ops: {}", list);
}

// For a model declaring an ai.onnx opset older than Shoal reads: the first default-domain op
// (in the graph or its subgraphs) whose definition changed between that opset and kMinOpset,
// per ONNX's schema registry ("" when none did: the model means the same at kMinOpset).
std::string first_op_changed_since(const onnx::GraphProto& g, int64_t opset) {
  for (const onnx::NodeProto& n : g.node()) {
    if (!is_default_domain(n.domain())) continue;
    const auto* old_s = onnx::OpSchemaRegistry::Schema(n.op_type(), static_cast<int>(opset));
    const auto* new_s = onnx::OpSchemaRegistry::Schema(n.op_type(), static_cast<int>(kMinOpset));
    if (!old_s || !new_s || old_s->SinceVersion() != new_s->SinceVersion()) return n.op_type();
    for (const onnx::AttributeProto& a : n.attribute()) {
      if (a.has_g()) {
        std::string c = first_op_changed_since(a.g(), opset);
        if (!c.empty()) return c;
      }
      for (const onnx::GraphProto& sg : a.graphs()) {
        std::string c = first_op_changed_since(sg, opset);
        if (!c.empty()) return c;
      }
    }
  }
  return "";
}

int64_t check_opsets(const onnx::ModelProto& m) {
  if (m.ir_version() < kMinIrVersion) {
    fail(ErrorCode::kUnsupported, "IR version {} is too old; Shoal supports IR versions {}..{}",
         m.ir_version(), kMinIrVersion, kMaxIrVersion);
  }
  if (m.ir_version() > kMaxIrVersion) {
    fail(ErrorCode::kUnsupported, "IR version {} is newer than Shoal supports ({}..{})",
         m.ir_version(), kMinIrVersion, kMaxIrVersion);
  }
  int64_t opset = -1;
  for (const auto& o : m.opset_import()) {
    if (is_default_domain(o.domain())) opset = std::max(opset, o.version());
  }
  bool uses_default = false;
  for (const auto& n : m.graph().node()) uses_default |= is_default_domain(n.domain());
  if (opset < 0) {
    if (uses_default) {
      fail(ErrorCode::kInvalidModel,
           "the model imports no ai.onnx opset but its nodes use ai.onnx ops");
    }
    return 0;
  }
  if (opset < kMinOpset && opset >= 1 && m.functions_size() == 0) {
    // Opsets 1..6: read at kMinOpset when none of the model's ops changed in between.
    const std::string changed = first_op_changed_since(m.graph(), opset);
    if (changed.empty()) return kMinOpset;
    fail(ErrorCode::kUnsupported,
         "ai.onnx opset {} is not supported: Shoal supports opsets {}..{}, and {} changed between "
         "opset {} and {}; re-export the model at opset {} or newer",
         opset, kMinOpset, kMaxOpset, changed, opset, kMinOpset, kMinOpset);
  }
  if (opset < kMinOpset || opset > kMaxOpset) {
    fail(ErrorCode::kUnsupported, "ai.onnx opset {} is not supported; Shoal supports opsets {}..{}",
         opset, kMinOpset, kMaxOpset);
  }
  return opset;
}

class Importer {
 public:
  explicit Importer(Source src) : src_(std::move(src)) {}

  Graph run(const onnx::ModelProto& m) {
    if (!m.has_graph()) fail(ErrorCode::kInvalidModel, "the model has no graph");
    const onnx::GraphProto& gp = m.graph();
    g_.producer = m.producer_name();
    if (!m.producer_version().empty()) {
      g_.producer += (g_.producer.empty() ? "" : " ") + m.producer_version();
    }
    for (const auto& p : m.metadata_props()) g_.metadata[p.key()] = p.value();
    if (gp.sparse_initializer_size()) {
      fail(ErrorCode::kUnsupported, "sparse initializers are not supported ('{}')",
           gp.sparse_initializer(0).values().name());
    }

    std::vector<std::string> node_names;
    node_names.reserve(static_cast<size_t>(gp.node_size()));
    for (int i = 0; i < gp.node_size(); ++i) {
      const onnx::NodeProto& n = gp.node(i);
      node_names.push_back(n.name().empty() ? fmt::format("{}_{}", n.op_type(), i) : n.name());
    }
    g_.opset = check_opsets(m);
    check_ops(gp, node_names, g_.opset);

    add_initializers(gp);
    add_inputs(gp);
    // Create every node output first so nodes may reference later outputs (topo_sort orders them).
    std::vector<std::vector<ValueId>> outputs(static_cast<size_t>(gp.node_size()));
    for (int i = 0; i < gp.node_size(); ++i) {
      const onnx::NodeProto& n = gp.node(i);
      std::string where = fmt::format("{} '{}'", n.op_type(), node_names[static_cast<size_t>(i)]);
      if (std::all_of(n.output().begin(), n.output().end(),
                      [](const std::string& o) { return o.empty(); })) {
        fail(ErrorCode::kInvalidModel, "{} has no outputs", where);
      }
      for (const std::string& o : n.output()) {
        if (o.empty()) {
          outputs[static_cast<size_t>(i)].push_back(kNoValue);
          continue;
        }
        if (by_name_.count(o)) {
          fail(ErrorCode::kInvalidModel,
               "{}: output '{}' is already defined (by another node, an "
               "initializer or a graph input)",
               where, o);
        }
        outputs[static_cast<size_t>(i)].push_back(define(o));
      }
    }
    for (int i = 0; i < gp.node_size(); ++i) {
      add_node(gp.node(i), node_names[static_cast<size_t>(i)],
               std::move(outputs[static_cast<size_t>(i)]));
    }
    add_outputs(gp);
    g_.topo_sort();
    return std::move(g_);
  }

 private:
  ValueId define(const std::string& name) {
    ValueId id = g_.add_value(name);
    by_name_[name] = id;
    return id;
  }

  void add_initializers(const onnx::GraphProto& gp) {
    for (const onnx::TensorProto& tp : gp.initializer()) {
      if (tp.name().empty()) fail(ErrorCode::kInvalidModel, "an initializer has no name");
      std::string what = fmt::format("initializer '{}'", tp.name());
      if (by_name_.count(tp.name())) fail(ErrorCode::kInvalidModel, "{} is defined twice", what);
      ValueId id = g_.add_constant(tp.name(), tensor_from_proto(tp, src_, what));
      by_name_[tp.name()] = id;
    }
  }

  void add_inputs(const onnx::GraphProto& gp) {
    std::unordered_set<std::string> seen;
    for (const onnx::ValueInfoProto& vi : gp.input()) {
      if (!seen.insert(vi.name()).second) {
        fail(ErrorCode::kInvalidModel, "graph input '{}' is listed twice", vi.name());
      }
      // Old exporters list initializers as inputs too: those are constants, not runtime inputs.
      if (by_name_.count(vi.name())) continue;
      if (vi.name().empty()) fail(ErrorCode::kInvalidModel, "a graph input has no name");
      if (!vi.has_type()) fail(ErrorCode::kInvalidModel, "graph input '{}' has no type", vi.name());
      ValueId id = define(vi.name());
      apply_value_info(vi, g_.value(id), "graph input");
      g_.inputs.push_back(id);
    }
  }

  void add_node(const onnx::NodeProto& n, const std::string& name, std::vector<ValueId> outs) {
    std::string where = fmt::format("{} '{}'", n.op_type(), name);
    if (is_default_domain(n.domain())) {
      if (const OpInfo* op = find_op(n.op_type())) {
        std::vector<bool> in, out;
        for (const std::string& s : n.input()) in.push_back(!s.empty());
        for (ValueId o : outs) out.push_back(o != kNoValue);
        check_arity(*op, where, in, out);
      }
    }
    if (n.op_type() == "Constant") {
      Value& v = g_.value(outs[0]);
      v.constant = constant_node_value(n, src_, where);
      v.dtype = v.constant.dtype();
      v.dims = v.constant.dims();
      v.has_shape = true;
      return;
    }
    Node node;
    node.name = name;
    node.op_type = n.op_type();
    node.domain = is_default_domain(n.domain()) ? "" : n.domain();
    for (const std::string& in : n.input()) {
      if (in.empty()) {
        node.inputs.push_back(kNoValue);
        continue;
      }
      auto it = by_name_.find(in);
      if (it == by_name_.end()) {
        fail(ErrorCode::kInvalidModel,
             "{}: input '{}' is neither a graph input, an initializer nor "
             "produced by any node",
             where, in);
      }
      node.inputs.push_back(it->second);
    }
    node.outputs = std::move(outs);
    for (const onnx::AttributeProto& a : n.attribute()) {
      if (a.name().empty()) fail(ErrorCode::kInvalidModel, "{}: an attribute has no name", where);
      if (!a.ref_attr_name().empty()) {
        fail(ErrorCode::kUnsupported, "{}: attribute '{}' refers to a function attribute", where,
             a.name());
      }
      if (!node.attrs.emplace(a.name(), convert_attribute(a, src_, where)).second) {
        fail(ErrorCode::kInvalidModel, "{}: attribute '{}' is given twice", where, a.name());
      }
    }
    g_.add_node(std::move(node));
  }

  void add_outputs(const onnx::GraphProto& gp) {
    for (const onnx::ValueInfoProto& vi : gp.output()) {
      auto it = by_name_.find(vi.name());
      if (it == by_name_.end()) {
        fail(ErrorCode::kInvalidModel, "graph output '{}' is not produced by any node", vi.name());
      }
      Value& v = g_.value(it->second);
      bool is_input = std::find(g_.inputs.begin(), g_.inputs.end(), it->second) != g_.inputs.end();
      if (!v.is_constant() && !is_input) {
        DType inferred = v.dtype;
        apply_value_info(vi, v, "graph output");
        if (inferred != DType::kUndefined) v.dtype = inferred;
      }
      g_.outputs.push_back(it->second);
    }
    if (g_.outputs.empty()) fail(ErrorCode::kInvalidModel, "the graph has no outputs");
  }

  Source src_;
  Graph g_;
  std::unordered_map<std::string, ValueId> by_name_;
};

// Parses a whole buffer into `msg`; false when the bytes are not such a message.
bool parse_proto(const void* data, size_t size, google::protobuf::MessageLite& msg) {
  google::protobuf::io::ArrayInputStream stream(data, static_cast<int>(size));
  google::protobuf::io::CodedInputStream coded(&stream);
  coded.SetTotalBytesLimit(INT_MAX);
  return msg.ParseFromCodedStream(&coded) && coded.ConsumedEntireMessage() &&
         coded.CurrentPosition() == static_cast<int>(size);
}

std::string read_file(const std::string& path, const char* what) {
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) fail(ErrorCode::kNotFound, "{} '{}' not found", what, path);
  if (!fs::is_regular_file(st))
    fail(ErrorCode::kInvalidArgument, "{} '{}' is not a file", what, path);
  auto size = fs::file_size(path, ec);
  if (ec) fail(ErrorCode::kNotFound, "cannot read {} '{}': {}", what, path, ec.message());
  if (size >= kMaxProtoBytes) {
    fail(ErrorCode::kLimit,
         "{} '{}' has {} bytes; protobuf files must be smaller than 2 GiB "
         "(store the weights as external data)",
         what, path, size);
  }
  std::string bytes(size, '\0');
  std::ifstream f(path, std::ios::binary);
  f.read(bytes.data(), static_cast<std::streamsize>(size));
  if (!f || static_cast<size_t>(f.gcount()) != size) {
    fail(ErrorCode::kNotFound, "cannot read {} '{}'", what, path);
  }
  return bytes;
}

// `label` names the model in messages ("'path'" or "the model bytes").
Graph import_model(const void* data, size_t size, const std::string& base_dir,
                   const std::string& label) {
  if (size >= kMaxProtoBytes) {
    fail(ErrorCode::kLimit,
         "{} has {} bytes; ONNX files must be smaller than 2 GiB (store the "
         "weights as external data)",
         label, size);
  }
  if (size == 0) fail(ErrorCode::kInvalidModel, "{} is not a valid ONNX model (empty file)", label);
  onnx::ModelProto m;
  if (!parse_proto(data, size, m)) {
    fail(ErrorCode::kInvalidModel,
         "{} is not a valid ONNX model (protobuf parse failed: truncated "
         "or not a ModelProto)",
         label);
  }
  if (m.ir_version() == 0 || !m.has_graph()) {
    fail(ErrorCode::kInvalidModel, "{} is not a valid ONNX model ({})", label,
         m.ir_version() == 0 ? "no ir_version" : "no graph");
  }
  try {
    expand_quantized_operators(*m.mutable_graph());
    return Importer(Source{base_dir}).run(m);
  } catch (const Error& e) {
    throw Error(e.code(), fmt::format("{}: {}", label, e.what()));
  }
}

}  // namespace

Graph import_onnx_file(const std::string& path) {
  std::string bytes = read_file(path, "model file");
  fs::path parent = fs::path(path).parent_path();
  std::string base = parent.empty() ? "." : parent.string();
  return import_model(bytes.data(), bytes.size(), base, "'" + path + "'");
}

Graph import_onnx_bytes(const void* data, size_t size, const std::string& base_dir,
                        const std::string& what) {
  return import_model(data, size, base_dir, "'" + what + "'");
}

Tensor read_tensor_proto_file(const std::string& path, std::string* name) {
  std::string bytes = read_file(path, "tensor file");
  onnx::TensorProto tp;
  if (bytes.empty() || !parse_proto(bytes.data(), bytes.size(), tp)) {
    fail(ErrorCode::kInvalidModel, "'{}' is not a valid serialized TensorProto", path);
  }
  if (name) *name = tp.name();
  fs::path parent = fs::path(path).parent_path();
  Source src{parent.empty() ? "." : parent.string()};
  std::string what = fmt::format("'{}': tensor '{}'", path, tp.name());
  return tensor_from_proto(tp, src, what);
}

}  // namespace shoal
