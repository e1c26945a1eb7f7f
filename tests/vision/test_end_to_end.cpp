// End to end on the shared models: Detector (decode -> letterbox -> Shoal -> decoder -> NMS) on
// the sample photos against the same post-processing applied to ONNX Runtime's reference
// outputs: same classes, boxes IoU >= 0.99, masks IoU >= 0.99, keypoints and top-5 agree; and
// the real YOLOX-nano finds the bus and the people. Backend: env SHOAL_VISION_BACKEND or cpu.
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "core/error.h"
#include "core/npy.h"
#include "test_util.h"
#include "vision/detector.h"
#include "vision/image_io.h"
#include "vision/result_json.h"

namespace shoal::vision {
namespace {

std::string backend() {
  const char* b = std::getenv("SHOAL_VISION_BACKEND");
  return b && *b ? b : "cpu";
}

// Cache one Detector per model: compiling is the slow part.
Detector& detector(const std::string& model) {
  static std::map<std::string, std::unique_ptr<Detector>> cache;
  auto& d = cache[model];
  if (!d) {
    DetectorOptions o;
    o.backend = backend();
    d = std::make_unique<Detector>(Detector::open(shared_dir() + "/models/" + model, o));
  }
  return *d;
}

// The reference outputs decoded with the Detector's model info and options.
Result decode_reference(const Detector& det, const std::string& ref, const cv::Mat& img,
                        const std::vector<std::string>& outputs) {
  std::vector<Tensor> outs;
  for (const std::string& o : outputs)
    outs.push_back(read_npy(shared_dir() + "/reference/" + ref + "/" + o));
  Tensor in(DType::kF32, {1, 3, det.info().input_height, det.info().input_width});
  LetterboxInfo lb = preprocess_into(img, det.info(), in, 0);
  return postprocess(outs, 0, det.info(), lb, det.decode_options());
}

double mask_iou(const Detection& a, const Detection& b, cv::Size size) {
  cv::Mat ma = full_mask(a, size), mb = full_mask(b, size);
  const int inter = cv::countNonZero(ma & mb), uni = cv::countNonZero(ma | mb);
  return uni == 0 ? 1.0 : static_cast<double>(inter) / uni;
}

// Pairs each reference detection with the best unused Shoal detection of the same class (in
// order first; near-equal scores may swap places). Unmatched detections are reported by score.
struct MatchStats {
  int matched = 0;
  std::vector<float> unmatched;  // scores of detections without a partner
  double worst_box_iou = 1, worst_mask_iou = 1, worst_kpt_px = 0;
};

MatchStats match(const Result& ref, const Result& got) {
  MatchStats s;
  std::vector<bool> used(got.detections.size(), false);
  const cv::Size size(ref.width, ref.height);
  for (size_t i = 0; i < ref.detections.size(); ++i) {
    const Detection& r = ref.detections[i];
    int best = -1;
    float best_iou = 0;
    auto consider = [&](size_t j) {
      if (used[j] || got.detections[j].class_id != r.class_id) return;
      const float iou = box_iou(r.box, got.detections[j].box);
      if (iou > best_iou) {
        best_iou = iou;
        best = static_cast<int>(j);
      }
    };
    if (i < got.detections.size()) consider(i);
    if (best_iou < 0.99f) {
      for (size_t j = 0; j < got.detections.size(); ++j) consider(j);
    }
    if (best < 0 || best_iou < 0.99f) {
      s.unmatched.push_back(r.score);
      continue;
    }
    used[static_cast<size_t>(best)] = true;
    ++s.matched;
    const Detection& g = got.detections[static_cast<size_t>(best)];
    s.worst_box_iou = std::min<double>(s.worst_box_iou, best_iou);
    if (!r.mask.empty() || !g.mask.empty()) {
      s.worst_mask_iou = std::min(s.worst_mask_iou, mask_iou(r, g, size));
    }
    for (size_t k = 0; k < r.keypoints.size() && k < g.keypoints.size(); ++k) {
      s.worst_kpt_px = std::max<double>(
          s.worst_kpt_px,
          std::hypot(r.keypoints[k].x - g.keypoints[k].x, r.keypoints[k].y - g.keypoints[k].y));
    }
  }
  for (size_t j = 0; j < got.detections.size(); ++j) {
    if (!used[j]) s.unmatched.push_back(got.detections[j].score);
  }
  return s;
}

// A detection may legitimately appear on one side only when float noise (~1e-5 between
// runtimes) can flip it: its score is at the conf threshold, or at the last kept score when the
// result is cut at max_det.
bool borderline(float score, const Result& ref, const DecodeOptions& o) {
  if (std::fabs(score - o.conf) < 1e-3f) return true;
  if (static_cast<int>(ref.detections.size()) == o.nms.max_det && !ref.detections.empty() &&
      std::fabs(score - ref.detections.back().score) < 1e-3f) {
    return true;
  }
  return false;
}

struct E2ECase {
  const char* model;
  const char* ref;
  const char* image;
  std::vector<std::string> outputs;
};

void PrintTo(const E2ECase& c, std::ostream* os) { *os << c.model << " on " << c.image; }

class VisionEndToEnd : public ::testing::TestWithParam<E2ECase> {};

TEST_P(VisionEndToEnd, SameDetectionsAsOnnxRuntimeOutputs) {
  if (shared_dir().empty()) GTEST_SKIP() << "../shared not found (set SHOAL_SHARED_DIR): skipped";
  const E2ECase& c = GetParam();
  Detector& det = detector(c.model);
  const cv::Mat img = read_image(shared_dir() + "/images/" + c.image);
  const Result got = det.detect(img);
  const Result ref = decode_reference(det, c.ref, img, c.outputs);
  if (det.info().task == Task::kClassify) {
    ASSERT_EQ(got.top5.size(), ref.top5.size());
    for (size_t i = 0; i < ref.top5.size(); ++i) {
      EXPECT_EQ(got.top5[i].class_id, ref.top5[i].class_id) << i;
      EXPECT_NEAR(got.top5[i].score, ref.top5[i].score, 1e-3) << i;
    }
    return;
  }
  const MatchStats s = match(ref, got);
  fmt::print(
      "{} on {}: reference {} detections, Shoal {}; matched {}, unmatched {}; worst box IoU "
      "{:.4f}, mask IoU {:.4f}, keypoint {:.2f} px\n",
      c.model, c.image, ref.detections.size(), got.detections.size(), s.matched, s.unmatched.size(),
      s.worst_box_iou, s.worst_mask_iou, s.worst_kpt_px);
  EXPECT_FALSE(ref.detections.empty());
  std::vector<float> not_borderline;
  for (float score : s.unmatched) {
    if (!borderline(score, ref, det.decode_options())) not_borderline.push_back(score);
  }
  EXPECT_TRUE(not_borderline.empty())
      << not_borderline.size() << " detections on one side only, scores "
      << fmt::format(
             "{}",
             fmt::join(not_borderline.begin(),
                       not_borderline.begin() + std::min<size_t>(8, not_borderline.size()), ", "));
  EXPECT_LE(s.unmatched.size(), 2u);
  EXPECT_GE(s.worst_box_iou, 0.99);
  EXPECT_GE(s.worst_mask_iou, 0.99);
  EXPECT_LE(s.worst_kpt_px, 2.0);
}

INSTANTIATE_TEST_SUITE_P(
    Shared, VisionEndToEnd,
    ::testing::Values(
        E2ECase{"yolov8n.onnx", "yolov8n/bus", "bus.jpg", {"output0.npy"}},
        E2ECase{"yolov8n.onnx", "yolov8n/zidane", "zidane.jpg", {"output0.npy"}},
        E2ECase{"yolo11n.onnx", "yolo11n/bus", "bus.jpg", {"output0.npy"}},
        E2ECase{"yolo11n.onnx", "yolo11n/zidane", "zidane.jpg", {"output0.npy"}},
        E2ECase{"yolov8s.onnx", "yolov8s/bus", "bus.jpg", {"output0.npy"}},
        E2ECase{"yolov8n-seg.onnx", "yolov8n-seg/bus", "bus.jpg", {"output0.npy", "output1.npy"}},
        E2ECase{"yolo11n-seg.onnx", "yolo11n-seg/bus", "bus.jpg", {"output0.npy", "output1.npy"}},
        E2ECase{"yolov8n-pose.onnx", "yolov8n-pose/bus", "bus.jpg", {"output0.npy"}},
        E2ECase{"yolov8n-cls.onnx", "yolov8n-cls/bus", "bus.jpg", {"output0.npy"}},
        E2ECase{"yolov8n-cls.onnx", "yolov8n-cls/zidane", "zidane.jpg", {"output0.npy"}},
        E2ECase{"yolov8n-dynamic.onnx", "yolov8n/bus", "bus.jpg", {"output0.npy"}},
        E2ECase{"real/yolox_nano.onnx", "yolox_nano/bus", "bus.jpg", {"output.npy"}},
        E2ECase{"real/yolox_nano.onnx", "yolox_nano/zidane", "zidane.jpg", {"output.npy"}}),
    [](const auto& info) {
      std::string n = std::string(info.param.model) + "_" + std::string(info.param.image);
      n = n.substr(0, n.rfind('.'));
      for (char& ch : n) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return n;
    });

TEST(VisionEndToEndYolox, FindsBusAndPeopleOnBusJpg) {
  if (shared_dir().empty()) GTEST_SKIP() << "../shared not found (set SHOAL_SHARED_DIR): skipped";
  Detector& det = detector("real/yolox_nano.onnx");
  EXPECT_EQ(det.info().family, Family::kYolox);
  EXPECT_EQ(det.info().input_width, 416);
  const std::string path = shared_dir() + "/images/bus.jpg";
  const Result got = det.detect_file(path);
  const Result ref = decode_reference(det, "yolox_nano/bus", read_image(path), {"output.npy"});
  int buses = 0, persons = 0;
  std::vector<std::string> missing;
  for (const Detection& d : got.detections) {
    if (d.score < 0.5f) continue;
    buses += d.class_name == "bus";
    persons += d.class_name == "person";
    // Same detection in the reference decode within 5 px on every side.
    bool found = false;
    for (const Detection& r : ref.detections) {
      if (r.class_id == d.class_id && std::fabs(r.box.x1 - d.box.x1) <= 5 &&
          std::fabs(r.box.y1 - d.box.y1) <= 5 && std::fabs(r.box.x2 - d.box.x2) <= 5 &&
          std::fabs(r.box.y2 - d.box.y2) <= 5) {
        found = true;
      }
    }
    if (!found) {
      missing.push_back(fmt::format("{} {:.3f} [{:.1f}, {:.1f}, {:.1f}, {:.1f}]", d.class_name,
                                    d.score, d.box.x1, d.box.y1, d.box.x2, d.box.y2));
    }
  }
  EXPECT_TRUE(missing.empty()) << missing.size() << " detections >= 0.5 not in the reference "
                               << "decode, e.g. " << (missing.empty() ? "" : missing[0]);
  EXPECT_EQ(buses, 1);
  EXPECT_GE(persons, 3);
}

TEST(VisionEndToEndDynamic, CompilesForMetadataImgsz) {
  if (shared_dir().empty()) GTEST_SKIP() << "../shared not found (set SHOAL_SHARED_DIR): skipped";
  Detector& det = detector("yolov8n-dynamic.onnx");
  EXPECT_EQ(det.info().input_width, 640);
  EXPECT_EQ(det.info().input_height, 640);
  EXPECT_EQ(det.info().batch, 1);
}

}  // namespace
}  // namespace shoal::vision
