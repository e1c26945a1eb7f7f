// Typed results of the vision pipeline (detections, masks, keypoints, classes) and the model
// description the decoders need. Plain data: knows nothing about graphs, sessions or files.
#pragma once

#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

namespace shoal::vision {

// The output head a model has, which picks its decoder:
//   kUltralytics  anchor-free YOLOv5u/v8/11 (and YOLO26 one-to-many): [B, 4+nc(+extra), anchors]
//   kYolox        YOLOX: [B, anchors, 5+nc], grid not decoded in the graph
//   kYolov5       classic anchor-based YOLOv5 / YOLOv7, grid decoded in the graph:
//                 [B, 3 x cells, 5+nc] (cx, cy, w, h pixels, objectness, class probabilities)
//   kEnd2End      NMS-free YOLOv10 / YOLO26 (and Ultralytics nms=True exports):
//                 [B, max_det, 6] (x1, y1, x2, y2 pixels, score, class id)
//   kRtdetr       Ultralytics RT-DETR: [B, queries, 4+nc] (cx, cy, w, h of 0..1, class scores)
enum class Family { kUnknown, kUltralytics, kYolox, kYolov5, kEnd2End, kRtdetr };
// kObb: Ultralytics oriented boxes, [B, 4 + nc + 1, anchors] (cx, cy, w, h, class scores, angle).
enum class Task { kUnknown, kDetect, kSegment, kPose, kClassify, kObb };

const char* family_name(Family f);
const char* task_name(Task t);

// Axis-aligned box, corners (x1, y1) top-left and (x2, y2) bottom-right, in pixels.
struct Box {
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  float width() const { return x2 - x1; }
  float height() const { return y2 - y1; }
};

// Rotated rectangle of an OBB model: centre, side lengths and the angle in radians by which the
// `w` side is turned from the x axis (clockwise on screen: y points down). Decoders regularise it
// as Ultralytics does: w >= h and angle in [0, pi). vision/rotated_box.h has its corners.
struct RotatedBox {
  float cx = 0, cy = 0, w = 0, h = 0, angle = 0;
};

struct Keypoint {
  float x = 0, y = 0;
  float v = 1;  // visibility/confidence (sigmoid already applied); 1 when the model has none
};

struct Detection {
  int class_id = 0;
  std::string class_name;
  float score = 0;
  Box box;  // original-image pixels, clipped to the image (OBB: the rotated box's bounds)
  // OBB models: the rotated box in original-image pixels, not clipped (as Ultralytics).
  std::optional<RotatedBox> rbox;
  // Segment models: the instance mask (CV_8U, 0 or 1) covering `mask_rect` of the image, i.e.
  // cropped to the box's pixels (keeps 300 masks of a large photo small). full_mask() expands it.
  cv::Mat mask;
  cv::Rect mask_rect;
  std::vector<Keypoint> keypoints;  // pose models, original-image pixels
};

struct Classification {
  int class_id = 0;
  std::string class_name;
  float score = 0;  // probability
};

// What one image produced. `error` is set (and nothing else meaningful) when it failed.
struct Result {
  std::string image;  // path or label
  int width = 0, height = 0;
  std::vector<Detection> detections;
  std::vector<Classification> top5;  // classify models (top-k, k <= 5)
  std::string error;
  // Wall time in milliseconds of each stage (0 when not measured).
  double decode_ms = 0, preprocess_ms = 0, inference_ms = 0, postprocess_ms = 0;
};

// The mask of `d` as a full-image CV_8U (0/1) matrix of `image_size`.
cv::Mat full_mask(const Detection& d, cv::Size image_size);

// Everything the pre-processing and decoders need to know about a model.
struct ModelInfo {
  Family family = Family::kUnknown;
  Task task = Task::kUnknown;
  // 0 only for an end-to-end head without names (metadata or --names): its class ids come from
  // the output and are named by their number.
  int num_classes = 0;
  std::vector<std::string> names;  // num_classes entries
  int stride = 32;                 // max stride (letterbox padding in rect mode)
  int input_width = 640, input_height = 640;
  int batch = 1;
  int num_masks = 0;                // segment: mask coefficients (32)
  int kpt_count = 0, kpt_dims = 0;  // pose: kpt_shape, e.g. 17 x 3
  std::vector<int> yolox_strides{8, 16, 32};
  std::string source;  // how family/task were found ("metadata", "output shapes", "flags")
};

}  // namespace shoal::vision
