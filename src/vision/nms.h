// Non-maximum suppression with Ultralytics semantics (torchvision.ops.nms after a class offset),
// YOLOX's variant (+1 pixel areas) and Ultralytics' rotated NMS for oriented boxes (Fast-NMS over
// probabilistic IoU). Knows nothing about models or images.
#pragma once

#include <vector>

#include "vision/rotated_box.h"
#include "vision/types.h"

namespace shoal::vision {

struct NmsOptions {
  float iou = 0.7f;       // suppress a box whose IoU with a kept box is > iou
  bool agnostic = false;  // false: boxes only suppress boxes of their own class
  int max_det = 300;      // keep at most this many
  int max_nms = 30000;    // only the max_nms best candidates enter NMS
  float max_wh = 7680.f;  // class-aware offset per class id, as Ultralytics
  bool plus_one = false;  // YOLOX/legacy: areas as (x2 - x1 + 1) * (y2 - y1 + 1)
};

struct Candidate {
  Box box;  // xyxy in network-input pixels
  float score = 0;
  int class_id = 0;
  int anchor = 0;   // row in the model output (for mask coefficients / keypoints)
  RotatedBox rbox;  // OBB heads: the rotated box in network-input pixels (`box` is its bounds)
};

// IoU of two boxes (0 when both are empty).
float box_iou(const Box& a, const Box& b, bool plus_one = false);

// Greedy NMS: candidates sorted by score (descending, ties by lower index first: a stable sort),
// cut to max_nms, each kept unless it overlaps a kept box by IoU > iou; stops at max_det.
// Class-aware mode offsets every box by class_id * max_wh exactly as Ultralytics does (so
// boxes of different classes never overlap). Returns indices into `cands` in kept order.
// O(n log n + n * kept).
std::vector<int> nms(const std::vector<Candidate>& cands, const NmsOptions& opt);

// Rotated NMS on Candidate::rbox as Ultralytics runs it for OBB models (Fast-NMS, its
// nms_rotated): candidates sorted by score (descending, stable), cut to max_nms; a candidate is
// kept when no higher-scoring candidate of its class (of any class when agnostic) has a probiou
// >= iou with it, whether that one was kept or was itself suppressed; stops at max_det.
// (Ultralytics offsets centres by class_id * max_wh to keep classes apart; comparing class ids is
// the same.) Returns indices into `cands` in kept order. At worst O(n^2) probiou evaluations, most
// skipped by a distance bound that cannot change the outcome.
std::vector<int> nms_rotated(const std::vector<Candidate>& cands, const NmsOptions& opt);

}  // namespace shoal::vision
