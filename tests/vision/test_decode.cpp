// Decoders: synthetic outputs decoded by hand (boxes, YOLOX grid, masks, keypoints, softmax
// detection), mask RLE, family defaults, and the shared ONNX Runtime reference outputs decoded
// (YOLOX-nano's known detections on bus.jpg, Ultralytics detection counts quoted in
// models/MANIFEST.md).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/npy.h"
#include "model_builder/builder.h"
#include "test_util.h"
#include "vision/decode.h"
#include "vision/detector.h"
#include "vision/image_io.h"
#include "vision/model_info.h"
#include "vision/result_json.h"

namespace shoal::vision {
namespace {

// ---- Synthetic outputs ---------------------------------------------------------------------

// Letterbox of a 64x32 (w x h) image into 32x32: r = 0.5, 32x16, top pad 8.
LetterboxInfo small_letterbox() {
  LetterboxInfo lb;
  lb.src_width = 64;
  lb.src_height = 32;
  lb.out_width = lb.out_height = 32;
  lb.resized_width = 32;
  lb.resized_height = 16;
  lb.pad_top = 8;
  lb.scale = 0.5;
  return lb;
}

ModelInfo small_info(Task task, int nc) {
  ModelInfo i;
  i.family = Family::kUltralytics;
  i.task = task;
  i.num_classes = nc;
  for (int c = 0; c < nc; ++c) i.names.push_back(fmt::format("c{}", c));
  i.input_width = i.input_height = 32;
  return i;
}

// [1, rows, A] with every value 0 except what `set` writes.
Tensor head(int rows, int A) { return Tensor(DType::kF32, {1, rows, A}); }
void put(Tensor& t, int row, int a, float v) { t.data<float>()[row * t.dims()[2] + a] = v; }

TEST(VisionDecode, UltralyticsDetectByHand) {
  const int A = 21;  // 32x32: 16 + 4 + 1
  Tensor t = head(4 + 2, A);
  // Anchor 3: box cx 16, cy 16, 8x4, class 1 at 0.9 (class 0 at 0.3).
  put(t, 0, 3, 16);
  put(t, 1, 3, 16);
  put(t, 2, 3, 8);
  put(t, 3, 3, 4);
  put(t, 4, 3, 0.3f);
  put(t, 5, 3, 0.9f);
  // Anchor 7: exactly at the threshold: dropped (score > conf).
  put(t, 4, 7, 0.25f);
  // Anchor 9: box partly outside the image: clipped.
  put(t, 0, 9, 2);
  put(t, 1, 9, 20);
  put(t, 2, 9, 10);
  put(t, 3, 9, 2);
  put(t, 5, 9, 0.5f);
  DecodeOptions o;
  std::vector<Detection> d =
      decode_detect(t, 0, small_info(Task::kDetect, 2), small_letterbox(), o);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].class_id, 1);
  EXPECT_EQ(d[0].class_name, "c1");
  EXPECT_FLOAT_EQ(d[0].score, 0.9f);
  // Network box [12,14,20,18] -> (x / 0.5, (y - 8) / 0.5) = [24,12,40,20].
  EXPECT_FLOAT_EQ(d[0].box.x1, 24);
  EXPECT_FLOAT_EQ(d[0].box.y1, 12);
  EXPECT_FLOAT_EQ(d[0].box.x2, 40);
  EXPECT_FLOAT_EQ(d[0].box.y2, 20);
  // [-3,19,7,21] -> [-6,22,14,26] clipped to [0,22,14,26].
  EXPECT_FLOAT_EQ(d[1].box.x1, 0);
  EXPECT_FLOAT_EQ(d[1].box.y1, 22);
  EXPECT_FLOAT_EQ(d[1].box.x2, 14);
  // Nothing above a high threshold: empty, no error.
  o.conf = 0.95f;
  EXPECT_TRUE(decode_detect(t, 0, small_info(Task::kDetect, 2), small_letterbox(), o).empty());
  // Wrong class count for the tensor: a clear error.
  EXPECT_THROW(decode_detect(t, 0, small_info(Task::kDetect, 5), small_letterbox(), o), Error);
  EXPECT_THROW(decode_detect(t, 1, small_info(Task::kDetect, 2), small_letterbox(), o), Error);
}

TEST(VisionDecode, YoloxGridByHand) {
  // Input 64x64: strides 8/16/32 give 8x8 + 4x4 + 2x2 = 84 rows of [dx,dy,lw,lh,obj,c0,c1].
  Tensor t(DType::kF32, {1, 84, 7});
  auto row = [&](int a) { return t.data<float>() + a * 7; };
  // Stride 16 level starts at row 64; cell (x=2, y=1) is row 64 + 1*4 + 2 = 70.
  float* r = row(70);
  r[0] = 0.5f;           // cx = (0.5 + 2) * 16 = 40
  r[1] = 0.25f;          // cy = (0.25 + 1) * 16 = 20
  r[2] = std::log(2.f);  // w = 2 * 16 = 32
  r[3] = 0.f;            // h = 16
  r[4] = 0.8f;
  r[5] = 0.5f;
  r[6] = 0.9f;       // score 0.72, class 1
  row(3)[4] = 0.9f;  // objectness high but classes 0: score 0
  std::vector<Candidate> c = candidates_yolox(t, 0, 64, 64, {8, 16, 32}, 0.25f);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].class_id, 1);
  EXPECT_FLOAT_EQ(c[0].score, 0.72f);
  EXPECT_FLOAT_EQ(c[0].box.x1, 24);
  EXPECT_FLOAT_EQ(c[0].box.y1, 12);
  EXPECT_FLOAT_EQ(c[0].box.x2, 56);
  EXPECT_FLOAT_EQ(c[0].box.y2, 28);
  EXPECT_THROW(candidates_yolox(t, 0, 640, 640, {8, 16, 32}, 0.25f), Error);
}

TEST(VisionDecode, SegmentMaskByHand) {
  const int A = 21, nm = 2;
  Tensor t = head(4 + 1 + nm, A);
  put(t, 0, 0, 16);
  put(t, 1, 0, 16);
  put(t, 2, 0, 16);  // network box [8,12,24,20] -> image [16,8,48,24]
  put(t, 3, 0, 8);
  put(t, 4, 0, 0.9f);
  put(t, 5, 0, 1.f);   // coeff 0
  put(t, 6, 0, -1.f);  // coeff 1
  // Prototypes 8x8 (stride 4): plane 0 = 1 on the left half (x < 4), plane 1 = 0.5 everywhere:
  // logit = 1 - 0.5 > 0 on the left half, -0.5 on the right.
  Tensor p(DType::kF32, {1, nm, 8, 8});
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 8; ++x) {
      p.data<float>()[y * 8 + x] = x < 4 ? 1.f : 0.f;
      p.data<float>()[64 + y * 8 + x] = 0.5f;
    }
  }
  ModelInfo info = small_info(Task::kSegment, 1);
  info.num_masks = nm;
  std::vector<Detection> d = decode_segment(t, p, 0, info, small_letterbox(), DecodeOptions{});
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].mask_rect, cv::Rect(16, 8, 32, 16));
  ASSERT_EQ(d[0].mask.size(), cv::Size(32, 16));
  // Network x = 16 (proto 4) is image x = 32: left of it on, right off (bilinear crossover at the
  // cell boundary, x in [30, 34) blends).
  EXPECT_EQ(d[0].mask.at<uint8_t>(8, 0), 1);
  EXPECT_EQ(d[0].mask.at<uint8_t>(8, 12), 1);
  EXPECT_EQ(d[0].mask.at<uint8_t>(8, 20), 0);
  EXPECT_EQ(d[0].mask.at<uint8_t>(8, 31), 0);
  const int on = cv::countNonZero(d[0].mask);
  EXPECT_GE(on, 14 * 16);
  EXPECT_LE(on, 18 * 16);
  // RLE round trip through the full-image mask.
  Rle rle = mask_to_rle(d[0], 64, 32);
  int64_t sum = 0;
  for (int64_t c : rle.counts) sum += c;
  EXPECT_EQ(sum, 64 * 32);
  cv::Mat full = full_mask(d[0], cv::Size(64, 32));
  EXPECT_EQ(cv::countNonZero(full != rle_to_mask(rle)), 0);
  EXPECT_EQ(cv::countNonZero(full), on);
  // Boxes only.
  DecodeOptions no_masks;
  no_masks.masks = false;
  EXPECT_TRUE(decode_segment(t, p, 0, info, small_letterbox(), no_masks)[0].mask.empty());
}

TEST(VisionDecode, RleEdgeCases) {
  Detection d;  // no mask: all zeros
  Rle r = mask_to_rle(d, 3, 2);
  EXPECT_EQ(r.counts, (std::vector<int64_t>{6}));
  d.mask = cv::Mat::ones(2, 3, CV_8U);  // everything
  d.mask_rect = cv::Rect(0, 0, 3, 2);
  r = mask_to_rle(d, 3, 2);
  EXPECT_EQ(r.counts, (std::vector<int64_t>{0, 6}));
  // Column-major: a mask on the middle column of a 3x2 image is positions 2..3.
  d.mask = cv::Mat::ones(2, 1, CV_8U);
  d.mask_rect = cv::Rect(1, 0, 1, 2);
  r = mask_to_rle(d, 3, 2);
  EXPECT_EQ(r.counts, (std::vector<int64_t>{2, 2, 2}));
}

TEST(VisionDecode, PoseByHand) {
  const int A = 21;
  Tensor t = head(4 + 1 + 2 * 3, A);
  put(t, 0, 5, 16);
  put(t, 1, 5, 16);
  put(t, 2, 5, 4);
  put(t, 3, 5, 4);
  put(t, 4, 5, 0.8f);
  put(t, 5, 5, 10);  // kpt 0: (10, 12) -> (20, 8), v 0.7
  put(t, 6, 5, 12);
  put(t, 7, 5, 0.7f);
  put(t, 8, 5, 40);  // kpt 1: (40, 30) -> (80, 44) clipped to (64, 32)
  put(t, 9, 5, 30);
  put(t, 10, 5, 0.1f);
  ModelInfo info = small_info(Task::kPose, 1);
  info.kpt_count = 2;
  info.kpt_dims = 3;
  std::vector<Detection> d = decode_pose(t, 0, info, small_letterbox(), DecodeOptions{});
  ASSERT_EQ(d.size(), 1u);
  ASSERT_EQ(d[0].keypoints.size(), 2u);
  EXPECT_FLOAT_EQ(d[0].keypoints[0].x, 20);
  EXPECT_FLOAT_EQ(d[0].keypoints[0].y, 8);
  EXPECT_FLOAT_EQ(d[0].keypoints[0].v, 0.7f);
  EXPECT_FLOAT_EQ(d[0].keypoints[1].x, 64);
  EXPECT_FLOAT_EQ(d[0].keypoints[1].y, 32);
}

TEST(VisionDecode, ClassifySoftmaxWhenNeeded) {
  ModelInfo info = small_info(Task::kClassify, 4);
  Tensor probs(DType::kF32, {1, 4});
  float pv[] = {0.1f, 0.6f, 0.2f, 0.1f};
  std::copy(pv, pv + 4, probs.data<float>());
  std::vector<Classification> top = decode_classify(probs, 0, info, 5);
  ASSERT_EQ(top.size(), 4u);  // k capped by the class count
  EXPECT_EQ(top[0].class_id, 1);
  EXPECT_FLOAT_EQ(top[0].score, 0.6f);  // already probabilities: unchanged
  EXPECT_EQ(top[2].class_id, 0);        // tie 0.1/0.1: lower id first
  Tensor logits(DType::kF32, {1, 4});
  float lv[] = {0.f, 2.f, 1.f, 0.f};
  std::copy(lv, lv + 4, logits.data<float>());
  top = decode_classify(logits, 0, info, 2);
  ASSERT_EQ(top.size(), 2u);
  const double z = 2 + std::exp(2.0) + std::exp(1.0);
  EXPECT_NEAR(top[0].score, std::exp(2.0) / z, 1e-6);
  EXPECT_NEAR(top[1].score, std::exp(1.0) / z, 1e-6);
}

// ---- Shared reference outputs ------------------------------------------------------------

struct RefModel {
  std::string ref;  // reference/<ref>/
  std::string image;
  std::map<std::string, std::string> metadata;
  int size;
  std::vector<std::string> outputs;
};

Result decode_reference(const std::string& shared, const RefModel& m,
                        ModelInfo* info_out = nullptr) {
  std::vector<Tensor> outs;
  std::vector<Dims> dims;
  for (const std::string& o : m.outputs) {
    outs.push_back(read_npy(shared + "/reference/" + m.ref + "/" + o));
    dims.push_back(outs.back().dims());
  }
  ModelInfo info = infer_model_info(m.metadata, {1, 3, m.size, m.size}, dims, {});
  cv::Mat img = read_image(shared + "/images/" + m.image);
  Tensor in(DType::kF32, {1, 3, m.size, m.size});
  LetterboxInfo lb = preprocess_into(img, info, in, 0);
  if (info_out) *info_out = info;
  return postprocess(outs, 0, info, lb, default_decode_options(info.family));
}

TEST(VisionReference, YoloxNanoBusDetections) {
  const std::string shared = shared_dir();
  if (shared.empty()) GTEST_SKIP() << "../shared not found (set SHOAL_SHARED_DIR): skipped";
  ModelInfo info;
  Result r =
      decode_reference(shared, {"yolox_nano/bus", "bus.jpg", {}, 416, {"output.npy"}}, &info);
  EXPECT_EQ(info.family, Family::kYolox);
  // reference/README.md: above 0.3, bus 0.909 [13, 231, 801, 735], person 0.855 [50, 394, 215,
  // 898], person 0.806 [219, 403, 347, 856], person 0.687 [686, 451, 810, 874].
  struct Want {
    const char* name;
    float score;
    Box box;
  };
  const Want want[] = {{"bus", 0.909f, {13, 231, 801, 735}},
                       {"person", 0.855f, {50, 394, 215, 898}},
                       {"person", 0.806f, {219, 403, 347, 856}},
                       {"person", 0.687f, {686, 451, 810, 874}}};
  std::vector<Detection> above;
  for (const Detection& d : r.detections) {
    if (d.score > 0.3f) above.push_back(d);
  }
  ASSERT_EQ(above.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(above[i].class_name, want[i].name);
    EXPECT_NEAR(above[i].score, want[i].score, 0.001);
    EXPECT_NEAR(above[i].box.x1, want[i].box.x1, 1.0);
    EXPECT_NEAR(above[i].box.y1, want[i].box.y1, 1.0);
    EXPECT_NEAR(above[i].box.x2, want[i].box.x2, 1.0);
    EXPECT_NEAR(above[i].box.y2, want[i].box.y2, 1.0);
  }
}

TEST(VisionReference, UltralyticsCountsMatchManifest) {
  const std::string shared = shared_dir();
  if (shared.empty()) GTEST_SKIP() << "../shared not found (set SHOAL_SHARED_DIR): skipped";
  // models/MANIFEST.md, after Ultralytics NMS (conf 0.25, IoU 0.7, class-aware, max_det 300) on
  // PyTorch outputs; ONNX Runtime's outputs differ by ~1e-5, so the counts must agree.
  struct Case {
    RefModel m;
    size_t count;
  };
  const std::map<std::string, std::string> det = {{"task", "detect"}};
  const Case cases[] = {
      {{"yolov8n/bus", "bus.jpg", det, 640, {"output0.npy"}}, 300},
      {{"yolov8n/zidane", "zidane.jpg", det, 640, {"output0.npy"}}, 15},
      {{"yolo11n/bus", "bus.jpg", det, 640, {"output0.npy"}}, 300},
      {{"yolov8s/bus", "bus.jpg", det, 640, {"output0.npy"}}, 300},
      {{"yolov8n-seg/bus", "bus.jpg", {{"task", "segment"}}, 640, {"output0.npy", "output1.npy"}},
       300},
      {{"yolov8n-pose/bus",
        "bus.jpg",
        {{"task", "pose"}, {"kpt_shape", "[17, 3]"}, {"names", "{0: 'person'}"}},
        640,
        {"output0.npy"}},
       49},
  };
  for (const Case& c : cases) {
    Result r = decode_reference(shared, c.m);
    EXPECT_EQ(r.detections.size(), c.count) << c.m.ref;
  }
  // yolov8n-cls: top-1 class 23 with probability 0.349 on bus.jpg.
  Result r = decode_reference(
      shared, {"yolov8n-cls/bus", "bus.jpg", {{"task", "classify"}}, 224, {"output0.npy"}});
  ASSERT_EQ(r.top5.size(), 5u);
  EXPECT_EQ(r.top5[0].class_id, 23);
  EXPECT_NEAR(r.top5[0].score, 0.349, 0.001);
}

}  // namespace
}  // namespace shoal::vision

namespace shoal::vision {
namespace {

TEST(VisionDecode, FamilyDefaultsAndOverrides) {
  DecodeOptions d = make_decode_options(Family::kYolox, DetectorOptions{});
  EXPECT_FLOAT_EQ(d.nms.iou, 0.45f);
  EXPECT_TRUE(d.nms.agnostic);
  EXPECT_TRUE(d.nms.plus_one);
  d = make_decode_options(Family::kUltralytics, DetectorOptions{});
  EXPECT_FLOAT_EQ(d.nms.iou, 0.7f);
  EXPECT_FALSE(d.nms.agnostic);
  EXPECT_EQ(d.nms.max_det, 300);
  EXPECT_EQ(d.nms.max_nms, 30000);
  DetectorOptions o;
  o.iou = 0.3f;
  o.agnostic = false;
  o.conf = 0.5f;
  d = make_decode_options(Family::kYolox, o);
  EXPECT_FLOAT_EQ(d.nms.iou, 0.3f);
  EXPECT_FALSE(d.nms.agnostic);
  EXPECT_FLOAT_EQ(d.conf, 0.5f);
  o.conf = 1.5f;
  EXPECT_THROW(make_decode_options(Family::kYolox, o), Error);
}

}  // namespace
}  // namespace shoal::vision
