// Decoders from raw model outputs (Tensors) to typed results in original-image pixels:
// Ultralytics YOLOv5u/v8/11 detect, segment, pose, classify, obb (oriented boxes); YOLOX and
// classic anchor-based YOLOv5/v7 detect (a threshold pass first so that only anchors above `conf`
// get boxes, then NMS on those); and the NMS-free heads, end-to-end YOLOv10/YOLO26 and RT-DETR
// (threshold, max_det). Knows nothing about sessions or files.
#pragma once

#include <vector>

#include "core/tensor.h"
#include "vision/nms.h"
#include "vision/preprocess.h"
#include "vision/types.h"

namespace shoal::vision {

struct DecodeOptions {
  float conf = 0.25f;  // keep scores > conf
  NmsOptions nms;
  bool masks = true;  // segment: compute masks (false: boxes only)
  int top_k = 5;      // classify
  // Only these class ids (empty: all). Detections of other classes are dropped before NMS (as
  // Ultralytics' `classes`), so they neither appear nor suppress others; top-k picks among them.
  std::vector<int> classes;
};

// The defaults a family uses: Ultralytics IoU 0.7 class-aware; YOLOX IoU 0.45 agnostic with
// +1 pixel areas (its demo's NMS); classic YOLOv5/v7 IoU 0.45 class-aware (their detect.py).
// End-to-end and RT-DETR heads run no NMS (only conf and max_det apply).
DecodeOptions default_decode_options(Family family);

// Ultralytics head [B, 4 + nc + extra, A]: anchors of image `b` whose best class score > conf,
// with boxes xyxy in network-input pixels.
std::vector<Candidate> candidates_ultralytics(const Tensor& out, int b, int num_classes,
                                              float conf);

// YOLOX head [B, A, 5 + nc] (raw dx, dy, log w, log h; sigmoided objectness and classes):
// grid/stride decode over an input of in_w x in_h; score = objectness x best class probability.
std::vector<Candidate> candidates_yolox(const Tensor& out, int b, int in_w, int in_h,
                                        const std::vector<int>& strides, float conf);

// Classic anchor-based YOLOv5/v7 head [B, N, 5 + nc] whose grid the graph decoded: cx, cy, w, h
// in network-input pixels, objectness, class probabilities. As their NMS: rows with objectness
// > conf, score = objectness x best class probability, kept when > conf.
std::vector<Candidate> candidates_yolov5(const Tensor& out, int b, float conf);

// End-to-end head [B, max_det, 6]: x1, y1, x2, y2 in network-input pixels, score, class id. No
// NMS: as Ultralytics, the rows scoring > conf in the model's order, at most max_det, mapped back
// through the letterbox. Throws kInvalidModel for a kept row whose class id is not an integer in
// [0, num_classes) (any non-negative integer when num_classes is 0: no names).
std::vector<Detection> decode_end2end(const Tensor& out, int b, const ModelInfo& info,
                                      const LetterboxInfo& lb, const DecodeOptions& opt);

// RT-DETR head [B, queries, 4 + nc]: cx, cy, w, h normalised to the network input (0..1), class
// scores (sigmoid applied). No NMS: as Ultralytics, per query the best class, the queries scoring
// > conf sorted by score (descending, ties in query order), at most max_det, mapped back through
// the letterbox.
std::vector<Detection> decode_rtdetr(const Tensor& out, int b, const ModelInfo& info,
                                     const LetterboxInfo& lb, const DecodeOptions& opt);

// Maps a network-input box to the original image and clips it.
Box box_to_source(const Box& b, const LetterboxInfo& lb);

// Detect (any family): candidates, NMS (or none for end-to-end and RT-DETR heads), boxes mapped
// back and clipped.
std::vector<Detection> decode_detect(const Tensor& out, int b, const ModelInfo& info,
                                     const LetterboxInfo& lb, const DecodeOptions& opt);
// Segment: as detect, plus mask = sigmoid(coeffs . protos) > 0.5, bilinearly resampled from the
// prototype grid straight to the original image's pixels inside the box.
std::vector<Detection> decode_segment(const Tensor& out, const Tensor& protos, int b,
                                      const ModelInfo& info, const LetterboxInfo& lb,
                                      const DecodeOptions& opt);
// Pose: as detect, plus kpt_count keypoints (x, y[, visibility]) per detection.
std::vector<Detection> decode_pose(const Tensor& out, int b, const ModelInfo& info,
                                   const LetterboxInfo& lb, const DecodeOptions& opt);
// OBB (Ultralytics oriented boxes), [B, 4 + nc + 1, A]: per anchor cx, cy, w, h in network-input
// pixels, nc class scores (sigmoid applied), the angle in radians. As Ultralytics: anchors whose
// best class score > conf (and in `classes`), rotated NMS (nms_rotated: probiou, class-aware
// unless agnostic, max_det), boxes regularised (w >= h, angle in [0, pi)), centre and sides mapped
// back through the letterbox (the angle unchanged). Detection::rbox holds the rotated box (not
// clipped), Detection::box its axis-aligned bounds clipped to the image. Anchors whose box or angle
// is not finite are dropped. Throws kInvalidArgument when the output is not 4 + nc + 1 rows.
std::vector<Detection> decode_obb(const Tensor& out, int b, const ModelInfo& info,
                                  const LetterboxInfo& lb, const DecodeOptions& opt);
// Classify: top-k classes. Softmax is applied unless the row already holds probabilities
// (values in [0, 1] summing to 1 within 1e-3).
// `classes` (empty: all): the top k among these class ids only.
std::vector<Classification> decode_classify(const Tensor& out, int b, const ModelInfo& info,
                                            int k = 5, const std::vector<int>& classes = {});

// Dispatches on info.task. `outputs` are the model outputs in order.
Result postprocess(const std::vector<Tensor>& outputs, int b, const ModelInfo& info,
                   const LetterboxInfo& lb, const DecodeOptions& opt);

}  // namespace shoal::vision
