// ONNX import: parse a ModelProto (libonnx protobuf classes) into the graph IR. Handles
// initializers (also when listed as graph inputs), Constant nodes, external-data tensors,
// metadata_props and opset checks. Knows nothing about backends or HTTP.
#pragma once

#include <cstddef>
#include <string>

#include "graph/ir.h"

namespace shoal {

// Loads `path`; external data files resolve against its folder. Throws shoal::Error:
// kNotFound (file or external-data file missing), kInvalidModel (truncated, not ONNX, inconsistent),
// kUnsupported (lists every unsupported op with its node names, or an unsupported opset/dtype).
Graph import_onnx_file(const std::string& path);
// Same from memory; `base_dir` is where external data files are looked up ("" = none allowed);
// `what` names the model in errors (e.g. the file the bytes came from).
Graph import_onnx_bytes(const void* data, size_t size, const std::string& base_dir,
                        const std::string& what = "<memory>");

// Reads a serialized TensorProto file (the ONNX conformance data's input_N.pb / output_N.pb).
Tensor read_tensor_proto_file(const std::string& path, std::string* name = nullptr);

}  // namespace shoal
