// The KServe Open Inference Protocol v2 (REST) on the wire: inference requests in JSON, with
// the binary tensor data extension (a JSON header of Inference-Header-Content-Length bytes, then
// the tensors' raw bytes in input order), and responses in the same two forms. Pure functions of
// bytes, no HTTP and no models, so they are fuzzed (fuzz/fuzz_server_requests.cpp). Every error
// is a kInvalidArgument naming the input and the field, or a kLimit naming the limit.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"

namespace shoal::server {

// "FP32" <-> DType::kF32, ... (BOOL, UINT8, INT8, INT32, INT64, FP16, BF16, FP32, FP64). Throws
// kInvalidArgument for a datatype Shoal does not hold, naming `what`.
DType parse_datatype(const std::string& name, const std::string& what);
std::string datatype_name(DType t);

struct InferInput {
  std::string name;
  Tensor tensor;
};

struct RequestedOutput {
  std::string name;
  bool binary = false;
};

struct InferRequest {
  std::string id;
  std::vector<InferInput> inputs;
  std::vector<RequestedOutput> outputs;  // empty = every output
  bool binary_outputs = false;           // "parameters": {"binary_data_output": true}
};

// Parses a request body. `json_length`: the Inference-Header-Content-Length header (the binary
// extension), else the whole body is JSON. `max_elements` bounds the sum of the inputs'
// elements (kLimit above it).
InferRequest parse_infer_request(std::string_view body, std::optional<size_t> json_length,
                                 int64_t max_elements);

struct InferResponse {
  std::string body;
  std::optional<size_t> json_length;  // set when binary tensors follow the JSON
};

// The response for `outputs` (name, tensor), honouring the request's output selection and
// binary flags. Throws kInvalidArgument for a requested output the model does not have.
InferResponse make_infer_response(const std::string& model, const std::string& version,
                                  const InferRequest& request,
                                  const std::vector<std::pair<std::string, Tensor>>& outputs);

}  // namespace shoal::server
