// Annotated images (vision/draw.h): every label lies inside the image and no two overlap where
// there is room, for the real YOLOv8n on bus.jpg and zidane.jpg and for crowded synthetic boxes
// at the edges; class names in UTF-8 are drawn as such; rotated boxes are drawn rotated.
#include <gtest/gtest.h>

#include <numbers>
#include <opencv2/core.hpp>

#include "test_util.h"
#include "vision/detector.h"
#include "vision/draw.h"
#include "vision/image_io.h"
#include "vision/rotated_box.h"

namespace shoal::vision {
namespace {

void expect_inside_and_apart(const std::vector<cv::Rect>& labels, cv::Size image,
                             const std::string& what) {
  const cv::Rect all(cv::Point(0, 0), image);
  for (size_t i = 0; i < labels.size(); ++i) {
    EXPECT_EQ(labels[i] & all, labels[i])
        << what << ": label " << i << " " << labels[i] << " leaves the image " << image;
    EXPECT_GT(labels[i].area(), 0) << what;
    for (size_t j = 0; j < i; ++j) {
      EXPECT_EQ((labels[i] & labels[j]).area(), 0)
          << what << ": labels " << j << " " << labels[j] << " and " << i << " " << labels[i];
    }
  }
}

Detection det(int cls, float score, float x1, float y1, float x2, float y2,
              const std::string& name = "person") {
  Detection d;
  d.class_id = cls;
  d.class_name = name;
  d.score = score;
  d.box = {x1, y1, x2, y2};
  return d;
}

TEST(VisionDraw, RealDetectionsLabelsInsideAndApart) {
  if (shared_dir().empty()) GTEST_SKIP() << "../shared not found (set SHOAL_SHARED_DIR): skipped";
  Detector d = Detector::open(shared_dir() + "/models/real/yolov8n_coco.onnx", {});
  for (const char* name : {"bus.jpg", "zidane.jpg"}) {
    const cv::Mat img = read_image(shared_dir() + "/images/" + name);
    const Result r = d.detect(img);
    ASSERT_GE(r.detections.size(), 3u) << name;
    std::vector<cv::Rect> labels;
    const cv::Mat out = annotate(img, r, &labels);
    EXPECT_EQ(out.size(), img.size());
    EXPECT_EQ(labels.size(), r.detections.size()) << name;
    expect_inside_and_apart(labels, img.size(), name);
  }
}

// Boxes in the corners, along every edge, one box repeated four times, a box wider than the
// image: there is room for every label, so none leaves the image or covers another.
TEST(VisionDraw, CrowdedBoxesAtTheEdges) {
  const cv::Mat img(240, 320, CV_8UC3, cv::Scalar(40, 40, 40));
  Result r;
  r.width = img.cols;
  r.height = img.rows;
  r.detections = {det(0, 0.9f, 0, 0, 60, 50),        det(1, 0.8f, 270, 0, 320, 40),
                  det(2, 0.7f, 0, 200, 50, 240),     det(3, 0.6f, 280, 210, 320, 240),
                  det(4, 0.5f, 100, 0, 200, 30),     det(5, 0.5f, 100, 100, 180, 160),
                  det(5, 0.45f, 100, 100, 180, 160), det(5, 0.4f, 100, 100, 180, 160),
                  det(5, 0.35f, 100, 100, 180, 160), det(6, 0.3f, -20, 60, 340, 90)};
  std::vector<cv::Rect> labels;
  annotate(img, r, &labels);
  ASSERT_EQ(labels.size(), r.detections.size());
  expect_inside_and_apart(labels, img.size(), "crowded");
  // Several results on one image (a pipeline): their labels avoid each other too.
  Result other = r;
  std::vector<cv::Rect> both;
  annotate(img, std::vector<const Result*>{&r, &other}, &both);
  ASSERT_EQ(both.size(), 2 * r.detections.size());
  size_t overlaps = 0;
  for (size_t i = 0; i < both.size(); ++i) {
    EXPECT_EQ(both[i] & cv::Rect(0, 0, img.cols, img.rows), both[i]);
    for (size_t j = 0; j < i; ++j) overlaps += (both[i] & both[j]).area() > 0;
  }
  EXPECT_EQ(overlaps, 0u);
}

TEST(VisionDraw, Utf8ClassNamesAreDrawn) {
  const cv::Mat img(120, 200, CV_8UC3, cv::Scalar(40, 40, 40));
  Result a, b;
  a.detections = {det(0, 0.9f, 20, 40, 180, 110, "Fußgänger")};
  b.detections = {det(0, 0.9f, 20, 40, 180, 110, "Fu?g?nger")};
  std::vector<cv::Rect> la, lb;
  const cv::Mat da = annotate(img, a, &la), db = annotate(img, b, &lb);
  ASSERT_EQ(la.size(), 1u);
  const cv::Rect common = la[0] & lb[0];
  ASSERT_GT(common.area(), 0);
  EXPECT_GT(cv::norm(da(common), db(common), cv::NORM_L1), 0) << "ß and ä drawn, not '?'";
}

// An OBB detection is drawn along its rotated edges, not its axis-aligned bounds: pixels on the
// rotated outline change, pixels on the bounds' edges away from it do not (they would for the
// same detection without the rotated box). Labels of rotated boxes reaching out of the image stay
// inside it and apart.
TEST(VisionDraw, RotatedBoxesAreDrawnRotated) {
  const cv::Mat img(240, 320, CV_8UC3, cv::Scalar(40, 40, 40));
  Result r;
  r.width = img.cols;
  r.height = img.rows;
  Detection d = det(3, 0.9f, 0, 0, 0, 0, "ship");
  d.rbox = RotatedBox{160, 120, 120, 40, static_cast<float>(std::numbers::pi / 6)};
  d.box = rbox_bounds(*d.rbox);  // about (98, 73) to (222, 167)
  r.detections = {d};
  std::vector<cv::Rect> labels;
  const cv::Mat rotated = annotate(img, r, &labels);
  ASSERT_EQ(labels.size(), 1u);
  r.detections[0].rbox.reset();
  const cv::Mat upright = annotate(img, r);
  auto changed = [&](const cv::Mat& out, cv::Point2f p) {
    const cv::Point q(static_cast<int>(std::lround(p.x)), static_cast<int>(std::lround(p.y)));
    return cv::norm(out.at<cv::Vec3b>(q), img.at<cv::Vec3b>(q)) > 0;
  };
  // The middle of each rotated side.
  const auto c = rbox_corners(*d.rbox);
  for (int k = 0; k < 4; ++k) {
    const cv::Point2f mid = (c[static_cast<size_t>(k)] + c[static_cast<size_t>((k + 1) % 4)]) / 2;
    EXPECT_TRUE(changed(rotated, mid)) << "side " << k << " at " << mid;
    EXPECT_FALSE(changed(upright, mid)) << "side " << k << " at " << mid;
  }
  // The left and bottom edges of the bounds, away from the rotated corners.
  for (const cv::Point2f p : {cv::Point2f(d.box.x1, 140), cv::Point2f(120, d.box.y2)}) {
    EXPECT_FALSE(changed(rotated, p)) << p;
    EXPECT_TRUE(changed(upright, p)) << p;
  }
  EXPECT_GT(cv::norm(rotated, upright, cv::NORM_L1), 0);

  // Rotated boxes over the corners and edges, partly outside the image.
  r.detections.clear();
  const float corners[][2] = {{0, 0}, {320, 0}, {0, 240}, {320, 240}, {160, 0}, {0, 120}};
  for (int i = 0; i < 6; ++i) {
    Detection e = det(i, 0.9f - 0.1f * static_cast<float>(i), 0, 0, 0, 0, "small vehicle");
    e.rbox = RotatedBox{corners[i][0], corners[i][1], 90, 30, 0.4f * static_cast<float>(i)};
    const Box b = rbox_bounds(*e.rbox);
    e.box = {std::clamp(b.x1, 0.f, 320.f), std::clamp(b.y1, 0.f, 240.f),
             std::clamp(b.x2, 0.f, 320.f), std::clamp(b.y2, 0.f, 240.f)};
    r.detections.push_back(e);
  }
  annotate(img, r, &labels);
  ASSERT_EQ(labels.size(), r.detections.size());
  expect_inside_and_apart(labels, img.size(), "rotated at the edges");
}

}  // namespace
}  // namespace shoal::vision
