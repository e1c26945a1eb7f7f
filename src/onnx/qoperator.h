// Quantized-operator ("QOperator") formats rewritten as the QDQ form Shoal runs: ONNX's
// QLinearConv and QLinearMatMul, and the com.microsoft QLinear* ops ONNX Runtime's
// quantize_static writes in its QOperator format (QLinearAdd, QLinearMul, QLinearSigmoid,
// QLinearLeakyRelu, QLinearConcat, QLinearGlobalAveragePool, QLinearAveragePool), each becomes
// DequantizeLinear of its inputs -> the float op -> QuantizeLinear of its output, with the same
// names at the boundaries. fuse_quantized_conv then runs the convolutions on int8 data.
// Internal to the importer.
#pragma once

#include <onnx/onnx_pb.h>

namespace shoal {

// Rewrites `g`'s quantized-operator nodes in place (their order kept); throws kUnsupported for a
// form it cannot express (channels_last pooling) naming the node.
void expand_quantized_operators(onnx::GraphProto& g);

}  // namespace shoal
