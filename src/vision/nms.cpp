#include "vision/nms.h"

#include <algorithm>
#include <numeric>

namespace shoal::vision {

float box_iou(const Box& a, const Box& b, bool plus_one) {
  const float e = plus_one ? 1.f : 0.f;
  const float iw = std::min(a.x2, b.x2) - std::max(a.x1, b.x1) + e;
  const float ih = std::min(a.y2, b.y2) - std::max(a.y1, b.y1) + e;
  const float inter = std::max(iw, 0.f) * std::max(ih, 0.f);
  const float area_a = std::max(a.x2 - a.x1 + e, 0.f) * std::max(a.y2 - a.y1 + e, 0.f);
  const float area_b = std::max(b.x2 - b.x1 + e, 0.f) * std::max(b.y2 - b.y1 + e, 0.f);
  const float uni = area_a + area_b - inter;
  return uni > 0.f ? inter / uni : 0.f;
}

std::vector<int> nms(const std::vector<Candidate>& cands, const NmsOptions& opt) {
  std::vector<int> order(cands.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return cands[a].score > cands[b].score; });
  if (opt.max_nms > 0 && order.size() > static_cast<size_t>(opt.max_nms)) {
    order.resize(static_cast<size_t>(opt.max_nms));
  }
  const size_t max_det = opt.max_det > 0 ? static_cast<size_t>(opt.max_det) : 0;
  std::vector<int> keep;
  std::vector<Box> kept_boxes;  // offset boxes of `keep`
  std::vector<float> kept_area;
  keep.reserve(std::min(order.size(), max_det));
  const float e = opt.plus_one ? 1.f : 0.f;
  for (int idx : order) {
    if (keep.size() >= max_det) break;
    Box b = cands[static_cast<size_t>(idx)].box;
    if (!opt.agnostic) {
      // float32 offsets as in Ultralytics (x + c * max_wh), including its rounding.
      const float off = static_cast<float>(cands[static_cast<size_t>(idx)].class_id) * opt.max_wh;
      b.x1 += off;
      b.y1 += off;
      b.x2 += off;
      b.y2 += off;
    }
    const float area = std::max(b.x2 - b.x1 + e, 0.f) * std::max(b.y2 - b.y1 + e, 0.f);
    bool suppressed = false;
    for (size_t k = 0; k < kept_boxes.size(); ++k) {
      const Box& q = kept_boxes[k];
      const float iw = std::min(b.x2, q.x2) - std::max(b.x1, q.x1) + e;
      if (iw <= 0.f) continue;
      const float ih = std::min(b.y2, q.y2) - std::max(b.y1, q.y1) + e;
      if (ih <= 0.f) continue;
      const float inter = iw * ih;
      const float uni = area + kept_area[k] - inter;
      if (uni > 0.f && inter / uni > opt.iou) {
        suppressed = true;
        break;
      }
    }
    if (suppressed) continue;
    keep.push_back(idx);
    kept_boxes.push_back(b);
    kept_area.push_back(area);
  }
  return keep;
}

}  // namespace shoal::vision
