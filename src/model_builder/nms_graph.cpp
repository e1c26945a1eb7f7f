// with_nms_graph_onnx: a detector with its post-processing in the graph, as Ultralytics'
// `nms=True` export and hand-written post-processing graphs have it: NonMaxSuppression on the
// decoded boxes and class scores, Gather/GatherND of what it selected, and (padded form) TopK with
// a k computed from the number of detections and Pad to a fixed count. Output shapes that depend
// on the data: the engine's test of its data-dependent part.
#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "model_builder/builder.h"
#include "model_builder/onnx_test_model.h"

namespace shoal {
namespace {

// Adds a node with one fresh output named `out`; returns it.
std::string add(onnx::GraphProto* g, const std::string& op, std::vector<std::string> in,
                const std::string& out) {
  onnx::NodeProto* n = g->add_node();
  n->set_op_type(op);
  n->set_name(out + "_node");
  for (const std::string& s : in) n->add_input(s);
  n->add_output(out);
  return out;
}

void set_int(onnx::NodeProto* n, const std::string& attr, int64_t v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(attr);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void set_perm(onnx::NodeProto* n, std::vector<int64_t> perm) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name("perm");
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t p : perm) a->add_ints(p);
}

onnx::NodeProto* node_of(onnx::GraphProto* g, const std::string& out) {
  for (onnx::NodeProto& n : *g->mutable_node()) {
    if (n.output_size() > 0 && n.output(0) == out) return &n;
  }
  fail(ErrorCode::kInternal, "nms graph: no node writes '{}'", out);
}

void init_i64(onnx::GraphProto* g, const std::string& name, std::vector<int64_t> dims,
              std::vector<int64_t> v) {
  *g->add_initializer() = int64_tensor(name, dims, v);
}

void init_f32(onnx::GraphProto* g, const std::string& name, std::vector<int64_t> dims,
              std::vector<float> v) {
  *g->add_initializer() = float_tensor(name, dims, v);
}

}  // namespace

std::string with_nms_graph_onnx(const std::string& detector, const NmsGraphOptions& o) {
  onnx::ModelProto m;
  if (!m.ParseFromString(detector)) {
    fail(ErrorCode::kInvalidArgument, "nms graph: the detector bytes are not an ONNX model");
  }
  onnx::GraphProto* g = m.mutable_graph();
  if (g->output_size() != 1) {
    fail(ErrorCode::kInvalidArgument, "nms graph: the detector must have one output, it has {}",
         g->output_size());
  }
  const onnx::TensorShapeProto& shape = g->output(0).type().tensor_type().shape();
  if (shape.dim_size() != 3 || shape.dim(0).dim_value() != 1) {
    fail(ErrorCode::kInvalidArgument, "nms graph: the detector output must be [1, 4+nc, anchors]");
  }
  const int64_t nc = shape.dim(1).dim_value() - 4;
  if (nc < 1 || o.max_det < 1 || o.max_boxes_per_class < 1) {
    fail(ErrorCode::kInvalidArgument, "nms graph: needs classes, max_det and max boxes >= 1");
  }
  // The detector's output becomes an inner value (the padded form's output takes its name).
  const std::string raw = "nms_raw";
  node_of(g, g->output(0).name())->set_output(0, raw);
  g->clear_output();

  init_i64(g, "nms_axis_c", {1}, {2});
  init_i64(g, "nms_zero", {1}, {0});
  init_i64(g, "nms_four", {1}, {4});
  init_i64(g, "nms_end", {1}, {4 + nc});
  init_i64(g, "nms_max_out", {1}, {o.max_boxes_per_class});
  init_f32(g, "nms_iou", {1}, {o.iou});
  init_f32(g, "nms_score", {1}, {o.score});
  // [1, 4+nc, A] -> boxes [1, A, 4] (cx, cy, w, h) and scores [1, nc, A].
  add(g, "Transpose", {raw}, "nms_rows");
  set_perm(node_of(g, "nms_rows"), {0, 2, 1});
  add(g, "Slice", {"nms_rows", "nms_zero", "nms_four", "nms_axis_c"}, "nms_boxes");
  add(g, "Slice", {"nms_rows", "nms_four", "nms_end", "nms_axis_c"}, "nms_cls");
  add(g, "Transpose", {"nms_cls"}, "nms_scores");
  set_perm(node_of(g, "nms_scores"), {0, 2, 1});
  add(g, "NonMaxSuppression", {"nms_boxes", "nms_scores", "nms_max_out", "nms_iou", "nms_score"},
      "selected");
  set_int(node_of(g, "selected"), "center_point_box", 1);

  // The selected boxes as x1, y1, x2, y2 and their scores and classes: [K, 6].
  *g->add_initializer() = int64_tensor("nms_one_s", {}, {1});
  *g->add_initializer() = int64_tensor("nms_two_s", {}, {2});
  init_i64(g, "nms_axes0", {1}, {0});
  init_i64(g, "nms_axes1", {1}, {1});
  init_i64(g, "nms_two", {1}, {2});
  init_f32(g, "nms_half", {1}, {0.5f});
  add(g, "Gather", {"selected", "nms_two_s"}, "nms_box_idx");
  set_int(node_of(g, "nms_box_idx"), "axis", 1);
  add(g, "Gather", {"selected", "nms_one_s"}, "nms_cls_idx");
  set_int(node_of(g, "nms_cls_idx"), "axis", 1);
  add(g, "Squeeze", {"nms_boxes", "nms_axes0"}, "nms_boxes2d");
  add(g, "Gather", {"nms_boxes2d", "nms_box_idx"}, "nms_kept");
  add(g, "Slice", {"nms_kept", "nms_zero", "nms_two", "nms_axes1"}, "nms_cxcy");
  add(g, "Slice", {"nms_kept", "nms_two", "nms_four", "nms_axes1"}, "nms_wh");
  add(g, "Mul", {"nms_wh", "nms_half"}, "nms_halfwh");
  add(g, "Sub", {"nms_cxcy", "nms_halfwh"}, "nms_x1y1");
  add(g, "Add", {"nms_cxcy", "nms_halfwh"}, "nms_x2y2");
  add(g, "GatherND", {"nms_scores", "selected"}, "nms_conf");
  add(g, "Unsqueeze", {"nms_conf", "nms_axes1"}, "nms_conf1");
  add(g, "Cast", {"nms_cls_idx"}, "nms_clsf");
  set_int(node_of(g, "nms_clsf"), "to", onnx::TensorProto::FLOAT);
  add(g, "Unsqueeze", {"nms_clsf", "nms_axes1"}, "nms_cls1");
  add(g, "Concat", {"nms_x1y1", "nms_x2y2", "nms_conf1", "nms_cls1"}, "detections");
  set_int(node_of(g, "detections"), "axis", 1);

  TestModel io;  // for value_info helpers
  if (!o.padded) {
    *g->add_output() =
        *io.output("selected", onnx::TensorProto::INT64, {-1, 3}, {"num_selected", ""});
    *g->add_output() =
        *io.output("detections", onnx::TensorProto::FLOAT, {-1, 6}, {"num_selected", ""});
  } else {
    // The best max_det by score (TopK with k = min(K, max_det)), padded with zero rows to
    // [1, max_det, 6] as Ultralytics' nms=True export writes them.
    init_i64(g, "nms_max_det", {1}, {o.max_det});
    add(g, "Shape", {"detections"}, "nms_shape");
    add(g, "Slice", {"nms_shape", "nms_zero", "nms_axes1", "nms_axes0"}, "nms_count");
    add(g, "Min", {"nms_count", "nms_max_det"}, "nms_k");
    add(g, "TopK", {"nms_conf", "nms_k"}, "nms_top");
    onnx::NodeProto* topk = node_of(g, "nms_top");
    topk->add_output("nms_top_idx");
    add(g, "Gather", {"detections", "nms_top_idx"}, "nms_best");
    add(g, "Sub", {"nms_max_det", "nms_k"}, "nms_pad_rows");
    add(g, "Concat", {"nms_zero", "nms_zero", "nms_pad_rows", "nms_zero"}, "nms_pads");
    set_int(node_of(g, "nms_pads"), "axis", 0);
    add(g, "Pad", {"nms_best", "nms_pads"}, "nms_padded");
    add(g, "Unsqueeze", {"nms_padded", "nms_axes0"}, "output0");
    *g->add_output() = *io.output("output0", onnx::TensorProto::FLOAT, {1, o.max_det, 6});
    // What Ultralytics writes for an nms=True export.
    onnx::StringStringEntryProto* args = m.add_metadata_props();
    args->set_key("args");
    args->set_value("{'batch': 1, 'half': False, 'nms': True}");
  }
  std::string out;
  m.SerializeToString(&out);
  return out;
}

}  // namespace shoal
