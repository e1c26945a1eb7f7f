// YOLO txt, COCO results and CSV (vision/result_export.h): written and read back, they give the
// detections they were written from (rotated boxes of OBB models too).
#include <gtest/gtest.h>

#include <sstream>

#include "core/error.h"
#include "vision/result_export.h"
#include "vision/rotated_box.h"

namespace shoal::vision {
namespace {

Result sample() {
  Result r;
  r.image = "dir/000000000139.jpg";
  r.width = 640;
  r.height = 480;
  auto add = [&](int cls, const std::string& name, float score, Box b) {
    Detection d;
    d.class_id = cls;
    d.class_name = name;
    d.score = score;
    d.box = b;
    r.detections.push_back(d);
  };
  add(0, "person", 0.91234f, {10.25f, 20.5f, 110.75f, 300.125f});
  add(79, "tooth, \"brush\"", 0.5f, {600.f, 0.f, 640.f, 480.f});
  add(5, "Fußgänger", 0.3333f, {0.f, 0.f, 1.5f, 2.5f});
  return r;
}

TEST(VisionResultExport, YoloTxtRoundTrip) {
  const Result r = sample();
  for (bool conf : {false, true}) {
    const std::vector<YoloTxtBox> got = parse_yolo_txt(to_yolo_txt(r, conf));
    ASSERT_EQ(got.size(), r.detections.size());
    for (size_t i = 0; i < got.size(); ++i) {
      const Detection& d = r.detections[i];
      EXPECT_EQ(got[i].class_id, d.class_id);
      EXPECT_NEAR((got[i].cx - got[i].w / 2) * r.width, d.box.x1, 1e-3);
      EXPECT_NEAR((got[i].cy - got[i].h / 2) * r.height, d.box.y1, 1e-3);
      EXPECT_NEAR((got[i].cx + got[i].w / 2) * r.width, d.box.x2, 1e-3);
      EXPECT_NEAR((got[i].cy + got[i].h / 2) * r.height, d.box.y2, 1e-3);
      if (conf) {
        EXPECT_NEAR(got[i].conf, d.score, 1e-6);
      } else {
        EXPECT_EQ(got[i].conf, -1);
      }
    }
  }
  EXPECT_THROW(parse_yolo_txt("0 0.5 0.5 0.1\n"), Error);
  EXPECT_THROW(parse_yolo_txt("1.5 0.5 0.5 0.1 0.1\n"), Error);
  EXPECT_THROW(parse_yolo_txt("0 0.5 0.5 0.1 zero\n"), Error);
  EXPECT_THROW(parse_yolo_txt("22222222222222222222222222 0.5 0.5 0.1 0.1\n"), Error);
  EXPECT_THROW(parse_yolo_txt("inf 0.5 0.5 0.1 0.1\n"), Error);
  EXPECT_THROW(parse_yolo_txt("-1 0.5 0.5 0.1 0.1\n"), Error);
}

// A segment model's line is the mask's outline, normalised, as Ultralytics writes segments.
TEST(VisionResultExport, YoloTxtSegmentIsTheMaskOutline) {
  Result r;
  r.width = 200;
  r.height = 100;
  Detection d;
  d.class_id = 3;
  d.box = {40, 20, 120, 70};
  d.mask_rect = cv::Rect(40, 20, 80, 50);
  d.mask = cv::Mat::zeros(50, 80, CV_8U);
  d.mask(cv::Rect(10, 5, 60, 40)).setTo(1);  // image pixels x 50..109, y 25..64
  r.detections.push_back(d);
  std::istringstream f(to_yolo_txt(r, false));
  int cls;
  f >> cls;
  EXPECT_EQ(cls, 3);
  std::vector<double> v;
  double x;
  while (f >> x) v.push_back(x);
  ASSERT_GE(v.size(), 8u);
  ASSERT_EQ(v.size() % 2, 0u);
  double x0 = 1, x1 = 0, y0 = 1, y1 = 0;
  for (size_t i = 0; i < v.size(); i += 2) {
    x0 = std::min(x0, v[i]);
    x1 = std::max(x1, v[i]);
    y0 = std::min(y0, v[i + 1]);
    y1 = std::max(y1, v[i + 1]);
  }
  EXPECT_NEAR(x0 * 200, 50, 1e-3);
  EXPECT_NEAR(x1 * 200, 109, 1e-3);
  EXPECT_NEAR(y0 * 100, 25, 1e-3);
  EXPECT_NEAR(y1 * 100, 64, 1e-3);
}

// OBB models: Ultralytics' label format `class x1 y1 x2 y2 x3 y3 x4 y4`, the rotated box's
// corners normalised (not clipped: a box may reach out of the image).
TEST(VisionResultExport, YoloTxtObbRoundTrip) {
  Result r;
  r.width = 200;
  r.height = 100;
  auto add = [&](int cls, float score, RotatedBox rb) {
    Detection d;
    d.class_id = cls;
    d.score = score;
    d.rbox = rb;
    d.box = rbox_bounds(rb);
    r.detections.push_back(d);
  };
  add(0, 0.875f, {100, 50, 40, 20, 0});
  add(11, 0.5f, {30.5f, 70.25f, 64, 12, 2.1f});
  add(4, 0.3f, {190, 5, 50, 30, 0.7f});  // partly outside the image
  // By hand: u = (20, 0), v = (0, 10); corners c+u+v, c+u-v, c-u-v, c-u+v.
  EXPECT_EQ(to_yolo_txt(r, false).substr(0, to_yolo_txt(r, false).find('\n')),
            "0 0.600000 0.600000 0.600000 0.400000 0.400000 0.400000 0.400000 0.600000");
  for (bool conf : {false, true}) {
    const std::vector<YoloTxtObb> got = parse_yolo_txt_obb(to_yolo_txt(r, conf));
    ASSERT_EQ(got.size(), r.detections.size());
    for (size_t i = 0; i < got.size(); ++i) {
      const Detection& d = r.detections[i];
      EXPECT_EQ(got[i].class_id, d.class_id);
      // The rotated box back from its corners: centre their mean, w = |p1 - p4| along the
      // angle, h = |p1 - p2|.
      std::array<cv::Point2d, 4> p;
      for (size_t k = 0; k < 4; ++k) {
        p[k] = {got[i].corners[k].x * 200.0, got[i].corners[k].y * 100.0};
      }
      const cv::Point2d c = (p[0] + p[1] + p[2] + p[3]) / 4;
      const cv::Point2d u = (p[0] - p[3]) / 2;
      EXPECT_NEAR(c.x, d.rbox->cx, 2e-4) << i;
      EXPECT_NEAR(c.y, d.rbox->cy, 2e-4) << i;
      EXPECT_NEAR(cv::norm(p[0] - p[3]), d.rbox->w, 2e-4) << i;
      EXPECT_NEAR(cv::norm(p[0] - p[1]), d.rbox->h, 2e-4) << i;
      EXPECT_NEAR(std::atan2(u.y, u.x), d.rbox->angle, 1e-5) << i;
      if (conf) {
        EXPECT_NEAR(got[i].conf, d.score, 1e-6);
      } else {
        EXPECT_EQ(got[i].conf, -1);
      }
    }
    EXPECT_GT(got[2].corners[1].x, 1.f) << "corners are not clipped";
    EXPECT_LT(got[2].corners[2].y, 0.f) << "corners are not clipped";
  }
  // Each reader refuses the other's lines, naming the line.
  try {
    parse_yolo_txt_obb("0 0.5 0.5 0.1 0.1\n");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("x4 y4"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_yolo_txt(to_yolo_txt(r, false)), Error);
  EXPECT_THROW(parse_yolo_txt_obb("2.5 0 0 1 0 1 1 0 1\n"), Error);
  EXPECT_THROW(parse_yolo_txt_obb("1 0 0 1 0 1 1 0 1 0.5 0.5\n"), Error);
  EXPECT_EQ(parse_yolo_txt_obb("\n1 0 0 1 0 1 1 0 1 0.5\n").at(0).conf, 0.5f);
  // CSV and COCO results keep the axis-aligned bounds.
  const std::vector<std::vector<std::string>> rows = parse_csv(to_csv_rows(r));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_NEAR(std::stod(rows[1][4]), r.detections[1].box.x1, 0.005 + 1e-9);
  EXPECT_NEAR(std::stod(rows[1][7]), r.detections[1].box.y2, 0.005 + 1e-9);
  const nlohmann::json coco = to_coco_results(r, 1, false);
  EXPECT_NEAR(coco[1]["bbox"][2].get<double>(), r.detections[1].box.x2 - r.detections[1].box.x1,
              0.01);
}

TEST(VisionResultExport, CocoResults) {
  const Result r = sample();
  EXPECT_EQ(coco_image_id(r.image, 7), 139);
  EXPECT_EQ(coco_image_id("dir/bus.jpg", 7), 7);
  const nlohmann::json j = to_coco_results(r, 139, true);
  ASSERT_EQ(j.size(), 3u);
  EXPECT_EQ(j[0]["category_id"], 1);
  EXPECT_EQ(j[1]["category_id"], 90);
  EXPECT_EQ(j[2]["category_id"], 6);
  for (size_t i = 0; i < j.size(); ++i) {
    const Detection& d = r.detections[i];
    EXPECT_EQ(j[i]["image_id"], 139);
    const nlohmann::json& b = j[i]["bbox"];
    EXPECT_NEAR(b[0].get<double>(), d.box.x1, 0.005 + 1e-9);
    EXPECT_NEAR(b[1].get<double>(), d.box.y1, 0.005 + 1e-9);
    EXPECT_NEAR(b[0].get<double>() + b[2].get<double>(), d.box.x2, 0.01 + 1e-9);
    EXPECT_NEAR(b[1].get<double>() + b[3].get<double>(), d.box.y2, 0.01 + 1e-9);
    EXPECT_NEAR(j[i]["score"].get<double>(), d.score, 5e-5 + 1e-9);
  }
  EXPECT_EQ(to_coco_results(r, 1, false)[1]["category_id"], 79);
  EXPECT_THROW(coco80_to_91(80), Error);
}

TEST(VisionResultExport, CsvRoundTripWithQuotedFields) {
  const Result r = sample();
  const std::vector<std::vector<std::string>> rows = parse_csv(csv_header() + to_csv_rows(r));
  ASSERT_EQ(rows.size(), 1 + r.detections.size());
  EXPECT_EQ(rows[0], (std::vector<std::string>{"image", "class_id", "class_name", "score", "x1",
                                               "y1", "x2", "y2"}));
  for (size_t i = 0; i < r.detections.size(); ++i) {
    const std::vector<std::string>& f = rows[i + 1];
    const Detection& d = r.detections[i];
    ASSERT_EQ(f.size(), 8u);
    EXPECT_EQ(f[0], r.image);
    EXPECT_EQ(std::stoi(f[1]), d.class_id);
    EXPECT_EQ(f[2], d.class_name);
    EXPECT_NEAR(std::stod(f[3]), d.score, 5e-5 + 1e-9);
    const float box[4] = {d.box.x1, d.box.y1, d.box.x2, d.box.y2};
    for (int k = 0; k < 4; ++k) EXPECT_NEAR(std::stod(f[4 + k]), box[k], 0.005 + 1e-9);
  }
  EXPECT_THROW(parse_csv("a,\"b\n"), Error);
}

}  // namespace
}  // namespace shoal::vision
