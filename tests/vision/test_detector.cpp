// The Detector library API on small generated models (no ../shared needed): model description
// from metadata, single and batched detection agree, classifiers give top-5, bad images and
// bad options are refused with typed errors. Runs on the reference backend (exact, small).
#include <gtest/gtest.h>

#include "core/error.h"
#include "model_builder/builder.h"
#include "onnx/import.h"
#include "vision/detector.h"

namespace shoal::vision {
namespace {

Detector tiny_detector(int batch, float conf) {
  BuilderOptions b;
  b.imgsz = 64;
  b.num_classes = 80;
  b.batch = batch;
  const std::string bytes = build_yolo_detector_onnx(b);
  DetectorOptions o;
  o.backend = "reference";
  o.conf = conf;
  return Detector::open(ModelSource::memory(bytes, "test"), o);
}

cv::Mat random_image(int w, int h, int seed) {
  cv::Mat m(h, w, CV_8UC3);
  cv::theRNG().state = static_cast<uint64_t>(seed);
  cv::randu(m, 0, 255);
  return m;
}

TEST(VisionDetector, DescribesModelFromMetadata) {
  Detector d = tiny_detector(1, 0.25f);
  EXPECT_EQ(d.info().family, Family::kUltralytics);
  EXPECT_EQ(d.info().task, Task::kDetect);
  EXPECT_EQ(d.info().num_classes, 80);
  EXPECT_EQ(d.info().names[0], "person");
  EXPECT_EQ(d.info().input_width, 64);
  EXPECT_EQ(d.info().source, "metadata");
}

TEST(VisionDetector, BatchedEqualsOneByOne) {
  // conf 0: every anchor is a candidate, so NMS and mapping back are exercised on each image.
  Detector single = tiny_detector(1, 0.f);
  Detector batched = tiny_detector(2, 0.f);
  EXPECT_EQ(batched.info().batch, 2);
  const std::vector<cv::Mat> images = {random_image(80, 48, 1), random_image(33, 97, 2),
                                       random_image(64, 64, 3)};
  std::vector<Result> b = batched.detect(images);
  ASSERT_EQ(b.size(), 3u);
  for (size_t i = 0; i < images.size(); ++i) {
    Result s = single.detect(images[i]);
    EXPECT_EQ(b[i].width, images[i].cols);
    EXPECT_EQ(b[i].height, images[i].rows);
    ASSERT_EQ(s.detections.size(), b[i].detections.size()) << i;
    ASSERT_FALSE(s.detections.empty());
    for (size_t k = 0; k < s.detections.size(); ++k) {
      EXPECT_EQ(s.detections[k].class_id, b[i].detections[k].class_id);
      EXPECT_NEAR(s.detections[k].score, b[i].detections[k].score, 1e-5);
      // Coordinates, not IoU: clipped boxes can have zero area.
      EXPECT_NEAR(s.detections[k].box.x1, b[i].detections[k].box.x1, 1e-2);
      EXPECT_NEAR(s.detections[k].box.y1, b[i].detections[k].box.y1, 1e-2);
      EXPECT_NEAR(s.detections[k].box.x2, b[i].detections[k].box.x2, 1e-2);
      EXPECT_NEAR(s.detections[k].box.y2, b[i].detections[k].box.y2, 1e-2);
      const Box& bx = s.detections[k].box;  // clipped to the image
      EXPECT_GE(bx.x1, 0.f);
      EXPECT_LE(bx.x2, static_cast<float>(images[i].cols));
      EXPECT_LE(bx.y2, static_cast<float>(images[i].rows));
    }
  }
}

// `classes` drops other classes before NMS (as Ultralytics' `classes`): with class-aware NMS
// that is the unfiltered result's subset; with class-agnostic NMS a box another class had
// suppressed may come back, but every box of the subset is still there.
TEST(VisionDetector, ClassesFilterBeforeNms) {
  BuilderOptions b;
  b.imgsz = 64;
  b.num_classes = 4;
  const std::string bytes = build_yolo_detector_onnx(b);
  const cv::Mat img = random_image(96, 64, 3);
  for (bool agnostic : {false, true}) {
    DetectorOptions o;
    o.backend = "reference";
    o.conf = 0.05f;
    o.agnostic = agnostic;
    const Result all = Detector::open(ModelSource::memory(bytes, "test"), o).detect(img);
    std::vector<Detection> subset;
    for (const Detection& d : all.detections) {
      if (d.class_id == 1 || d.class_id == 3) subset.push_back(d);
    }
    ASSERT_FALSE(subset.empty()) << "agnostic " << agnostic;
    ASSERT_LT(subset.size(), all.detections.size()) << "the filter must drop something";
    o.classes = {1, 3};
    const Result some = Detector::open(ModelSource::memory(bytes, "test"), o).detect(img);
    for (const Detection& d : some.detections) {
      EXPECT_TRUE(d.class_id == 1 || d.class_id == 3) << d.class_id;
    }
    size_t found = 0;
    for (const Detection& w : subset) {
      bool there = false;
      for (const Detection& d : some.detections) {
        there |= d.class_id == w.class_id && d.score == w.score && d.box.x1 == w.box.x1 &&
                 d.box.y2 == w.box.y2;
      }
      found += there;
    }
    EXPECT_EQ(found, subset.size()) << "agnostic " << agnostic;
    if (agnostic) {
      EXPECT_GT(some.detections.size(), subset.size()) << "boxes other classes suppressed return";
    } else {
      EXPECT_EQ(some.detections.size(), subset.size());
    }
  }
}

TEST(VisionDetector, ClassifierTop5) {
  BuilderOptions b;
  b.imgsz = 32;
  b.num_classes = 10;
  const std::string bytes = build_classifier_onnx(b);
  DetectorOptions o;
  o.backend = "reference";
  Detector d = Detector::open(ModelSource::memory(bytes, "test"), o);
  EXPECT_EQ(d.info().task, Task::kClassify);
  Result r = d.detect(random_image(50, 40, 4));
  ASSERT_EQ(r.top5.size(), 5u);
  EXPECT_TRUE(r.detections.empty());
  for (size_t i = 1; i < 5; ++i) EXPECT_GE(r.top5[i - 1].score, r.top5[i].score);
}

TEST(VisionDetector, RefusesBadInput) {
  Detector d = tiny_detector(1, 0.25f);
  EXPECT_THROW(d.detect(cv::Mat()), Error);
  EXPECT_THROW(d.detect(cv::Mat(4, 4, CV_8UC1)), Error);
  EXPECT_THROW(d.detect_file("/no/such/image.jpg"), Error);
  // A 1x1 image is valid.
  Result r = d.detect(cv::Mat(1, 1, CV_8UC3, cv::Scalar(200, 10, 10)));
  EXPECT_EQ(r.width, 1);
  DetectorOptions bad;
  bad.backend = "reference";
  bad.max_det = 0;
  BuilderOptions b;
  b.imgsz = 64;
  const std::string bytes = build_yolo_detector_onnx(b);
  EXPECT_THROW(Detector::open(ModelSource::memory(bytes, "test"), bad), Error);
  EXPECT_THROW(Detector::open("/no/such/model.onnx"), Error);
}

}  // namespace
}  // namespace shoal::vision
