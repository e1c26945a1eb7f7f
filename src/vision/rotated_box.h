// Rotated rectangles of oriented-box (OBB) models: corners, axis-aligned bounds, Ultralytics'
// regularisation and the probabilistic IoU its rotated NMS uses. Plain geometry: knows nothing
// about models, tensors or images.
#pragma once

#include <array>
#include <opencv2/core.hpp>

#include "vision/types.h"

namespace shoal::vision {

// The four corners in Ultralytics' order (its xywhr2xyxyxyxy): with u = (w/2)(cos a, sin a) along
// the w side and v = (h/2)(-sin a, cos a) along the h side, c+u+v, c+u-v, c-u-v, c-u+v.
std::array<cv::Point2f, 4> rbox_corners(const RotatedBox& r);

// The smallest axis-aligned box holding the rectangle (not clipped).
Box rbox_bounds(const RotatedBox& r);

// Ultralytics' regularize_rboxes: the longer side becomes w (a box with w <= h swaps its sides
// and turns by pi/2, the same rectangle), and the angle is taken modulo pi into [0, pi).
RotatedBox regularize_rbox(const RotatedBox& r);

// Probabilistic IoU (Llerena et al., arXiv 2106.06072) as Ultralytics computes it: each rectangle
// is a 2-D Gaussian (mean its centre, covariance that of a uniform distribution over it: side^2 /
// 12 along each side, rotated by the angle); the Bhattacharyya distance B of the two (clamped to
// [1e-7, 100]) gives the Hellinger distance sqrt(1 - exp(-B) + 1e-7), and the result is 1 minus
// that: about 1 for identical boxes, 0 for far-apart ones. Symmetric, and the same for a box and
// its regularised form (a quarter turn with swapped sides has the same Gaussian). Computed in
// double precision.
double probiou(const RotatedBox& a, const RotatedBox& b);

}  // namespace shoal::vision
