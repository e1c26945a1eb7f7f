#include "vision/result_json.h"

#include <cmath>

#include "vision/rotated_box.h"

namespace shoal::vision {

Rle mask_to_rle(const Detection& d, int image_width, int image_height) {
  Rle rle;
  rle.width = image_width;
  rle.height = image_height;
  const int64_t total = int64_t{image_width} * image_height;
  const cv::Rect r = d.mask_rect;
  int64_t pos = 0;  // column-major position where the pending 0-run started
  bool any = false;
  if (!d.mask.empty() && (r & cv::Rect(0, 0, image_width, image_height)) == r) {
    for (int x = 0; x < r.width; ++x) {
      int y = 0;
      while (y < r.height) {
        while (y < r.height && !d.mask.at<uint8_t>(y, x)) ++y;
        if (y >= r.height) break;
        const int start = y;
        while (y < r.height && d.mask.at<uint8_t>(y, x)) ++y;
        const int64_t p0 = int64_t{r.x + x} * image_height + r.y + start;
        const int64_t p1 = int64_t{r.x + x} * image_height + r.y + y;
        if (any && p0 == pos && !rle.counts.empty()) {
          // Continues the previous 1-run across a column boundary.
          rle.counts.back() += p1 - p0;
        } else {
          rle.counts.push_back(p0 - pos);
          rle.counts.push_back(p1 - p0);
        }
        pos = p1;
        any = true;
      }
    }
  }
  if (total - pos > 0 || rle.counts.empty()) rle.counts.push_back(total - pos);
  return rle;
}

cv::Mat rle_to_mask(const Rle& rle) {
  cv::Mat m = cv::Mat::zeros(rle.height, rle.width, CV_8U);
  int64_t pos = 0;
  uint8_t v = 0;
  const int64_t total = int64_t{rle.width} * rle.height;
  for (int64_t c : rle.counts) {
    for (int64_t i = 0; i < c && pos < total; ++i, ++pos) {
      if (v)
        m.at<uint8_t>(static_cast<int>(pos % rle.height), static_cast<int>(pos / rle.height)) = 1;
    }
    v = static_cast<uint8_t>(1 - v);
  }
  return m;
}

double round_px(double v) { return std::round(v * 100) / 100; }
double round_score(double v) { return std::round(v * 1e4) / 1e4; }
double round_angle(double v) { return std::round(v * 1e4) / 1e4; }

nlohmann::json result_to_json(const Result& r, bool include_masks) {
  nlohmann::json j;
  j["image"] = r.image;
  if (!r.error.empty()) {
    j["error"] = r.error;
    return j;
  }
  j["width"] = r.width;
  j["height"] = r.height;
  nlohmann::json dets = nlohmann::json::array();
  for (const Detection& d : r.detections) {
    nlohmann::json o;
    o["class_id"] = d.class_id;
    o["class_name"] = d.class_name;
    o["score"] = round_score(d.score);
    o["box"] = {round_px(d.box.x1), round_px(d.box.y1), round_px(d.box.x2), round_px(d.box.y2)};
    if (include_masks && !d.mask.empty()) {
      Rle rle = mask_to_rle(d, r.width, r.height);
      o["mask"] = {{"size", {rle.height, rle.width}}, {"counts", rle.counts}};
    }
    if (!d.keypoints.empty()) {
      nlohmann::json k = nlohmann::json::array();
      for (const Keypoint& p : d.keypoints) {
        k.push_back({round_px(p.x), round_px(p.y), round_score(p.v)});
      }
      o["keypoints"] = k;
    }
    if (d.rbox) {
      const RotatedBox& rb = *d.rbox;
      o["rbox"] = {round_px(rb.cx), round_px(rb.cy), round_px(rb.w), round_px(rb.h),
                   round_angle(rb.angle)};
      nlohmann::json poly = nlohmann::json::array();
      for (const cv::Point2f& p : rbox_corners(rb)) poly.push_back({round_px(p.x), round_px(p.y)});
      o["polygon"] = poly;
    }
    dets.push_back(std::move(o));
  }
  j["detections"] = dets;
  if (!r.top5.empty()) {
    nlohmann::json t = nlohmann::json::array();
    for (const Classification& c : r.top5) {
      t.push_back({{"class_id", c.class_id},
                   {"class_name", c.class_name},
                   {"score", round_score(c.score)}});
    }
    j["top5"] = t;
  }
  return j;
}

}  // namespace shoal::vision
