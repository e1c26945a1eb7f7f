#include "vision/draw.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "vision/model_info.h"

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

void draw_label(cv::Mat& img, const std::string& text, cv::Point at, cv::Scalar color, int lw) {
  const double scale = std::max(lw / 3.0, 0.4);
  const int thick = std::max(lw - 1, 1);
  int base = 0;
  cv::Size ts = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, scale, thick, &base);
  const bool outside = at.y - ts.height - 3 >= 0;
  cv::Point p2(at.x + ts.width, outside ? at.y - ts.height - 3 : at.y + ts.height + 3);
  cv::rectangle(img, at, p2, color, cv::FILLED, cv::LINE_AA);
  const double lum = 0.299 * color[2] + 0.587 * color[1] + 0.114 * color[0];
  const cv::Scalar fg = lum > 160 ? cv::Scalar(0, 0, 0) : cv::Scalar(255, 255, 255);
  cv::putText(img, text, cv::Point(at.x, outside ? at.y - 2 : at.y + ts.height + 2),
              cv::FONT_HERSHEY_SIMPLEX, scale, fg, thick, cv::LINE_AA);
}

}  // namespace

cv::Mat annotate(const cv::Mat& bgr, const Result& result) {
  cv::Mat img = bgr.clone();
  const int lw = std::max(static_cast<int>(std::lround((img.rows + img.cols) / 2.0 * 0.003)), 2);
  // Masks first (blended), then boxes, keypoints and labels on top.
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
  for (const Detection& d : result.detections) {
    const cv::Scalar c = class_color(d.class_id);
    const cv::Point p1(static_cast<int>(d.box.x1), static_cast<int>(d.box.y1));
    const cv::Point p2(static_cast<int>(d.box.x2), static_cast<int>(d.box.y2));
    cv::rectangle(img, p1, p2, c, lw, cv::LINE_AA);
    if (!d.keypoints.empty()) {
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
    draw_label(img, fmt_label(d.class_name, d.score), p1, c, lw);
  }
  int y = 10;
  for (const Classification& c : result.top5) {
    int base = 0;
    const std::string text = fmt_label(c.class_name, c.score);
    cv::Size ts =
        cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, std::max(lw / 3.0, 0.5), 1, &base);
    y += ts.height + 6;
    draw_label(img, text, cv::Point(10, y), cv::Scalar(255, 255, 255), lw);
  }
  return img;
}

}  // namespace shoal::vision
