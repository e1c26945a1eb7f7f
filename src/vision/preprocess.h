// Image -> input tensor: Ultralytics letterbox, YOLOX top-left resize, classification
// resize + centre crop, and the fused BGR->RGB, scale, HWC->CHW copy. Knows nothing about
// models beyond the sizes it is given.
#pragma once

#include <opencv2/core.hpp>
#include <vector>

#include "core/tensor.h"
#include "vision/types.h"

namespace shoal::vision {

// How a letterboxed image maps back to the original: x_orig = (x - pad_left) / scale.
struct LetterboxInfo {
  int src_width = 0, src_height = 0;  // original image
  int out_width = 0, out_height = 0;  // letterboxed image (the network input)
  int resized_width = 0, resized_height = 0;
  int pad_left = 0, pad_top = 0;
  double scale = 1.0;  // r
  // Original-image coordinates of a point in the letterboxed image.
  float to_src_x(float x) const { return static_cast<float>((x - pad_left) / scale); }
  float to_src_y(float y) const { return static_cast<float>((y - pad_top) / scale); }
};

struct LetterboxOptions {
  int width = 640, height = 640;
  // Ultralytics: centred padding, size rounded (Python round). YOLOX: top-left, size truncated.
  bool center = true;
  bool round_size = true;
  bool scaleup = true;
  // Ultralytics "auto"/rect mode: pad only to a multiple of `stride` (output smaller than
  // width x height).
  bool minimal_pad = false;
  int stride = 32;
  int pad_value = 114;
};

LetterboxOptions ultralytics_letterbox(int width, int height);
LetterboxOptions yolox_letterbox(int width, int height);

// The letterbox of a w x h image: sizes, padding and scale, no pixels. Throws kInvalidArgument
// for an empty image or target.
LetterboxInfo letterbox_geometry(int w, int h, const LetterboxOptions& opt);

// Letterboxes a CV_8UC3 image: one cv::resize (INTER_LINEAR) straight into a canvas filled with
// pad_value. `info` receives the mapping back. Throws kInvalidArgument for an empty image.
cv::Mat letterbox(const cv::Mat& bgr, const LetterboxOptions& opt, LetterboxInfo* info);

// Buffers letterbox_into reuses between calls (kept by a caller that processes many images).
struct LetterboxScratch {
  cv::Mat resized;
  cv::Mat planes[3];
  std::vector<float> float_planes;  // a float16 input's planes before conversion
};

// Letterbox and tensor fill in one pass over the output: the resized pixels are converted as
// hwc_to_chw does (to_rgb, div255) straight into the planes [3, dst_height, dst_width] at `dst`
// (e.g. a model's input in its arena), the padding written as pad_value converted the same way.
// Gives the same floats as hwc_to_chw(letterbox(...)). Throws kInvalidArgument when the
// letterbox is not dst_width x dst_height.
LetterboxInfo letterbox_into(const cv::Mat& bgr, const LetterboxOptions& opt, bool to_rgb,
                             bool div255, float* dst, int dst_width, int dst_height,
                             LetterboxScratch* scratch = nullptr);

// Classification pre-processing: shorter side to `size` (INTER_LINEAR, longer side rounded),
// centre crop size x size (offsets (h - size) / 2, truncated, as Ultralytics' CenterCrop).
cv::Mat classify_crop(const cv::Mat& bgr, int size);

// Fused HWC uint8 -> CHW float: optional BGR->RGB swap and scaling (v * scale, computed as the
// exact float quotient v / 255 when scale is 1/255). Writes 3*h*w floats at `dst`.
void hwc_to_chw(const cv::Mat& bgr, bool to_rgb, bool div255, float* dst);

enum class PreprocessKind { kUltralytics, kYolox, kClassify };

// The pre-processing a model needs (by family and task).
PreprocessKind preprocess_kind(const ModelInfo& info);

// Pre-processes `bgr` for `info` into batch slot `b` of `input` ([B, 3, H, W] float32, or float16
// for a half-precision model: computed in float32, then rounded) and
// returns the mapping back (for classify: the crop, which is not mapped back).
LetterboxInfo preprocess_into(const cv::Mat& bgr, const ModelInfo& info, Tensor& input, int b,
                              LetterboxScratch* scratch = nullptr);

}  // namespace shoal::vision
