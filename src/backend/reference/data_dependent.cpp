// Reference kernels of the ops whose output size depends on the data: NonZero and
// NonMaxSuppression (ONNX semantics, as ONNX Runtime computes them). They allocate their outputs
// (the shape is known only once they have run); see has_data_dependent_output.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "backend/reference/ref_util.h"

namespace shoal {

using namespace ref;

// int64 [rank, count]: the coordinates of every non-zero element, in row-major order.
void ref_NonZero(RefArgs& a) {
  const Tensor& x = input(a, 0);
  const Dims& d = x.dims();
  const int64_t n = x.numel();
  std::vector<int64_t> hits;
  const bool is_float = dtype_is_float(x.dtype());
  for (int64_t i = 0; i < n; ++i) {
    if (is_float ? x.get_f64(i) != 0 : x.get_i64(i) != 0) hits.push_back(i);
  }
  const int64_t rank = static_cast<int64_t>(d.size());
  const int64_t count = static_cast<int64_t>(hits.size());
  Tensor out(DType::kI64, {rank, count});
  int64_t* o = out.data<int64_t>();
  for (int64_t k = 0; k < count; ++k) {
    int64_t rest = hits[static_cast<size_t>(k)];
    for (int64_t r = rank - 1; r >= 0; --r) {
      const int64_t dim = d[static_cast<size_t>(r)];
      o[r * count + k] = rest % dim;
      rest /= dim;
    }
  }
  a.out[0] = std::move(out);
}

namespace {

struct Corners {
  float x1, y1, x2, y2;
};

// A box as its min/max corners: [y1, x1, y2, x2] with the corners in any order
// (center_point_box 0), or [x_center, y_center, width, height] (1).
Corners corners(const float* b, bool center) {
  if (center) {
    return {b[0] - b[2] / 2, b[1] - b[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2};
  }
  return {std::min(b[1], b[3]), std::min(b[0], b[2]), std::max(b[1], b[3]), std::max(b[0], b[2])};
}

// Whether `a` and `b` overlap by more than `threshold` IoU. Boxes without area never do.
bool suppresses(const Corners& a, const Corners& b, float threshold) {
  const float iw = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
  const float ih = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  if (iw <= 0 || ih <= 0) return false;
  const float inter = iw * ih;
  const float area_a = (a.x2 - a.x1) * (a.y2 - a.y1), area_b = (b.x2 - b.x1) * (b.y2 - b.y1);
  const float uni = area_a + area_b - inter;
  if (area_a <= 0 || area_b <= 0 || uni <= 0) return false;
  return inter / uni > threshold;
}

}  // namespace

// int64 [selected, 3] of (batch, class, box): per batch and class, boxes with score above
// score_threshold in descending score order (ties: the lower box index first), each kept unless
// it overlaps a kept box by more than iou_threshold, at most max_output_boxes_per_class.
void ref_NonMaxSuppression(RefArgs& a) {
  const Tensor& boxes = input(a, 0);
  const Tensor& scores = input(a, 1);
  const bool center = a.node.attr_int("center_point_box", 0) != 0;
  const auto scalar = [&](size_t i) -> const Tensor* {
    return i < a.in.size() && a.in[i].defined() && a.in[i].numel() > 0 ? &a.in[i] : nullptr;
  };
  const int64_t max_out = scalar(2) ? std::max<int64_t>(scalar(2)->get_i64(0), 0) : 0;
  const float iou = scalar(3) ? static_cast<float>(scalar(3)->get_f64(0)) : 0.f;
  const bool has_score_threshold = scalar(4) != nullptr;
  const float score_threshold = has_score_threshold ? static_cast<float>(scalar(4)->get_f64(0)) : 0;
  if (!(iou >= 0 && iou <= 1)) {
    fail(ErrorCode::kInvalidArgument, "{}: iou_threshold {} is outside [0, 1]", op_label(a.node),
         iou);
  }
  const int64_t batches = boxes.dims()[0], num_boxes = boxes.dims()[1];
  const int64_t classes = scores.dims()[1];
  const float* bp = boxes.data<float>();
  const float* sp = scores.data<float>();
  std::vector<int64_t> selected;  // (batch, class, box) triples
  std::vector<int64_t> order;
  std::vector<Corners> kept;
  for (int64_t b = 0; b < batches && max_out > 0; ++b) {
    for (int64_t c = 0; c < classes; ++c) {
      const float* s = sp + (b * classes + c) * num_boxes;
      order.clear();
      for (int64_t i = 0; i < num_boxes; ++i) {
        if (std::isnan(s[i])) continue;  // unordered: never selected
        if (!has_score_threshold || s[i] > score_threshold) order.push_back(i);
      }
      std::stable_sort(order.begin(), order.end(),
                       [&](int64_t p, int64_t q) { return s[p] > s[q]; });
      kept.clear();
      for (int64_t i : order) {
        if (static_cast<int64_t>(kept.size()) >= max_out) break;
        const Corners box = corners(bp + (b * num_boxes + i) * 4, center);
        if (std::any_of(kept.begin(), kept.end(),
                        [&](const Corners& k) { return suppresses(k, box, iou); })) {
          continue;
        }
        kept.push_back(box);
        selected.insert(selected.end(), {b, c, i});
      }
    }
  }
  Tensor out(DType::kI64, {static_cast<int64_t>(selected.size() / 3), 3});
  std::copy(selected.begin(), selected.end(), out.data<int64_t>());
  a.out[0] = std::move(out);
}

}  // namespace shoal
