#include "server/kserve.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace shoal::server {
namespace {

using json = nlohmann::json;

struct DtypeName {
  DType t;
  const char* name;
};
constexpr DtypeName kDtypes[] = {
    {DType::kBool, "BOOL"}, {DType::kU8, "UINT8"},  {DType::kI8, "INT8"},
    {DType::kI32, "INT32"}, {DType::kI64, "INT64"}, {DType::kF16, "FP16"},
    {DType::kBF16, "BF16"}, {DType::kF32, "FP32"},  {DType::kF64, "FP64"}};

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign;
  } else {  // subnormal: normalise
    exp = 113;
    while (!(man & 0x400)) {
      man <<= 1;
      --exp;
    }
    bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bf16_to_float(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Appends the leaves of `data` (a flat or nested array) to `out`, at most `limit` of them.
void flatten(const json& data, std::vector<const json*>& out, size_t limit, const std::string& what,
             int depth = 0) {
  if (depth > 16) fail(ErrorCode::kInvalidArgument, "{}: \"data\" is nested too deeply", what);
  if (!data.is_array()) {
    if (out.size() >= limit) {
      fail(ErrorCode::kInvalidArgument, "{}: \"data\" has more elements than its shape", what);
    }
    out.push_back(&data);
    return;
  }
  for (const json& e : data) flatten(e, out, limit, what, depth + 1);
}

template <typename T>
void put_integers(const std::vector<const json*>& leaves, Tensor& t, const std::string& what) {
  T* p = t.data<T>();
  for (size_t i = 0; i < leaves.size(); ++i) {
    const json& v = *leaves[i];
    if (!v.is_number_integer()) {
      fail(ErrorCode::kInvalidArgument, "{}: element {} of \"data\" is {}, not an integer", what, i,
           v.type_name());
    }
    const bool is_unsigned = v.is_number_unsigned();
    if (is_unsigned ? v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<T>::max())
                    : (v.get<int64_t>() < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
                       v.get<int64_t>() > static_cast<int64_t>(std::numeric_limits<T>::max()))) {
      fail(ErrorCode::kInvalidArgument, "{}: element {} of \"data\" ({}) is out of range for {}",
           what, i, v.dump(), datatype_name(t.dtype()));
    }
    p[i] = is_unsigned ? static_cast<T>(v.get<uint64_t>()) : static_cast<T>(v.get<int64_t>());
  }
}

template <typename T>
void put_floats(const std::vector<const json*>& leaves, Tensor& t, const std::string& what) {
  T* p = t.data<T>();
  for (size_t i = 0; i < leaves.size(); ++i) {
    if (!leaves[i]->is_number()) {
      fail(ErrorCode::kInvalidArgument, "{}: element {} of \"data\" is {}, not a number", what, i,
           leaves[i]->type_name());
    }
    p[i] = static_cast<T>(leaves[i]->get<double>());
  }
}

void fill_from_json(const json& data, Tensor& t, const std::string& what) {
  std::vector<const json*> leaves;
  const size_t n = static_cast<size_t>(t.numel());
  leaves.reserve(n);
  flatten(data, leaves, n, what);
  if (leaves.size() != n) {
    fail(ErrorCode::kInvalidArgument, "{}: \"data\" has {} elements; shape {} needs {}", what,
         leaves.size(), dims_str(t.dims()), n);
  }
  switch (t.dtype()) {
    case DType::kF32:
      return put_floats<float>(leaves, t, what);
    case DType::kF64:
      return put_floats<double>(leaves, t, what);
    case DType::kF16:
    case DType::kBF16: {  // JSON numbers rounded to the half type, as a client's own cast would
      Tensor f(DType::kF32, t.dims());
      put_floats<float>(leaves, f, what);
      for (int64_t i = 0; i < f.numel(); ++i) t.set_f64(i, f.data<float>()[i]);
      return;
    }
    case DType::kI64:
      return put_integers<int64_t>(leaves, t, what);
    case DType::kI32:
      return put_integers<int32_t>(leaves, t, what);
    case DType::kI8:
      return put_integers<int8_t>(leaves, t, what);
    case DType::kU8:
      return put_integers<uint8_t>(leaves, t, what);
    case DType::kBool: {
      uint8_t* p = t.data<uint8_t>();
      for (size_t i = 0; i < n; ++i) {
        if (!leaves[i]->is_boolean()) {
          fail(ErrorCode::kInvalidArgument, "{}: element {} of \"data\" is {}, not true/false",
               what, i, leaves[i]->type_name());
        }
        p[i] = leaves[i]->get<bool>() ? 1 : 0;
      }
      return;
    }
    default:
      fail(ErrorCode::kInvalidArgument,
           "{}: {} tensors cannot be sent as JSON numbers; send them with the binary data "
           "extension (\"parameters\": {{\"binary_data_size\": N}})",
           what, datatype_name(t.dtype()));
  }
}

json tensor_to_json_data(const Tensor& t) {
  json a = json::array();
  const int64_t n = t.numel();
  auto each = [&](auto get) {
    for (int64_t i = 0; i < n; ++i) a.push_back(get(i));
  };
  switch (t.dtype()) {
    case DType::kF32:
      each([&](int64_t i) { return static_cast<double>(t.data<float>()[i]); });
      break;
    case DType::kF64:
      each([&](int64_t i) { return t.data<double>()[i]; });
      break;
    case DType::kF16:
      each([&](int64_t i) { return static_cast<double>(half_to_float(t.data<uint16_t>()[i])); });
      break;
    case DType::kBF16:
      each([&](int64_t i) { return static_cast<double>(bf16_to_float(t.data<uint16_t>()[i])); });
      break;
    case DType::kI64:
      each([&](int64_t i) { return t.data<int64_t>()[i]; });
      break;
    case DType::kI32:
      each([&](int64_t i) { return t.data<int32_t>()[i]; });
      break;
    case DType::kI8:
      each([&](int64_t i) { return static_cast<int>(t.data<int8_t>()[i]); });
      break;
    case DType::kU8:
      each([&](int64_t i) { return static_cast<int>(t.data<uint8_t>()[i]); });
      break;
    case DType::kBool:
      each([&](int64_t i) { return t.data<uint8_t>()[i] != 0; });
      break;
    default:
      fail(ErrorCode::kUnsupported, "output of type {} cannot be sent", dtype_name(t.dtype()));
  }
  return a;
}

const json* find_key(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

bool bool_parameter(const json& obj, const char* key, const std::string& what) {
  const json* params = find_key(obj, "parameters");
  if (!params) return false;
  if (!params->is_object())
    fail(ErrorCode::kInvalidArgument, "{}: \"parameters\" must be an object", what);
  const json* v = find_key(*params, key);
  if (!v) return false;
  if (!v->is_boolean()) {
    fail(ErrorCode::kInvalidArgument, "{}: parameter \"{}\" must be true or false", what, key);
  }
  return v->get<bool>();
}

}  // namespace

DType parse_datatype(const std::string& name, const std::string& what) {
  for (const DtypeName& d : kDtypes) {
    if (name == d.name) return d.t;
  }
  fail(ErrorCode::kInvalidArgument,
       "{}: datatype \"{}\" is not one of BOOL, UINT8, INT8, INT32, INT64, FP16, BF16, FP32, FP64",
       what, name);
}

std::string datatype_name(DType t) {
  for (const DtypeName& d : kDtypes) {
    if (t == d.t) return d.name;
  }
  return std::string(dtype_name(t));
}

InferRequest parse_infer_request(std::string_view body, std::optional<size_t> json_length,
                                 int64_t max_elements) {
  if (json_length && *json_length > body.size()) {
    fail(ErrorCode::kInvalidArgument,
         "Inference-Header-Content-Length is {} but the body has only {} bytes", *json_length,
         body.size());
  }
  const std::string_view head = json_length ? body.substr(0, *json_length) : body;
  std::string_view binary = json_length ? body.substr(*json_length) : std::string_view();
  json j = json::parse(head.begin(), head.end(), nullptr, false);
  if (j.is_discarded()) {
    fail(ErrorCode::kInvalidArgument, "the request body is not valid JSON{}",
         json_length ? " (in its first Inference-Header-Content-Length bytes)" : "");
  }
  if (!j.is_object()) fail(ErrorCode::kInvalidArgument, "the request must be a JSON object");
  InferRequest r;
  if (const json* id = find_key(j, "id")) {
    if (!id->is_string()) fail(ErrorCode::kInvalidArgument, "\"id\" must be a string");
    r.id = id->get<std::string>();
  }
  r.binary_outputs = bool_parameter(j, "binary_data_output", "the request");
  const json* inputs = find_key(j, "inputs");
  if (!inputs || !inputs->is_array() || inputs->empty()) {
    fail(ErrorCode::kInvalidArgument, "the request needs \"inputs\": a non-empty array of tensors");
  }
  int64_t total = 0;
  for (size_t i = 0; i < inputs->size(); ++i) {
    const json& in = (*inputs)[i];
    std::string what = fmt::format("inputs[{}]", i);
    if (!in.is_object()) fail(ErrorCode::kInvalidArgument, "{} must be an object", what);
    const json* name = find_key(in, "name");
    if (!name || !name->is_string()) fail(ErrorCode::kInvalidArgument, "{} has no \"name\"", what);
    what = fmt::format("input '{}'", name->get<std::string>());
    const json* shape = find_key(in, "shape");
    const json* dtype = find_key(in, "datatype");
    if (!shape || !shape->is_array() || shape->size() > 8) {
      fail(ErrorCode::kInvalidArgument, "{}: \"shape\" must be an array of at most 8 dims", what);
    }
    if (!dtype || !dtype->is_string()) {
      fail(ErrorCode::kInvalidArgument, "{}: \"datatype\" must be a string such as \"FP32\"", what);
    }
    Dims dims;
    int64_t count = 1;
    for (const json& d : *shape) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0 || d.get<int64_t>() > max_elements) {
        fail(ErrorCode::kInvalidArgument, "{}: \"shape\" holds {}; dims are integers >= 0", what,
             d.dump());
      }
      dims.push_back(d.get<int64_t>());
      count *= std::max<int64_t>(dims.back(), 1);
      if (count > max_elements) break;
    }
    total += dims.empty() ? 1 : num_elements(dims);
    if (count > max_elements || total > max_elements) {
      fail(ErrorCode::kLimit,
           "{}: the request's tensors hold more than {} elements (the server's "
           "max_tensor_elements)",
           what, max_elements);
    }
    const DType t = parse_datatype(dtype->get<std::string>(), what);
    Tensor tensor(t, dims);
    const json* params = find_key(in, "parameters");
    const json* bsize =
        params && params->is_object() ? find_key(*params, "binary_data_size") : nullptr;
    const json* data = find_key(in, "data");
    if (bsize) {
      if (!bsize->is_number_unsigned()) {
        fail(ErrorCode::kInvalidArgument, "{}: \"binary_data_size\" must be a byte count", what);
      }
      const uint64_t n = bsize->get<uint64_t>();
      if (n != tensor.nbytes()) {
        fail(ErrorCode::kInvalidArgument, "{}: binary_data_size is {} bytes; {} {} needs {}", what,
             n, datatype_name(t), dims_str(dims), tensor.nbytes());
      }
      if (n > binary.size()) {
        fail(ErrorCode::kInvalidArgument,
             "{}: binary data is shorter than declared ({} bytes left, {} declared)", what,
             binary.size(), n);
      }
      if (n) std::memcpy(tensor.raw(), binary.data(), n);
      binary.remove_prefix(n);
    } else if (data) {
      fill_from_json(*data, tensor, what);
    } else {
      fail(ErrorCode::kInvalidArgument, "{}: no \"data\" and no \"binary_data_size\" parameter",
           what);
    }
    r.inputs.push_back({name->get<std::string>(), std::move(tensor)});
  }
  if (!binary.empty()) {
    fail(ErrorCode::kInvalidArgument, "{} bytes of binary data follow the last input's",
         binary.size());
  }
  if (const json* outs = find_key(j, "outputs")) {
    if (!outs->is_array()) fail(ErrorCode::kInvalidArgument, "\"outputs\" must be an array");
    for (size_t i = 0; i < outs->size(); ++i) {
      const json& o = (*outs)[i];
      const std::string what = fmt::format("outputs[{}]", i);
      const json* name = o.is_object() ? find_key(o, "name") : nullptr;
      if (!name || !name->is_string())
        fail(ErrorCode::kInvalidArgument, "{} has no \"name\"", what);
      r.outputs.push_back(
          {name->get<std::string>(), bool_parameter(o, "binary_data", what) || r.binary_outputs});
    }
  }
  return r;
}

InferResponse make_infer_response(const std::string& model, const std::string& version,
                                  const InferRequest& request,
                                  const std::vector<std::pair<std::string, Tensor>>& outputs) {
  std::vector<RequestedOutput> wanted = request.outputs;
  if (wanted.empty()) {
    for (const auto& [name, t] : outputs) wanted.push_back({name, request.binary_outputs});
  }
  json j;
  j["model_name"] = model;
  if (!version.empty()) j["model_version"] = version;
  if (!request.id.empty()) j["id"] = request.id;
  j["outputs"] = json::array();
  std::string binary;
  for (const RequestedOutput& w : wanted) {
    const Tensor* t = nullptr;
    for (const auto& [name, tensor] : outputs) {
      if (name == w.name) t = &tensor;
    }
    if (!t) {
      std::string names;
      for (const auto& [name, tensor] : outputs) names += (names.empty() ? "" : ", ") + name;
      fail(ErrorCode::kInvalidArgument, "model '{}' has no output '{}'; its outputs: {}", model,
           w.name, names);
    }
    json o;
    o["name"] = w.name;
    o["datatype"] = datatype_name(t->dtype());
    o["shape"] = t->dims();
    if (w.binary) {
      o["parameters"] = {{"binary_data_size", t->nbytes()}};
      binary.append(static_cast<const char*>(t->raw()), t->nbytes());
    } else {
      o["data"] = tensor_to_json_data(*t);
    }
    j["outputs"].push_back(std::move(o));
  }
  InferResponse r;
  r.body = j.dump();
  if (!binary.empty()) {
    r.json_length = r.body.size();
    r.body += binary;
  }
  return r;
}

}  // namespace shoal::server
