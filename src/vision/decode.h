// Decoders from raw model outputs (Tensors) to typed results in original-image pixels:
// Ultralytics YOLOv5u/v8/11 detect, segment, pose, classify, and YOLOX detect. Each runs a
// threshold pass first so that only anchors above `conf` get boxes, then NMS on those.
// Knows nothing about sessions or files.
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
};

// The defaults a family uses: Ultralytics IoU 0.7 class-aware; YOLOX IoU 0.45 agnostic with
// +1 pixel areas (its demo's NMS).
DecodeOptions default_decode_options(Family family);

// Ultralytics head [B, 4 + nc + extra, A]: anchors of image `b` whose best class score > conf,
// with boxes xyxy in network-input pixels.
std::vector<Candidate> candidates_ultralytics(const Tensor& out, int b, int num_classes,
                                              float conf);

// YOLOX head [B, A, 5 + nc] (raw dx, dy, log w, log h; sigmoided objectness and classes):
// grid/stride decode over an input of in_w x in_h; score = objectness x best class probability.
std::vector<Candidate> candidates_yolox(const Tensor& out, int b, int in_w, int in_h,
                                        const std::vector<int>& strides, float conf);

// Maps a network-input box to the original image and clips it.
Box box_to_source(const Box& b, const LetterboxInfo& lb);

// Detect (either family): candidates, NMS, boxes mapped back and clipped.
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
// Classify: top-k classes. Softmax is applied unless the row already holds probabilities
// (values in [0, 1] summing to 1 within 1e-3).
std::vector<Classification> decode_classify(const Tensor& out, int b, const ModelInfo& info,
                                            int k = 5);

// Dispatches on info.task. `outputs` are the model outputs in order.
Result postprocess(const std::vector<Tensor>& outputs, int b, const ModelInfo& info,
                   const LetterboxInfo& lb, const DecodeOptions& opt);

}  // namespace shoal::vision
