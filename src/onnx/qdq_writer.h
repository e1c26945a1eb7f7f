// Writes a float32 ONNX model as a standard QDQ int8 model other runtimes can run too: for each
// Conv with float32 initializer weights and a calibrated input range, QuantizeLinear ->
// DequantizeLinear (uint8, asymmetric: the range widened to hold 0) on its input and its weights
// as int8 per output channel (symmetric, zero point 0) behind a DequantizeLinear (axis 0); the
// bias stays float32. Nothing else is quantized: heads, concatenations and outputs keep float.
// Knows ONNX only: the ranges come from the caller's calibration.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace shoal {

struct ActivationRange {
  float lo = 0.f, hi = 0.f;  // min and max seen (finite values)
};

struct QdqLayer {
  std::string conv;   // the Conv node's name (or "Conv_<index>")
  std::string input;  // its input tensor
  bool quantized = false;
  std::string kept_float_because;  // when not quantized
  float scale = 0.f;               // the input's quantization scale
  int zero_point = 0;
  double weight_error = 0;  // ||W - dequantized(W)|| / ||W|| over the conv's weights
};

// `ranges`: calibrated range of each Conv input tensor, by name. Returns the QDQ model's bytes and
// fills `layers` (one per Conv, in graph order). Stay float: a Conv whose input comes from a
// Softmax (the DFL integral, whose weights are exact bin indices), and the output head's last
// convs, from which no other quantizable Conv is reachable (their outputs are boxes and class
// scores, and quantizing their inputs cost the real YOLOv8n detections near the threshold). Throws
// kInvalidModel for bytes that are not a model, kUnsupported for an ai.onnx opset below 13
// (per-channel DequantizeLinear needs 13).
std::string write_qdq_model(const std::string& model_bytes,
                            const std::map<std::string, ActivationRange>& ranges,
                            std::vector<QdqLayer>* layers);

}  // namespace shoal
