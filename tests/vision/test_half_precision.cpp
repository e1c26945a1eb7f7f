// Half-precision versions of the real detectors (YOLOv8n COCO, YOLOX-nano rewritten as
// Ultralytics' half=True writes them: float16 weights, input and output) find what the float32
// models find on the sample photos: every float32 detection scoring >= 0.5 has a same-class
// partner with IoU >= 0.9 and a score within 0.05, and nothing new scores >= 0.5.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "model_builder/builder.h"
#include "runtime/model_loader.h"
#include "test_util.h"
#include "vision/detector.h"
#include "vision/image_io.h"
#include "vision/nms.h"

namespace shoal::vision {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> sample_images() {
  const std::string dir = shared_dir() + "/images";
  std::vector<std::string> paths = {dir + "/bus.jpg", dir + "/zidane.jpg"};
  std::vector<std::string> photos;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/photos")) {
    const std::string ext = e.path().extension().string();
    if (ext == ".jpg" || ext == ".png") photos.push_back(e.path().string());
  }
  std::sort(photos.begin(), photos.end());
  paths.insert(paths.end(), photos.begin(), photos.end());
  return paths;
}

// The best same-class partner of `d` in `others` by IoU, or nullptr.
const Detection* partner(const Detection& d, const std::vector<Detection>& others, float* iou) {
  const Detection* best = nullptr;
  *iou = 0;
  for (const Detection& o : others) {
    if (o.class_id != d.class_id) continue;
    const float v = box_iou(d.box, o.box);
    if (v > *iou) {
      *iou = v;
      best = &o;
    }
  }
  return best;
}

class HalfPrecision : public ::testing::TestWithParam<const char*> {};

TEST_P(HalfPrecision, FindsWhatTheFloat32ModelFinds) {
  if (shared_dir().empty()) GTEST_SKIP() << "../shared not found (set SHOAL_SHARED_DIR): skipped";
  if (std::getenv("SHOAL_SKIP_SLOW")) GTEST_SKIP() << "SHOAL_SKIP_SLOW set: skipped";
  const std::string path = shared_dir() + "/models/" + GetParam();
  Detector full = Detector::open(path);
  Detector half = Detector::open(ModelSource::memory(to_float16_onnx(read_file(path)), "half"));
  ASSERT_EQ(half.model().inputs()[0].dtype, DType::kF16);
  int compared = 0;
  for (const std::string& image : sample_images()) {
    SCOPED_TRACE(image);
    const cv::Mat bgr = read_image(image);
    const Result a = full.detect(bgr), b = half.detect(bgr);
    for (const Detection& d : a.detections) {
      if (d.score < 0.5f) continue;
      ++compared;
      float iou = 0;
      const Detection* p = partner(d, b.detections, &iou);
      ASSERT_NE(p, nullptr) << d.class_name << " " << d.score << " has no float16 partner";
      EXPECT_GE(iou, 0.9f) << d.class_name << " " << d.score;
      EXPECT_NEAR(p->score, d.score, 0.05f) << d.class_name;
    }
    for (const Detection& d : b.detections) {
      if (d.score < 0.5f) continue;
      float iou = 0;
      const Detection* p = partner(d, a.detections, &iou);
      EXPECT_TRUE(p && iou >= 0.9f && p->score >= 0.45f)
          << "new float16 detection " << d.class_name << " " << d.score;
    }
  }
  EXPECT_GE(compared, 5);  // the photos do contain things to find
}

INSTANTIATE_TEST_SUITE_P(RealModels, HalfPrecision,
                         ::testing::Values("real/yolov8n_coco.onnx", "real/yolox_nano.onnx"),
                         [](const auto& info) {
                           return std::string(info.index == 0 ? "Yolov8nCoco" : "YoloxNano");
                         });

}  // namespace
}  // namespace shoal::vision
