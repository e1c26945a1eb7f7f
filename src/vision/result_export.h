// Results in the formats users feed to other tools: Ultralytics' YOLO txt (one file per image),
// COCO detection results (one JSON list for a run) and CSV (one row per detection). Each has a
// reader here too (tests and tools that read results back). Knows nothing about models.
#pragma once

#include <array>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "vision/types.h"

namespace shoal::vision {

// Ultralytics' `save_txt`: one line per detection, `class cx cy w h` normalised to the image
// size (6 decimals), then `conf` when `with_conf` (Ultralytics' `save_conf`). Pose models add
// every keypoint as `x y v` (normalised); segment models write the mask's outline instead of the
// box, `class x1 y1 x2 y2 ...` normalised (its largest contour), as Ultralytics writes segments;
// OBB models the rotated box's corners, `class x1 y1 x2 y2 x3 y3 x4 y4` normalised (rbox_corners'
// order, not clipped: Ultralytics' OBB label format). Classify models: `conf class_name` lines
// for the top-5.
std::string to_yolo_txt(const Result& r, bool with_conf);

// One parsed line of a YOLO txt file (box form): what to_yolo_txt wrote for a detect model.
struct YoloTxtBox {
  int class_id = 0;
  float cx = 0, cy = 0, w = 0, h = 0;  // normalised
  float conf = -1;                     // -1 when the line has no confidence
};
// Parses the box form (5 or 6 fields per line); throws kInvalidArgument naming the line.
std::vector<YoloTxtBox> parse_yolo_txt(const std::string& text);

// One parsed line of an OBB model's YOLO txt file: what to_yolo_txt wrote for a rotated box.
struct YoloTxtObb {
  int class_id = 0;
  std::array<cv::Point2f, 4> corners;  // normalised
  float conf = -1;                     // -1 when the line has no confidence
};
// Parses the OBB form (9 or 10 fields per line); throws kInvalidArgument naming the line.
std::vector<YoloTxtObb> parse_yolo_txt_obb(const std::string& text);

// COCO detection results: [{"image_id", "category_id", "bbox": [x, y, w, h], "score"}, ...] (and
// "keypoints": [x, y, v, ...] for pose models; OBB models: the rotated box's axis-aligned bounds).
// `category_id` is the class id, or COCO's 1..90 id when `coco91` (an 80-class model with COCO's
// names, as Ultralytics maps them).
nlohmann::json to_coco_results(const Result& r, int64_t image_id, bool coco91);
// The COCO id (1..90) of one of COCO's 80 classes in YOLO order.
int coco80_to_91(int class_id);
// A COCO image id for a file: its stem when that is all digits (000000000139.jpg -> 139), else
// `fallback` (e.g. the file's position in the run).
int64_t coco_image_id(const std::string& path, int64_t fallback);

// CSV: header `image,class_id,class_name,score,x1,y1,x2,y2`, one row per detection (RFC 4180
// quoting where a field needs it; boxes in pixels to 0.01, scores to 1e-4). OBB detections give
// their axis-aligned bounds here, as in COCO results; the rotated box is in the JSON and YOLO txt.
std::string csv_header();
std::string to_csv_rows(const Result& r);
// Parses a CSV written by csv_header + to_csv_rows back into rows of fields.
std::vector<std::vector<std::string>> parse_csv(const std::string& text);

}  // namespace shoal::vision
