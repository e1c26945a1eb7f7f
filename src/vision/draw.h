// Annotated images: boxes, labels, instance masks, pose skeletons and top-5 text drawn on a copy
// of the original image (OpenCV imgproc only). Knows nothing about models or sessions.
#pragma once

#include <opencv2/core.hpp>

#include "vision/types.h"

namespace shoal::vision {

// Ultralytics' 20-colour palette (BGR), by class id.
cv::Scalar class_color(int class_id);

// A copy of `bgr` with `result` drawn on it (`result` must come from this image).
cv::Mat annotate(const cv::Mat& bgr, const Result& result);

}  // namespace shoal::vision
