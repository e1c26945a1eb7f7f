// Builds YOLO-architecture ONNX models (serialized ModelProto bytes) with seeded random weights, so
// `shoal make-model`, tests, benchmarks and fuzz seeds run on a fresh clone without ../shared.
// Knows nothing about the graph IR or backends.
#pragma once

#include <cstdint>
#include <string>

namespace shoal {

struct BuilderOptions {
  uint32_t seed = 0;        // std::mt19937 seed; the same options give the same bytes
  int imgsz = 640;          // square input size (detector: a multiple of 32; classifier: any >= 8)
  int num_classes = 80;     // class names are COCO's for the first 80, then "class<i>"
  double width = 0.25;      // channel multiplier (Ultralytics n 0.25, s 0.5, m 0.75)
  double depth = 0.33;      // C2f repeat multiplier (n/s 0.33, m 0.67)
  int max_channels = 1024;  // channel cap applied before `width` (Ultralytics max_channels)
  int reg_max = 16;         // DFL bins per box side
  int head_channels = 0;    // Detect head hidden channels (box and class branch); 0 = Ultralytics'
  int batch = 1;
  int opset = 17;  // ai.onnx opset, 13..22
  // Non-zero: the Detect head's weights come from this seed instead, so two models with the
  // same `seed` and different head seeds share every backbone tensor (a fine-tuned head).
  uint32_t head_seed = 0;
};

// A YOLOv8-like detector: Conv(+Sigmoid·Mul SiLU) blocks, C2f (Split/Concat, residual Add),
// SPPF (3 MaxPool k5), nearest Resize x2, the v8 Detect head with DFL (Reshape/Transpose/Softmax/
// 1x1 Conv) and anchor decode (Sub/Add/Div/Mul, Sigmoid class scores). Input `images`
// [batch,3,imgsz,imgsz] float32; output `output0` [batch, 4+nc, N] with N = sum (imgsz/s)^2 over
// strides 8/16/32. metadata_props as Ultralytics writes them (task, stride, imgsz, batch, names).
// Throws shoal::Error (kInvalidArgument) for options out of range.
std::string build_yolo_detector_onnx(const BuilderOptions& opts);

// A tiny classifier: 3 Conv+SiLU, GlobalAveragePool, Flatten, Gemm, Softmax. Input `images`
// [batch,3,imgsz,imgsz]; output `output0` [batch, nc] probabilities; metadata task=classify.
std::string build_classifier_onnx(const BuilderOptions& opts);

// Output heads other exporters write, for decoder tests. A tiny graph: `output0`, in the
// exporter's exact layout, is a seeded table of meaningful rows (boxes inside the input, scores in
// [0, 1], integer class ids) plus mean(images) x a seeded shift of the boxes (up to 2 pixels or
// 1% of the input), so the output depends on the image and a test that runs the model knows what
// to expect. Input `images` [1, 3, imgsz, imgsz] float32.
enum class HeadKind {
  kYolov5,   // classic anchor-based YOLOv5/v7, grid decoded in the graph: [1, 3 x cells, 5+nc]
             // (cx, cy, w, h pixels, objectness, class probabilities); about a third of the rows
             // have objectness above 0.2, boxes overlap so that NMS matters
  kEnd2End,  // YOLOv10/YOLO26 NMS-free: [1, rows, 6] (x1, y1, x2, y2 pixels, score, class id),
             // scores descending as TopK leaves them
  kRtdetr,   // Ultralytics RT-DETR: [1, rows, 4+nc] (cx, cy, w, h of 0..1, sigmoid class scores),
             // queries unsorted; about a quarter have one class above 0.3
  kObb,      // Ultralytics YOLOv8/11-obb: [1, 4+nc+1, cells] channels first (cx, cy, w, h pixels,
             // sigmoid class scores, angle in radians in [-pi/4, 3pi/4)); every anchor is a
             // jittered copy of one of a few rotated objects (some written with w and h swapped
             // and the angle a quarter turn on, the same rectangle), so rotated NMS matters;
             // about 40% have one class above 0.25, mostly the object's own
};
struct HeadModelOptions {
  HeadKind kind = HeadKind::kYolov5;
  uint32_t seed = 0;
  int imgsz = 64;        // a multiple of 32
  int num_classes = 3;   // names are COCO's for the first 80, then "class<i>" (obb: DOTA-v1's
                         // 15, then "class<i>")
  int rows = 300;        // end2end: max_det; rtdetr: queries; yolov5, obb: ignored (grid cells)
  bool metadata = true;  // yolov5: stride and names as its export.py writes them; end2end,
                         // rtdetr and obb: Ultralytics' keys (end2end True; head RTDETRDecoder;
                         // task obb)
};
// Throws shoal::Error (kInvalidArgument) for options out of range.
std::string build_head_onnx(const HeadModelOptions& opts);

// A detector (build_yolo_detector_onnx's bytes: one output [1, 4+nc, anchors]) with its
// post-processing in the graph: NonMaxSuppression (center_point_box 1, per class) on the boxes and
// scores, then Gather/GatherND of the selected rows. Unpadded: outputs `selected` [K, 3] int64
// (batch, class, box) and `detections` [K, 6] (x1, y1, x2, y2, score, class), K known only after
// the run. Padded: the best max_det of them by score (TopK with a computed k), zero rows after, as
// Ultralytics' nms=True export writes `output0` [1, max_det, 6] (with 'nms': True in its args).
struct NmsGraphOptions {
  int64_t max_boxes_per_class = 100;
  float iou = 0.45f;
  float score = 0.25f;
  bool padded = false;
  int64_t max_det = 300;
};
std::string with_nms_graph_onnx(const std::string& detector, const NmsGraphOptions& opts);

// The model rewritten in half precision as Ultralytics' `half=True` and onnxconverter-common's
// convert_float_to_float16 write it: float32 initializers, Constants, graph inputs, outputs and
// value_info become float16, Casts to float become Casts to float16; Resize's roi and scales and
// Upsample's scales stay float32 as ONNX requires. Throws kInvalidArgument for bytes that are not
// a model.
std::string to_float16_onnx(const std::string& model_bytes);

// Ultralytics' names dict string: "{0: 'person', 1: 'bicycle', ...}".
std::string class_names_metadata(int num_classes);
// The same with DOTA-v1's 15 names (Ultralytics' OBB models), then "class<i>".
std::string dota_names_metadata(int num_classes);

// Writes `bytes` to `path` (throws kInvalidArgument when the file cannot be written).
void save_bytes(const std::string& path, const std::string& bytes);

}  // namespace shoal
