#include "vision/nms.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_map>

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

namespace {

// Candidate indices by descending score (ties in input order), at most opt.max_nms of them.
std::vector<int> ranked(const std::vector<Candidate>& cands, const NmsOptions& opt) {
  std::vector<int> order(cands.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return cands[a].score > cands[b].score; });
  if (opt.max_nms > 0 && order.size() > static_cast<size_t>(opt.max_nms)) {
    order.resize(static_cast<size_t>(opt.max_nms));
  }
  return order;
}

}  // namespace

std::vector<int> nms(const std::vector<Candidate>& cands, const NmsOptions& opt) {
  const std::vector<int> order = ranked(cands, opt);
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

namespace {

// A candidate already ranked, as rotated NMS compares later ones against it.
struct Ranked {
  RotatedBox rbox;
  double trace = 0;    // w^2 + h^2: 12 x the trace of its covariance
  bool solid = false;  // area large enough for the distance bound
};

// The Bhattacharyya distance at which probiou equals `iou` (a larger distance gives a smaller
// probiou); infinite when every pair reaches `iou`.
double max_distance_for(float iou) {
  const double keep = 1.0 - static_cast<double>(iou);
  const double arg = 1.0 + 1e-7 - keep * keep;
  return iou > 0.f && arg > 0 ? -std::log(arg) : std::numeric_limits<double>::infinity();
}

}  // namespace

std::vector<int> nms_rotated(const std::vector<Candidate>& cands, const NmsOptions& opt) {
  const std::vector<int> order = ranked(cands, opt);
  const size_t max_det = opt.max_det > 0 ? static_cast<size_t>(opt.max_det) : 0;
  // Distance bound: for two boxes whose areas are not tiny (w*h >= 0.012, so the 1e-7 terms of
  // probiou change little), the Bhattacharyya distance is at least
  // 0.2 * |centre offset|^2 / trace(sum of covariances) - 0.02: the Mahalanobis term is at least
  // |d|^2 / (4 * largest eigenvalue) >= |d|^2 / (4 * trace), and the log-determinant term at least
  // 0 by Minkowski's determinant inequality, each less a few percent for the 1e-7 terms. A pair
  // farther apart than the distance `iou` allows cannot suppress, and probiou is not computed.
  const double bd_max = max_distance_for(opt.iou);
  const double far_factor = 5.0 * (bd_max + 0.02) / 12.0 * 1.001;  // trace = (w^2 + h^2) / 12
  std::unordered_map<int, std::vector<Ranked>> ranked;  // by class (one list when agnostic)
  std::vector<int> keep;
  keep.reserve(std::min(order.size(), max_det));
  for (int idx : order) {
    if (keep.size() >= max_det) break;
    const Candidate& c = cands[static_cast<size_t>(idx)];
    Ranked me;
    me.rbox = c.rbox;
    me.trace = double{c.rbox.w} * c.rbox.w + double{c.rbox.h} * c.rbox.h;
    me.solid = std::fabs(double{c.rbox.w} * c.rbox.h) >= 0.012;
    std::vector<Ranked>& seen = ranked[opt.agnostic ? 0 : c.class_id];
    bool suppressed = false;
    for (const Ranked& s : seen) {
      if (me.solid && s.solid) {
        const double dx = double{s.rbox.cx} - me.rbox.cx, dy = double{s.rbox.cy} - me.rbox.cy;
        if (dx * dx + dy * dy > far_factor * (s.trace + me.trace)) continue;
      }
      if (probiou(s.rbox, me.rbox) >= static_cast<double>(opt.iou)) {
        suppressed = true;
        break;
      }
    }
    seen.push_back(me);
    if (!suppressed) keep.push_back(idx);
  }
  return keep;
}

}  // namespace shoal::vision
