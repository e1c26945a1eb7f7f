// Results as JSON (the `shoal detect --json` format, also for the HTTP image endpoint) and
// instance masks as COCO run-length encoding. Knows nothing about models or sessions.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <vector>

#include "vision/types.h"

namespace shoal::vision {

// COCO "uncompressed RLE" of a full-image mask: pixels in column-major (Fortran) order, run
// lengths alternating 0s, 1s, 0s, ... starting with a (possibly empty) run of 0s; the counts sum
// to height * width. pycocotools reads it with mask.frPyObjects(rle, h, w).
struct Rle {
  int height = 0, width = 0;
  std::vector<int64_t> counts;
};

// How results print: pixel coordinates to 0.01, scores and angles (radians) to 1e-4, each as the
// double nearest that decimal, so JSON and CSV show it short ("809.92", not "809.9200000000001").
double round_px(double v);
double round_score(double v);
double round_angle(double v);

Rle mask_to_rle(const Detection& d, int image_width, int image_height);
cv::Mat rle_to_mask(const Rle& rle);  // CV_8U 0/1, for tests and consumers

// {"image", "width", "height", "detections": [{"class_id", "class_name", "score",
//  "box": [x1, y1, x2, y2], "mask": {"size": [h, w], "counts": [...]}, "keypoints":
//  [[x, y, v], ...], "rbox": [cx, cy, w, h, angle], "polygon": [[x, y] x 4]}],
//  "top5": [{"class_id", "class_name", "score"}]} or {"image", "error"}. OBB detections add
// "rbox" (angle in radians) and "polygon" (its corners in rbox_corners' order); their "box" is
// the rotated box's bounds clipped to the image.
nlohmann::json result_to_json(const Result& r, bool include_masks = true);

}  // namespace shoal::vision
