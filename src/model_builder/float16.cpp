// to_float16_onnx: an fp32 ONNX model rewritten the way half-precision exporters write it
// (Ultralytics `half=True`, onnxconverter-common's convert_float_to_float16 without
// keep_io_types): every float32 initializer, Constant, graph input, output and value_info becomes
// float16 and Casts to float produce float16. The inputs ONNX requires to stay float32 (Resize's
// roi and scales, Upsample's scales) are kept.
#include <onnx/onnx_pb.h>

#include <cstring>
#include <set>
#include <string>
#include <utility>

#include "core/error.h"
#include "core/tensor.h"
#include "model_builder/builder.h"

namespace shoal {
namespace {

// Rewrites a FLOAT tensor's values as FLOAT16 raw data (typed float_data or raw_data).
void tensor_to_float16(onnx::TensorProto& t) {
  if (t.data_type() != onnx::TensorProto::FLOAT) return;
  std::string raw;
  auto push = [&raw](float v) {
    const uint16_t h = f32_to_f16(v);
    raw.push_back(static_cast<char>(h & 0xff));
    raw.push_back(static_cast<char>(h >> 8));
  };
  if (t.has_raw_data()) {
    const std::string& r = t.raw_data();
    for (size_t i = 0; i + 4 <= r.size(); i += 4) {
      float v;
      std::memcpy(&v, r.data() + i, 4);
      push(v);
    }
  } else {
    for (float v : t.float_data()) push(v);
  }
  t.clear_float_data();
  t.set_raw_data(std::move(raw));
  t.set_data_type(onnx::TensorProto::FLOAT16);
}

void value_info_to_float16(onnx::ValueInfoProto& vi, const std::set<std::string>& keep) {
  if (keep.count(vi.name()) || !vi.type().has_tensor_type()) return;
  auto* tt = vi.mutable_type()->mutable_tensor_type();
  if (tt->elem_type() == onnx::TensorProto::FLOAT) tt->set_elem_type(onnx::TensorProto::FLOAT16);
}

}  // namespace

std::string to_float16_onnx(const std::string& model_bytes) {
  onnx::ModelProto m;
  if (!m.ParseFromString(model_bytes)) {
    fail(ErrorCode::kInvalidArgument, "to_float16_onnx: the bytes are not an ONNX model");
  }
  onnx::GraphProto& g = *m.mutable_graph();
  // Tensors that must stay float32: Resize's roi and scales, Upsample's scales.
  std::set<std::string> keep;
  for (const onnx::NodeProto& n : g.node()) {
    if (n.op_type() == "Resize") {
      for (int i = 1; i < n.input_size() && i <= 2; ++i) keep.insert(n.input(i));
    } else if (n.op_type() == "Upsample" && n.input_size() > 1) {
      keep.insert(n.input(1));
    }
  }
  keep.erase("");
  for (onnx::TensorProto& t : *g.mutable_initializer()) {
    if (!keep.count(t.name())) tensor_to_float16(t);
  }
  for (onnx::NodeProto& n : *g.mutable_node()) {
    const bool kept = n.output_size() == 1 && keep.count(n.output(0));
    for (onnx::AttributeProto& a : *n.mutable_attribute()) {
      if (n.op_type() == "Constant" && a.name() == "value" && !kept)
        tensor_to_float16(*a.mutable_t());
      if (n.op_type() == "ConstantOfShape" && a.name() == "value")
        tensor_to_float16(*a.mutable_t());
      if (n.op_type() == "Cast" && a.name() == "to" && a.i() == onnx::TensorProto::FLOAT) {
        a.set_i(onnx::TensorProto::FLOAT16);
      }
    }
  }
  for (onnx::ValueInfoProto& vi : *g.mutable_input()) value_info_to_float16(vi, keep);
  for (onnx::ValueInfoProto& vi : *g.mutable_output()) value_info_to_float16(vi, keep);
  for (onnx::ValueInfoProto& vi : *g.mutable_value_info()) value_info_to_float16(vi, keep);
  return m.SerializeAsString();
}

}  // namespace shoal
