#include "onnx/qoperator.h"

#include <fmt/format.h>

#include <string>
#include <vector>

#include "core/error.h"

namespace shoal {
namespace {

bool is_microsoft(const onnx::NodeProto& n) { return n.domain() == "com.microsoft"; }

// Whether `n` is a quantized-operator node this file rewrites.
bool is_quantized_operator(const onnx::NodeProto& n) {
  if (n.domain().empty() || n.domain() == "ai.onnx") {
    return n.op_type() == "QLinearConv" || n.op_type() == "QLinearMatMul";
  }
  if (!is_microsoft(n)) return false;
  static const char* const kOps[] = {"QLinearAdd",        "QLinearMul",
                                     "QLinearSigmoid",    "QLinearLeakyRelu",
                                     "QLinearConcat",     "QLinearGlobalAveragePool",
                                     "QLinearAveragePool"};
  for (const char* op : kOps) {
    if (n.op_type() == op) return true;
  }
  return false;
}

class Expander {
 public:
  Expander(const onnx::NodeProto& n, int index, std::vector<onnx::NodeProto>& out)
      : n_(n), out_(out) {
    base_ = n.name().empty() ? fmt::format("{}_{}", n.op_type(), index) : n.name();
  }

  std::string in(int i) const { return i < n_.input_size() ? n_.input(i) : std::string(); }

  // A node of the expansion; its output is a fresh name unless `output` is given.
  std::string add(const std::string& op, std::vector<std::string> inputs, const std::string& tag,
                  std::string output = {}) {
    onnx::NodeProto& m = out_.emplace_back();
    m.set_op_type(op);
    m.set_name(base_ + "/" + tag);
    while (!inputs.empty() && inputs.back().empty()) inputs.pop_back();
    for (const std::string& s : inputs) m.add_input(s);
    if (output.empty()) output = base_ + "/" + tag + "_output";
    m.add_output(output);
    return output;
  }
  std::string dequantize(int x, int scale, int zero, const std::string& tag, int64_t axis = 1) {
    if (in(x).empty()) {
      fail(ErrorCode::kInvalidModel, "{} '{}': input {} is required", n_.op_type(), base_, x);
    }
    const std::string r = add("DequantizeLinear", {in(x), in(scale), in(zero)}, tag);
    if (axis != 1) set_int(out_.back(), "axis", axis);
    return r;
  }
  void quantize(const std::string& x, int scale, int zero) {
    add("QuantizeLinear", {x, in(scale), in(zero)}, "quantize", n_.output(0));
  }
  // The float op, with those of the quantized op's attributes listed in `keep`.
  std::string op(const std::string& type, std::vector<std::string> inputs,
                 const std::vector<std::string>& keep = {}) {
    const std::string r = add(type, std::move(inputs), type);
    for (const onnx::AttributeProto& a : n_.attribute()) {
      for (const std::string& k : keep) {
        if (a.name() == k) *out_.back().add_attribute() = a;
      }
    }
    return r;
  }
  static void set_int(onnx::NodeProto& m, const std::string& name, int64_t v) {
    onnx::AttributeProto* a = m.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  void refuse_channels_last() const {
    for (const onnx::AttributeProto& a : n_.attribute()) {
      if (a.name() == "channels_last" && a.i() != 0) {
        fail(ErrorCode::kUnsupported, "{} '{}': channels_last=1 is not supported", n_.op_type(),
             base_);
      }
    }
  }

  void expand() {
    const std::string& t = n_.op_type();
    if (n_.output_size() < 1 || n_.output(0).empty()) {
      fail(ErrorCode::kInvalidModel, "{} '{}' has no output", t, base_);
    }
    if (t == "QLinearConv") {
      // x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B (int32, scale x_scale * w_scale)
      std::vector<std::string> conv_in = {dequantize(0, 1, 2, "dequantize_x"),
                                          dequantize(3, 4, 5, "dequantize_w", 0)};
      if (!in(8).empty()) {
        const std::string bs = add("Mul", {in(1), in(4)}, "bias_scale");
        conv_in.push_back(add("DequantizeLinear", {in(8), bs}, "dequantize_bias"));
        set_int(out_.back(), "axis", 0);
      }
      quantize(op("Conv", conv_in,
                  {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}),
               6, 7);
    } else if (t == "QLinearMatMul") {
      // a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp; b's scale may be per column
      quantize(op("MatMul",
                  {dequantize(0, 1, 2, "dequantize_a"), dequantize(3, 4, 5, "dequantize_b", -1)}),
               6, 7);
    } else if (t == "QLinearAdd" || t == "QLinearMul") {
      // A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp
      quantize(op(t == "QLinearAdd" ? "Add" : "Mul",
                  {dequantize(0, 1, 2, "dequantize_a"), dequantize(3, 4, 5, "dequantize_b")}),
               6, 7);
    } else if (t == "QLinearSigmoid") {
      quantize(op("Sigmoid", {dequantize(0, 1, 2, "dequantize_x")}), 3, 4);
    } else if (t == "QLinearLeakyRelu") {
      quantize(op("LeakyRelu", {dequantize(0, 1, 2, "dequantize_x")}, {"alpha"}), 3, 4);
    } else if (t == "QLinearConcat") {
      // Y_scale, Y_zp, then (X, X_scale, X_zp) per input
      if (n_.input_size() < 5 || (n_.input_size() - 2) % 3 != 0) {
        fail(ErrorCode::kInvalidModel,
             "QLinearConcat '{}' has {} inputs; it takes Y_scale, Y_zero_point and a (tensor, "
             "scale, zero point) triple per input",
             base_, n_.input_size());
      }
      std::vector<std::string> xs;
      for (int i = 2; i + 2 < n_.input_size(); i += 3) {
        xs.push_back(dequantize(i, i + 1, i + 2, fmt::format("dequantize_{}", (i - 2) / 3)));
      }
      quantize(op("Concat", xs, {"axis"}), 0, 1);
    } else if (t == "QLinearGlobalAveragePool") {
      refuse_channels_last();
      quantize(op("GlobalAveragePool", {dequantize(0, 1, 2, "dequantize_x")}), 3, 4);
    } else if (t == "QLinearAveragePool") {
      refuse_channels_last();
      quantize(
          op("AveragePool", {dequantize(0, 1, 2, "dequantize_x")},
             {"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides"}),
          3, 4);
    }
  }

 private:
  const onnx::NodeProto& n_;
  std::vector<onnx::NodeProto>& out_;
  std::string base_;
};

}  // namespace

void expand_quantized_operators(onnx::GraphProto& g) {
  bool any = false;
  for (const onnx::NodeProto& n : g.node()) any |= is_quantized_operator(n);
  if (!any) return;
  std::vector<onnx::NodeProto> out;
  out.reserve(static_cast<size_t>(g.node_size()) * 4);
  for (int i = 0; i < g.node_size(); ++i) {
    const onnx::NodeProto& n = g.node(i);
    if (is_quantized_operator(n)) {
      Expander(n, i, out).expand();
    } else {
      out.push_back(n);
    }
  }
  g.clear_node();
  for (onnx::NodeProto& n : out) *g.add_node() = std::move(n);
}

}  // namespace shoal
