// Working out what a model is (family, task, classes, input size, keypoint shape) from its ONNX
// metadata, its input/output shapes and user flags. Knows nothing about sessions or kernels.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "onnx/metadata.h"
#include "vision/coco.h"
#include "vision/types.h"

namespace shoal::vision {

// User overrides; empty strings mean "not given".
struct ModelHints {
  // "ultralytics" (aliases yolov5u, yolov8, yolo11, v8), "yolox", "yolov5" (classic
  // anchor-based; alias yolov7), "end2end" (aliases yolov10, yolo26) or "rtdetr"
  std::string family;
  std::string task;        // detect, segment, pose, classify, obb (alias oriented)
  std::string names_file;  // see read_names_file
};

// Parses Ultralytics' names string "{0: 'person', 1: 'bicycle'}" (a Python dict repr, quotes
// single or double, backslash escapes). Throws kInvalidModel naming the problem.
std::map<int, std::string> parse_names_dict(const std::string& text);
// Reads a names file: one class name per line; a Python-style "{0: 'a', 1: 'b'}"; or Ultralytics'
// dataset YAML (data.yaml, `names:` as a list or an id map). Throws kNotFound / kInvalidArgument.
std::vector<std::string> read_names_file(const std::string& path);
// The same for a file's text; `path` names it in messages.
std::vector<std::string> parse_names_text(const std::string& text, const std::string& path);

// COCO-pose skeleton as 0-based keypoint index pairs (17 keypoints).
const std::vector<std::pair<int, int>>& coco_skeleton();

Family parse_family(const std::string& s);  // throws kInvalidArgument listing the choices
Task parse_task(const std::string& s);      // throws kInvalidArgument listing the choices

// Number of grid cells over strides `strides` for an input of w x h (YOLOX/v8 anchor-free heads).
int64_t anchor_count(int64_t w, int64_t h, const std::vector<int>& strides);

// Decides family, task, classes and sizes. `input` is the image input's dims [B, 3, H, W]
// (resolved, no symbolic dims); `outputs` the output dims in model order. Flags win over metadata,
// metadata over shapes (the rules are in model_info.cpp), but a family whose layout the first
// output does not have, or a flag that contradicts the head the metadata names, is refused.
// Throws kInvalidArgument / kUnsupported / kInvalidModel with a message saying what is ambiguous
// or wrong and which flag settles it.
ModelInfo infer_model_info(const std::map<std::string, std::string>& metadata, const Dims& input,
                           const std::vector<Dims>& outputs, const ModelHints& hints);

}  // namespace shoal::vision
