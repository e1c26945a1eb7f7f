#include "vision/draw.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "vision/model_info.h"
#include "vision/rotated_box.h"
#include "vision/text.h"

namespace shoal::vision {

cv::Scalar class_color(int class_id) {
  static const uint32_t kHex[] = {0x042AFF, 0x0BDBEB, 0xF3F3F3, 0x00DFB7, 0x111F68,
                                  0xFF6FDD, 0xFF444F, 0xCCED00, 0x00F344, 0xBD00FF,
                                  0x00B4FF, 0xDD00BA, 0x00FFFF, 0x26C000, 0x01FFB3,
                                  0x7D24FF, 0x7B0068, 0xFF1B6C, 0xFC6D2F, 0xA2FF0B};
  const uint32_t h = kHex[static_cast<size_t>(std::abs(class_id) % 20)];
  return cv::Scalar((h & 0xFF), (h >> 8) & 0xFF, (h >> 16) & 0xFF);  // RGB hex -> BGR
}

namespace {

std::string fmt_label(const std::string& name, float score) {
  return fmt::format("{} {:.2f}", name, score);
}

// Places labels one after another (highest score first, as results come): each goes to the first
// of its candidate spots that lies inside the image and clear of every label placed before it;
// when none is clear, to the spot that overlaps least. Candidates, nearest the box first: above
// its top-left corner (outside), inside its top edge, below its bottom edge, the same right-
// aligned, then stacked further out; every spot is clamped into the image.
class LabelPlacer {
 public:
  LabelPlacer(int width, int height) : w_(width), h_(height) {}

  cv::Rect place(const cv::Rect& box, cv::Size size) {
    size.width = std::min(size.width, w_);
    size.height = std::min(size.height, h_);
    cv::Rect best;
    int64_t best_overlap = -1;
    for (int k = 0; k < 8; ++k) {
      const int ys[] = {box.y - size.height * (k + 1), box.y + size.height * k,
                        box.y + box.height + size.height * k};
      const int xs[] = {box.x, box.x + box.width - size.width};
      for (int x : xs) {
        for (int y : ys) {
          const cv::Rect r(std::clamp(x, 0, w_ - size.width), std::clamp(y, 0, h_ - size.height),
                           size.width, size.height);
          int64_t overlap = 0;
          for (const cv::Rect& p : placed_) overlap += (r & p).area();
          if (overlap == 0) return keep(r);
          if (best_overlap < 0 || overlap < best_overlap) {
            best = r;
            best_overlap = overlap;
          }
        }
      }
    }
    return keep(best);
  }

 private:
  cv::Rect keep(const cv::Rect& r) {
    placed_.push_back(r);
    return r;
  }
  int w_, h_;
  std::vector<cv::Rect> placed_;
};

void draw_label(cv::Mat& img, const std::string& text, const cv::Rect& at, cv::Scalar color, int px,
                int pad) {
  cv::rectangle(img, at, color, cv::FILLED);
  const double lum = 0.299 * color[2] + 0.587 * color[1] + 0.114 * color[0];
  const cv::Scalar fg = lum > 160 ? cv::Scalar(0, 0, 0) : cv::Scalar(255, 255, 255);
  cv::Mat roi = img(at);  // text clipped to its label
  draw_text(roi, text, cv::Point(pad, pad / 2), px, fg);
}

void draw_masks(cv::Mat& img, const Result& result) {
  for (const Detection& d : result.detections) {
    if (d.mask.empty()) continue;
    const cv::Rect r = d.mask_rect & cv::Rect(0, 0, img.cols, img.rows);
    if (r != d.mask_rect) continue;
    cv::Mat roi = img(r);
    const cv::Scalar c = class_color(d.class_id);
    for (int y = 0; y < r.height; ++y) {
      const uint8_t* m = d.mask.ptr<uint8_t>(y);
      cv::Vec3b* p = roi.ptr<cv::Vec3b>(y);
      for (int x = 0; x < r.width; ++x) {
        if (!m[x]) continue;
        for (int k = 0; k < 3; ++k) {
          p[x][k] = static_cast<uint8_t>((p[x][k] + static_cast<int>(c[k])) / 2);
        }
      }
    }
  }
}

// The outline of a rotated box: its four corners joined (OpenCV clips what leaves the image;
// corners absurdly far out are pulled in to keep the integer maths safe).
void draw_rotated_box(cv::Mat& img, const RotatedBox& r, cv::Scalar color, int lw) {
  constexpr float kFar = 1 << 20;
  std::vector<cv::Point> poly;
  for (const cv::Point2f& p : rbox_corners(r)) {
    poly.emplace_back(static_cast<int>(std::lround(std::clamp(p.x, -kFar, kFar))),
                      static_cast<int>(std::lround(std::clamp(p.y, -kFar, kFar))));
  }
  cv::polylines(img, poly, true, color, lw, cv::LINE_AA);
}

void draw_boxes_and_keypoints(cv::Mat& img, const Result& result, int lw) {
  for (const Detection& d : result.detections) {
    const cv::Scalar c = class_color(d.class_id);
    if (d.rbox) {
      draw_rotated_box(img, *d.rbox, c, lw);
    } else {
      const cv::Point p1(static_cast<int>(d.box.x1), static_cast<int>(d.box.y1));
      const cv::Point p2(static_cast<int>(d.box.x2), static_cast<int>(d.box.y2));
      cv::rectangle(img, p1, p2, c, lw, cv::LINE_AA);
    }
    if (d.keypoints.empty()) continue;
    const auto& kp = d.keypoints;
    if (kp.size() == 17) {
      for (const auto& [a, b] : coco_skeleton()) {
        const Keypoint& ka = kp[static_cast<size_t>(a)];
        const Keypoint& kb = kp[static_cast<size_t>(b)];
        if (ka.v < 0.5f || kb.v < 0.5f) continue;
        cv::line(img, cv::Point(static_cast<int>(ka.x), static_cast<int>(ka.y)),
                 cv::Point(static_cast<int>(kb.x), static_cast<int>(kb.y)), class_color(a + 7),
                 std::max(lw / 2, 1), cv::LINE_AA);
      }
    }
    for (size_t k = 0; k < kp.size(); ++k) {
      if (kp[k].v < 0.5f) continue;
      cv::circle(img, cv::Point(static_cast<int>(kp[k].x), static_cast<int>(kp[k].y)),
                 std::max(lw + 1, 3), class_color(static_cast<int>(k)), cv::FILLED, cv::LINE_AA);
    }
  }
}

}  // namespace

cv::Mat annotate(const cv::Mat& bgr, const Result& result, std::vector<cv::Rect>* labels) {
  return annotate(bgr, std::vector<const Result*>{&result}, labels);
}

cv::Mat annotate(const cv::Mat& bgr, const std::vector<const Result*>& results,
                 std::vector<cv::Rect>* labels) {
  cv::Mat img = bgr.clone();
  if (labels) labels->clear();
  const int lw = std::max(static_cast<int>(std::lround((img.rows + img.cols) / 2.0 * 0.003)), 2);
  const int px = std::max(lw * 6, 12), pad = std::max(px / 6, 2);
  // Masks first (blended), then boxes and keypoints, then every label on top.
  for (const Result* r : results) draw_masks(img, *r);
  for (const Result* r : results) draw_boxes_and_keypoints(img, *r, lw);
  LabelPlacer placer(img.cols, img.rows);
  auto label = [&](const std::string& text, const cv::Rect& near, cv::Scalar color) {
    const cv::Size ts = text_size(text, px);
    const cv::Rect at = placer.place(near, {ts.width + 2 * pad, ts.height + pad});
    draw_label(img, text, at, color, px, pad);
    if (labels) labels->push_back(at);
  };
  for (const Result* r : results) {
    for (const Detection& d : r->detections) {
      const cv::Rect box(cv::Point(static_cast<int>(d.box.x1), static_cast<int>(d.box.y1)),
                         cv::Point(static_cast<int>(d.box.x2), static_cast<int>(d.box.y2)));
      label(fmt_label(d.class_name, d.score), box, class_color(d.class_id));
    }
    for (const Classification& c : r->top5) {  // a column from the top-left corner
      label(fmt_label(c.class_name, c.score), cv::Rect(10, 10, 0, 0), cv::Scalar(255, 255, 255));
    }
  }
  return img;
}

}  // namespace shoal::vision
