// Vision pre-processing: letterbox geometry by hand (odd, tall, wide, tiny images), the fused
// HWC->CHW conversion, and the shared reference inputs (Ultralytics 640, rect 640x480, 224
// crops, YOLOX 416) reproduced from ../shared/images.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <opencv2/imgproc.hpp>

#include "core/error.h"
#include "core/npy.h"
#include "test_util.h"
#include "vision/image_io.h"
#include "vision/preprocess.h"

namespace shoal::vision {
namespace {

cv::Mat gradient(int w, int h) {
  cv::Mat m(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      m.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uint8_t>(x * 7 + y),
                                        static_cast<uint8_t>(y * 3), static_cast<uint8_t>(x ^ y));
    }
  }
  return m;
}

struct Geometry {
  int w, h;       // source
  int nw, nh;     // resized
  int left, top;  // padding
};

void expect_geometry(const Geometry& g, const LetterboxOptions& opt) {
  LetterboxInfo lb;
  cv::Mat out = letterbox(gradient(g.w, g.h), opt, &lb);
  SCOPED_TRACE(fmt::format("{}x{} -> {}x{}", g.w, g.h, opt.width, opt.height));
  EXPECT_EQ(out.cols, opt.width);
  EXPECT_EQ(out.rows, opt.height);
  EXPECT_EQ(lb.resized_width, g.nw);
  EXPECT_EQ(lb.resized_height, g.nh);
  EXPECT_EQ(lb.pad_left, g.left);
  EXPECT_EQ(lb.pad_top, g.top);
  // Padding is 114 everywhere outside the resized area.
  cv::Mat mask(out.size(), CV_8U, cv::Scalar(1));
  mask(cv::Rect(g.left, g.top, g.nw, g.nh)).setTo(0);
  for (int y = 0; y < out.rows; ++y) {
    for (int x = 0; x < out.cols; ++x) {
      if (mask.at<uint8_t>(y, x)) {
        ASSERT_EQ(out.at<cv::Vec3b>(y, x), cv::Vec3b(114, 114, 114)) << x << "," << y;
      }
    }
  }
}

TEST(VisionLetterbox, HandComputedUltralytics) {
  // r = min(640/h, 640/w); size = round(w r), round(h r); pad top = round(dh/2 - 0.1).
  const LetterboxOptions o = ultralytics_letterbox(640, 640);
  expect_geometry({810, 1080, 480, 640, 80, 0}, o);   // bus: r = 0.5926
  expect_geometry({1280, 720, 640, 360, 0, 140}, o);  // zidane: r = 0.5
  // Wide odd: 1001x333: r = 0.63936, h' = round(212.907) = 213, dh = 427 -> 213.5: top
  // round(213.4) = 213, bottom round(213.6) = 214.
  expect_geometry({1001, 333, 640, 213, 0, 213}, o);
  // Tall odd: 77x641: r = 640/641, w' = round(76.88) = 77, dw = 563 -> 281.5: left 281.
  expect_geometry({77, 641, 77, 640, 281, 0}, o);
  // Upscaling tiny images: 1x1 -> 640x640, 3x2 -> 640x427 (round(426.67)), top round(106.4).
  expect_geometry({1, 1, 640, 640, 0, 0}, o);
  expect_geometry({3, 2, 640, 427, 0, 106}, o);
  // Already the right size: no resize, no pad.
  expect_geometry({640, 640, 640, 640, 0, 0}, o);
  // Non-square target 320 wide x 256 high, 500x500 source: r = 0.512 -> 256x256, left 32.
  expect_geometry({500, 500, 256, 256, 32, 0}, ultralytics_letterbox(320, 256));
}

TEST(VisionLetterbox, HandComputedYolox) {
  // r = min(416/h, 416/w); size = int(w r), int(h r); top-left, no centring.
  const LetterboxOptions o = yolox_letterbox(416, 416);
  expect_geometry({810, 1080, 312, 416, 0, 0}, o);
  expect_geometry({1280, 720, 416, 234, 0, 0}, o);
  expect_geometry({1001, 333, 416, 138, 0, 0}, o);  // 138.38 truncated
  expect_geometry({3, 2, 416, 277, 0, 0}, o);       // 277.33 truncated
}

TEST(VisionLetterbox, MinimalPadRect) {
  LetterboxOptions o = ultralytics_letterbox(640, 640);
  o.minimal_pad = true;
  LetterboxInfo lb;
  cv::Mat out = letterbox(gradient(810, 1080), o, &lb);
  EXPECT_EQ(out.cols, 480);
  EXPECT_EQ(out.rows, 640);
  out = letterbox(gradient(1001, 333), o, &lb);  // 640x213 -> pad 11 to 224: top 5, bottom 6
  EXPECT_EQ(out.cols, 640);
  EXPECT_EQ(out.rows, 224);
  EXPECT_EQ(lb.pad_top, 5);
}

TEST(VisionLetterbox, MapsBack) {
  LetterboxInfo lb;
  letterbox(gradient(1280, 720), ultralytics_letterbox(640, 640), &lb);
  EXPECT_FLOAT_EQ(lb.to_src_x(320.f), 640.f);
  EXPECT_FLOAT_EQ(lb.to_src_y(140.f), 0.f);
  EXPECT_FLOAT_EQ(lb.to_src_y(500.f), 720.f);
}

TEST(VisionLetterbox, RejectsEmpty) {
  EXPECT_THROW(letterbox(cv::Mat(), ultralytics_letterbox(640, 640), nullptr), Error);
  EXPECT_THROW(classify_crop(cv::Mat(), 224), Error);
}

TEST(VisionPreprocess, HwcToChw) {
  cv::Mat m(2, 3, CV_8UC3);
  for (int i = 0; i < 18; ++i) m.data[i] = static_cast<uint8_t>(i * 10);
  std::vector<float> out(18);
  hwc_to_chw(m, true, true, out.data());
  // pixel (x=1, y=0) is B=30 G=40 R=50; RGB planes: R first.
  EXPECT_FLOAT_EQ(out[0 * 6 + 1], 50.f / 255.f);
  EXPECT_FLOAT_EQ(out[1 * 6 + 1], 40.f / 255.f);
  EXPECT_FLOAT_EQ(out[2 * 6 + 1], 30.f / 255.f);
  hwc_to_chw(m, false, false, out.data());
  EXPECT_FLOAT_EQ(out[0 * 6 + 4], 120.f);  // B of pixel (x=1, y=1) = byte 12
  EXPECT_FLOAT_EQ(out[2 * 6 + 4], 140.f);
}

// The fused path (straight into the tensor) gives exactly the floats of letterbox + hwc_to_chw:
// odd, tall, wide, already-fitting and tiny images, centred (Ultralytics) and top-left (YOLOX).
TEST(VisionPreprocess, LetterboxIntoMatchesLetterboxThenConvert) {
  struct Case {
    int w, h, W, H;
    bool yolox;
  };
  const Case cases[] = {{810, 1080, 640, 640, false}, {1280, 720, 640, 640, false},
                        {97, 301, 320, 256, false},   {640, 640, 640, 640, false},
                        {1, 1, 64, 64, false},        {810, 1080, 416, 416, true},
                        {333, 111, 416, 416, true}};
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << c.w << "x" << c.h << " -> " << c.W << "x" << c.H
                                      << (c.yolox ? " yolox" : " ultralytics"));
    const cv::Mat img = gradient(c.w, c.h);
    const LetterboxOptions opt =
        c.yolox ? yolox_letterbox(c.W, c.H) : ultralytics_letterbox(c.W, c.H);
    LetterboxInfo want_lb;
    const cv::Mat boxed = letterbox(img, opt, &want_lb);
    const size_t n = static_cast<size_t>(3 * c.W * c.H);
    std::vector<float> want(n), got(n, -1.f);
    hwc_to_chw(boxed, !c.yolox, !c.yolox, want.data());
    LetterboxInfo lb = letterbox_into(img, opt, !c.yolox, !c.yolox, got.data(), c.W, c.H);
    EXPECT_EQ(lb.pad_left, want_lb.pad_left);
    EXPECT_EQ(lb.pad_top, want_lb.pad_top);
    EXPECT_EQ(lb.resized_width, want_lb.resized_width);
    EXPECT_EQ(lb.resized_height, want_lb.resized_height);
    size_t diff = 0;
    for (size_t i = 0; i < n; ++i) diff += std::memcmp(&got[i], &want[i], sizeof(float)) != 0;
    EXPECT_EQ(diff, 0u);
  }
  // A destination of the wrong size is refused, not overrun.
  std::vector<float> small(3 * 32 * 32);
  EXPECT_THROW(letterbox_into(gradient(50, 40), ultralytics_letterbox(64, 64), true, true,
                              small.data(), 32, 32),
               Error);
}

TEST(VisionPreprocess, ClassifyCropGeometry) {
  cv::Mat c = classify_crop(gradient(810, 1080), 224);
  EXPECT_EQ(c.cols, 224);
  EXPECT_EQ(c.rows, 224);
  c = classify_crop(gradient(100, 50), 224);  // upscaled to 448x224, crop centred
  EXPECT_EQ(c.cols, 224);
}

// ---- Against the shared reference inputs -------------------------------------------------

struct RefCase {
  const char* image;
  const char* npy;
  PreprocessKind kind;
  int width, height;
  bool rect = false;
};

void PrintTo(const RefCase& c, std::ostream* os) { *os << c.npy; }

class ReferenceInputs : public ::testing::TestWithParam<RefCase> {};

TEST_P(ReferenceInputs, MatchesBitForBit) {
  const std::string shared = shared_dir();
  if (shared.empty()) GTEST_SKIP() << "../shared not found (set SHOAL_SHARED_DIR): skipped";
  const RefCase& c = GetParam();
  Tensor ref = read_npy(shared + "/reference/inputs/" + c.npy);
  cv::Mat img = read_image(shared + "/images/" + c.image);
  Tensor mine(DType::kF32, {1, 3, c.height, c.width});
  ModelInfo info;
  info.input_width = c.width;
  info.input_height = c.height;
  if (c.kind == PreprocessKind::kYolox) info.family = Family::kYolox;
  if (c.kind == PreprocessKind::kClassify) info.task = Task::kClassify;
  if (c.rect) {
    LetterboxOptions o = ultralytics_letterbox(640, 640);
    o.minimal_pad = true;
    cv::Mat lb = letterbox(img, o, nullptr);
    ASSERT_EQ(lb.cols, c.width);
    ASSERT_EQ(lb.rows, c.height);
    hwc_to_chw(lb, true, true, mine.data<float>());
  } else {
    preprocess_into(img, info, mine, 0);
  }
  ASSERT_EQ(ref.dims(), mine.dims());
  const float* a = mine.data<float>();
  const float* b = ref.data<float>();
  const double unit = c.kind == PreprocessKind::kYolox ? 1.0 : 1.0 / 255.0;
  int64_t off = 0;
  double worst = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - b[i]);
    worst = std::max(worst, d);
    if (d > 1e-6) ++off;
  }
  EXPECT_LE(worst, unit + 1e-6) << c.npy;
  EXPECT_LE(off, ref.numel() / 1000) << c.npy << ": " << off << " values differ";
  fmt::print("{}: max |diff| {:.3g} ({} of {} values differ)\n", c.npy, worst, off, ref.numel());
}

INSTANTIATE_TEST_SUITE_P(
    Shared, ReferenceInputs,
    ::testing::Values(
        RefCase{"bus.jpg", "bus_640.npy", PreprocessKind::kUltralytics, 640, 640},
        RefCase{"zidane.jpg", "zidane_640.npy", PreprocessKind::kUltralytics, 640, 640},
        RefCase{"bus.jpg", "bus_640x480_rect.npy", PreprocessKind::kUltralytics, 480, 640, true},
        RefCase{"bus.jpg", "bus_224.npy", PreprocessKind::kClassify, 224, 224},
        RefCase{"zidane.jpg", "zidane_224.npy", PreprocessKind::kClassify, 224, 224},
        RefCase{"bus.jpg", "bus_416_yolox.npy", PreprocessKind::kYolox, 416, 416},
        RefCase{"zidane.jpg", "zidane_416_yolox.npy", PreprocessKind::kYolox, 416, 416}),
    [](const auto& info) {
      std::string n = info.param.npy;
      return n.substr(0, n.find('.'));
    });

}  // namespace
}  // namespace shoal::vision
