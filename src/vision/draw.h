// Annotated images: boxes (rotated boxes as their outline), labels, instance masks, pose skeletons
// and top-5 text drawn on a copy of the original image (OpenCV imgproc; label text in UTF-8
// through FreeType, vision/text.h). Labels are kept inside the image and off each other where
// there is room (a rotated box's label goes by its axis-aligned bounds). Knows nothing about
// models or sessions.
#pragma once

#include <opencv2/core.hpp>
#include <vector>

#include "vision/types.h"

namespace shoal::vision {

// Ultralytics' 20-colour palette (BGR), by class id.
cv::Scalar class_color(int class_id);

// A copy of `bgr` with `result` drawn on it (`result` must come from this image). `labels`, when
// given, gets the rectangle of every label drawn (detections in order, then top-5 lines).
cv::Mat annotate(const cv::Mat& bgr, const Result& result, std::vector<cv::Rect>* labels = nullptr);
// Several results on one image (a pipeline's models), their labels placed among each other.
cv::Mat annotate(const cv::Mat& bgr, const std::vector<const Result*>& results,
                 std::vector<cv::Rect>* labels = nullptr);

}  // namespace shoal::vision
