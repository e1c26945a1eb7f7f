#include "vision/result_export.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <opencv2/imgproc.hpp>
#include <sstream>

#include "core/error.h"
#include "vision/result_json.h"
#include "vision/rotated_box.h"

namespace shoal::vision {
namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

// The mask's largest outer contour in image pixels, or empty.
std::vector<cv::Point> outline(const Detection& d) {
  if (d.mask.empty()) return {};
  std::vector<std::vector<cv::Point>> contours;
  cv::findContours(d.mask, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE, d.mask_rect.tl());
  if (contours.empty()) return {};
  return *std::max_element(contours.begin(), contours.end(),
                           [](const auto& a, const auto& b) { return a.size() < b.size(); });
}

}  // namespace

std::string to_yolo_txt(const Result& r, bool with_conf) {
  std::string out;
  if (!r.top5.empty()) {
    for (const Classification& c : r.top5) out += fmt::format("{:.4f} {}\n", c.score, c.class_name);
    return out;
  }
  const double w = std::max(r.width, 1), h = std::max(r.height, 1);
  for (const Detection& d : r.detections) {
    std::string line = std::to_string(d.class_id);
    const std::vector<cv::Point> poly = outline(d);
    if (d.rbox) {
      for (const cv::Point2f& p : rbox_corners(*d.rbox)) {
        line += fmt::format(" {:.6f} {:.6f}", p.x / w, p.y / h);
      }
    } else if (poly.size() >= 3) {
      for (const cv::Point& p : poly) line += fmt::format(" {:.6f} {:.6f}", p.x / w, p.y / h);
    } else {
      const double bw = d.box.x2 - d.box.x1, bh = d.box.y2 - d.box.y1;
      line += fmt::format(" {:.6f} {:.6f} {:.6f} {:.6f}", (d.box.x1 + bw / 2) / w,
                          (d.box.y1 + bh / 2) / h, bw / w, bh / h);
      for (const Keypoint& k : d.keypoints) {
        line += fmt::format(" {:.6f} {:.6f} {:.6f}", k.x / w, k.y / h, k.v);
      }
    }
    if (with_conf) line += fmt::format(" {:.6f}", d.score);
    out += line + "\n";
  }
  return out;
}

namespace {

constexpr int kMaxClassId = 1'000'000;

// The non-blank lines of a YOLO txt file as numbers, each line `fields` or `fields + 1` numbers
// long starting with an integer class id; throws kInvalidArgument naming the line and `form`.
std::vector<std::vector<double>> yolo_txt_rows(const std::string& text, size_t fields,
                                               const char* form) {
  std::vector<std::vector<double>> rows;
  std::istringstream lines(text);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::istringstream f(line);
    std::vector<double> v;
    double x;
    while (f >> x) v.push_back(x);
    if (!f.eof() || (v.size() != fields && v.size() != fields + 1) ||
        !(v[0] >= 0 && v[0] <= kMaxClassId) || v[0] != std::floor(v[0])) {
      fail(ErrorCode::kInvalidArgument,
           "YOLO txt line {}: '{}' is not '{}' with an integer class 0..{}", n, line, form,
           kMaxClassId);
    }
    rows.push_back(std::move(v));
  }
  return rows;
}

}  // namespace

std::vector<YoloTxtBox> parse_yolo_txt(const std::string& text) {
  std::vector<YoloTxtBox> boxes;
  for (const std::vector<double>& v : yolo_txt_rows(text, 5, "class cx cy w h [conf]")) {
    YoloTxtBox b;
    b.class_id = static_cast<int>(v[0]);
    b.cx = static_cast<float>(v[1]);
    b.cy = static_cast<float>(v[2]);
    b.w = static_cast<float>(v[3]);
    b.h = static_cast<float>(v[4]);
    if (v.size() == 6) b.conf = static_cast<float>(v[5]);
    boxes.push_back(b);
  }
  return boxes;
}

std::vector<YoloTxtObb> parse_yolo_txt_obb(const std::string& text) {
  std::vector<YoloTxtObb> boxes;
  for (const std::vector<double>& v :
       yolo_txt_rows(text, 9, "class x1 y1 x2 y2 x3 y3 x4 y4 [conf]")) {
    YoloTxtObb b;
    b.class_id = static_cast<int>(v[0]);
    for (size_t k = 0; k < 4; ++k) {
      b.corners[k] = {static_cast<float>(v[1 + 2 * k]), static_cast<float>(v[2 + 2 * k])};
    }
    if (v.size() == 10) b.conf = static_cast<float>(v[9]);
    boxes.push_back(b);
  }
  return boxes;
}

int coco80_to_91(int class_id) {
  static const int kIds[80] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 13, 14, 15, 16, 17,
                               18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31, 32, 33, 34, 35, 36,
                               37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53,
                               54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73,
                               74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90};
  if (class_id < 0 || class_id >= 80) {
    fail(ErrorCode::kInvalidArgument, "class {} is not one of COCO's 80", class_id);
  }
  return kIds[class_id];
}

int64_t coco_image_id(const std::string& path, int64_t fallback) {
  const std::string stem = std::filesystem::path(path).stem().string();
  if (stem.empty() || stem.size() > 18 ||
      !std::all_of(stem.begin(), stem.end(), [](unsigned char c) { return std::isdigit(c); })) {
    return fallback;
  }
  return std::stoll(stem);
}

nlohmann::json to_coco_results(const Result& r, int64_t image_id, bool coco91) {
  nlohmann::json out = nlohmann::json::array();
  for (const Detection& d : r.detections) {
    nlohmann::json o;
    o["image_id"] = image_id;
    o["category_id"] = coco91 ? coco80_to_91(d.class_id) : d.class_id;
    o["bbox"] = {round_px(d.box.x1), round_px(d.box.y1), round_px(d.box.x2 - d.box.x1),
                 round_px(d.box.y2 - d.box.y1)};
    o["score"] = round_score(d.score);
    if (!d.keypoints.empty()) {
      nlohmann::json k = nlohmann::json::array();
      for (const Keypoint& p : d.keypoints) {
        k.push_back(round_px(p.x));
        k.push_back(round_px(p.y));
        k.push_back(round_score(p.v));
      }
      o["keypoints"] = k;
    }
    out.push_back(std::move(o));
  }
  return out;
}

std::string csv_header() { return "image,class_id,class_name,score,x1,y1,x2,y2\n"; }

std::string to_csv_rows(const Result& r) {
  std::string out;
  for (const Detection& d : r.detections) {
    out += fmt::format("{},{},{},{},{},{},{},{}\n", csv_field(r.image), d.class_id,
                       csv_field(d.class_name), round_score(d.score), round_px(d.box.x1),
                       round_px(d.box.y1), round_px(d.box.x2), round_px(d.box.y2));
  }
  return out;
}

std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, any = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
      continue;
    }
    if (c == '"') {
      quoted = true;
      any = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
      any = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      if (any || !field.empty()) {
        row.push_back(std::move(field));
        rows.push_back(std::move(row));
      }
      row.clear();
      field.clear();
      any = false;
    } else {
      field += c;
      any = true;
    }
  }
  if (quoted) fail(ErrorCode::kInvalidArgument, "CSV: a quoted field is not closed");
  if (any || !field.empty()) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace shoal::vision
