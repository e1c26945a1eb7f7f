#include "onnx/qdq_writer.h"

#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "core/error.h"

namespace shoal {
namespace {

bool default_domain(const std::string& d) { return d.empty() || d == "ai.onnx"; }

// A float32 initializer's values (raw_data or float_data), or false.
bool read_floats(const onnx::TensorProto& t, std::vector<float>* v) {
  if (t.data_type() != onnx::TensorProto::FLOAT || t.has_data_location()) return false;
  if (t.has_raw_data()) {
    v->resize(t.raw_data().size() / 4);
    std::memcpy(v->data(), t.raw_data().data(), v->size() * 4);
  } else {
    v->assign(t.float_data().begin(), t.float_data().end());
  }
  int64_t n = 1;
  for (int64_t d : t.dims()) n *= d;
  return static_cast<int64_t>(v->size()) == n;
}

class Writer {
 public:
  explicit Writer(onnx::ModelProto& m) : m_(m), g_(*m.mutable_graph()) {
    for (const onnx::TensorProto& t : g_.initializer()) names_.insert(t.name());
    for (const onnx::ValueInfoProto& v : g_.input()) names_.insert(v.name());
    for (const onnx::NodeProto& n : g_.node()) {
      for (const std::string& o : n.output()) names_.insert(o);
      names_.insert(n.name());
    }
  }

  std::string fresh(const std::string& want) {
    std::string n = want;
    for (int k = 1; names_.count(n); ++k) n = fmt::format("{}_{}", want, k);
    names_.insert(n);
    return n;
  }
  const onnx::TensorProto* initializer(const std::string& name) const {
    for (const onnx::TensorProto& t : g_.initializer()) {
      if (t.name() == name) return &t;
    }
    return nullptr;
  }
  std::string add_initializer(const std::string& want, int32_t type, std::vector<int64_t> dims,
                              const void* data, size_t bytes) {
    onnx::TensorProto* t = g_.add_initializer();
    t->set_name(fresh(want));
    t->set_data_type(type);
    for (int64_t d : dims) t->add_dims(d);
    t->set_raw_data(std::string(static_cast<const char*>(data), bytes));
    return t->name();
  }
  onnx::NodeProto make_node(const std::string& op, const std::string& name,
                            std::vector<std::string> in, const std::string& out) {
    onnx::NodeProto n;
    n.set_op_type(op);
    n.set_name(fresh(name));
    for (const std::string& s : in) n.add_input(s);
    n.add_output(out);
    return n;
  }

  onnx::ModelProto& m_;
  onnx::GraphProto& g_;
  std::set<std::string> names_;
};

}  // namespace

std::string write_qdq_model(const std::string& model_bytes,
                            const std::map<std::string, ActivationRange>& ranges,
                            std::vector<QdqLayer>* layers) {
  onnx::ModelProto m;
  if (!m.ParseFromString(model_bytes) || !m.has_graph()) {
    fail(ErrorCode::kInvalidModel, "quantize: the bytes are not an ONNX model");
  }
  for (onnx::OperatorSetIdProto& o : *m.mutable_opset_import()) {
    if (default_domain(o.domain()) && o.version() < 13) {
      fail(ErrorCode::kUnsupported,
           "quantize: the model's ai.onnx opset is {}; per-channel int8 weights need opset 13 or "
           "newer: re-export the model at opset 13+",
           o.version());
    }
  }
  Writer w(m);
  onnx::GraphProto& g = w.g_;
  std::map<std::string, std::string> producer_op;
  for (const onnx::NodeProto& n : g.node()) {
    for (const std::string& o : n.output()) producer_op[o] = n.op_type();
  }
  // The head's last convs: no other quantizable Conv downstream (their outputs are the boxes and
  // scores, which one 8-bit scale per tensor serves badly).
  std::map<std::string, std::vector<int>> consumers;
  for (int i = 0; i < g.node_size(); ++i) {
    for (const std::string& in : g.node(i).input()) consumers[in].push_back(i);
  }
  auto quantizable = [&](const onnx::NodeProto& n) {
    return n.op_type() == "Conv" && default_domain(n.domain()) && n.input_size() > 0 &&
           producer_op[n.input(0)] != "Softmax";
  };
  auto feeds_a_conv = [&](int from) {
    std::vector<int> stack = {from};
    std::set<int> visited = {from};
    while (!stack.empty()) {
      const onnx::NodeProto& n = g.node(stack.back());
      stack.pop_back();
      for (const std::string& o : n.output()) {
        for (int c : consumers[o]) {
          if (!visited.insert(c).second) continue;
          if (quantizable(g.node(c))) return true;
          stack.push_back(c);
        }
      }
    }
    return false;
  };
  struct QuantizedInput {
    std::string dequantized;  // the DequantizeLinear output the convs read
    float scale;
    int zero_point;
  };
  std::map<std::string, QuantizedInput> quantized_input;  // by the float tensor
  std::vector<onnx::NodeProto> out;
  out.reserve(static_cast<size_t>(g.node_size()) * 2);
  layers->clear();
  for (int i = 0; i < g.node_size(); ++i) {
    onnx::NodeProto n = g.node(i);
    if (n.op_type() != "Conv" || !default_domain(n.domain()) || n.input_size() < 2) {
      out.push_back(std::move(n));
      continue;
    }
    QdqLayer L;
    L.conv = n.name().empty() ? fmt::format("Conv_{}", i) : n.name();
    L.input = n.input(0);
    const onnx::TensorProto* wt = w.initializer(n.input(1));
    std::vector<float> wv;
    auto keep = [&](std::string why) {
      L.kept_float_because = std::move(why);
      layers->push_back(L);
      out.push_back(n);
    };
    auto it = ranges.find(L.input);
    if (!quantizable(n)) {
      keep("its input is a Softmax (the DFL integral: exact bin weights)");
      continue;
    }
    if (!feeds_a_conv(i)) {
      keep("the output head's last conv (boxes and scores keep float)");
      continue;
    }
    if (!wt || !read_floats(*wt, &wv) || wt->dims_size() < 3) {
      keep("weights are not a float32 initializer");
      continue;
    }
    if (it == ranges.end()) {
      keep("no calibrated range for its input");
      continue;
    }
    const float lo = std::min(it->second.lo, 0.f), hi = std::max(it->second.hi, 0.f);
    if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) {
      keep("its input was constant (or not finite) on every calibration image");
      continue;
    }
    // The input: uint8 with a zero point, one pair per tensor (shared by its convs).
    auto in_q = quantized_input.find(L.input);
    if (in_q == quantized_input.end()) {
      const float scale = (hi - lo) / 255.f;
      const uint8_t zp = static_cast<uint8_t>(std::clamp(std::nearbyint(-lo / scale), 0.f, 255.f));
      const std::string s =
          w.add_initializer(L.input + "_scale", onnx::TensorProto::FLOAT, {}, &scale, 4);
      const std::string z =
          w.add_initializer(L.input + "_zero_point", onnx::TensorProto::UINT8, {}, &zp, 1);
      const std::string qn = w.fresh(L.input + "_quantized");
      const std::string dq = w.fresh(L.input + "_dequantized");
      out.push_back(
          w.make_node("QuantizeLinear", L.input + "_QuantizeLinear", {L.input, s, z}, qn));
      out.push_back(w.make_node("DequantizeLinear", L.input + "_DequantizeLinear", {qn, s, z}, dq));
      in_q = quantized_input.emplace(L.input, QuantizedInput{dq, scale, zp}).first;
    }
    L.scale = in_q->second.scale;
    L.zero_point = in_q->second.zero_point;
    // The weights: int8 per output channel, symmetric.
    const int64_t oc = wt->dims(0),
                  per = static_cast<int64_t>(wv.size()) / std::max<int64_t>(oc, 1);
    std::vector<int8_t> q(wv.size());
    std::vector<float> scales(static_cast<size_t>(oc));
    std::vector<int8_t> zeros(static_cast<size_t>(oc), 0);
    double err = 0, norm = 0;
    for (int64_t c = 0; c < oc; ++c) {
      float mx = 0;
      for (int64_t k = 0; k < per; ++k) mx = std::max(mx, std::fabs(wv[c * per + k]));
      const float s = mx > 0 && std::isfinite(mx) ? mx / 127.f : 1.f;
      scales[c] = s;
      for (int64_t k = 0; k < per; ++k) {
        const float v = wv[c * per + k];
        const float r = std::clamp(std::nearbyint(v / s), -127.f, 127.f);
        q[c * per + k] = static_cast<int8_t>(r);
        err += (r * s - v) * static_cast<double>(r * s - v);
        norm += static_cast<double>(v) * v;
      }
    }
    L.weight_error = norm > 0 ? std::sqrt(err / norm) : 0;
    std::vector<int64_t> dims(wt->dims().begin(), wt->dims().end());
    const std::string base = n.input(1);
    const std::string wq =
        w.add_initializer(base + "_quantized", onnx::TensorProto::INT8, dims, q.data(), q.size());
    const std::string ws = w.add_initializer(base + "_scale", onnx::TensorProto::FLOAT, {oc},
                                             scales.data(), scales.size() * 4);
    const std::string wz = w.add_initializer(base + "_zero_point", onnx::TensorProto::INT8, {oc},
                                             zeros.data(), zeros.size());
    const std::string wdq = w.fresh(base + "_dequantized");
    onnx::NodeProto d =
        w.make_node("DequantizeLinear", base + "_DequantizeLinear", {wq, ws, wz}, wdq);
    onnx::AttributeProto* axis = d.add_attribute();
    axis->set_name("axis");
    axis->set_type(onnx::AttributeProto::INT);
    axis->set_i(0);
    out.push_back(std::move(d));
    n.set_input(0, in_q->second.dequantized);
    n.set_input(1, wdq);
    L.quantized = true;
    layers->push_back(L);
    out.push_back(std::move(n));
  }
  g.clear_node();
  for (onnx::NodeProto& n : out) *g.add_node() = std::move(n);
  // Float weights no node reads any more.
  std::set<std::string> used;
  for (const onnx::NodeProto& n : g.node()) {
    for (const std::string& s : n.input()) used.insert(s);
  }
  for (const onnx::ValueInfoProto& v : g.output()) used.insert(v.name());
  auto* inputs = g.mutable_input();  // initializers some exporters also list as inputs
  std::set<std::string> dropped;
  for (const onnx::TensorProto& t : g.initializer()) {
    if (!used.count(t.name())) dropped.insert(t.name());
  }
  inputs->erase(
      std::remove_if(inputs->begin(), inputs->end(),
                     [&](const onnx::ValueInfoProto& v) { return dropped.count(v.name()); }),
      inputs->end());
  auto* inits = g.mutable_initializer();
  inits->erase(std::remove_if(inits->begin(), inits->end(),
                              [&](const onnx::TensorProto& t) { return !used.count(t.name()); }),
               inits->end());
  return m.SerializeAsString();
}

}  // namespace shoal
