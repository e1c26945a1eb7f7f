// Ultralytics oriented-box (OBB) models: a model from model_builder's build_head_onnx (the
// YOLO11-obb export layout [1, 4+nc+1, cells]) runs through the Detector, and the same raw output
// is decoded by an independent decoder written here (its own probiou from the Gaussians' 2x2
// matrices, Fast-NMS, regularisation, letterbox undo, corners); both must agree. Also: rotated NMS
// on boxes placed by hand (Fast-NMS chains, quarter-turn twins, classes), nms_rotated against a
// brute-force oracle on random boxes, the JSON fields, and which task the metadata, the shapes
// and --task give (a --task obb that cannot fit is refused with the reason).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numbers>
#include <opencv2/core.hpp>
#include <random>

#include "core/error.h"
#include "model_builder/builder.h"
#include "runtime/model_loader.h"
#include "vision/decode.h"
#include "vision/detector.h"
#include "vision/model_info.h"
#include "vision/nms.h"
#include "vision/preprocess.h"
#include "vision/result_json.h"
#include "vision/rotated_box.h"

namespace shoal::vision {
namespace {

constexpr double kPi = std::numbers::pi;

// ---- The independent decoder ----------------------------------------------------------------

struct RefObb {
  int cls = 0;
  float score = 0;
  double cx = 0, cy = 0, w = 0, h = 0, angle = 0;
  bool swapped = false;  // regularisation swapped w and h
};

// The covariance of a uniform distribution over the rectangle: R diag(w^2, h^2) R^T / 12.
cv::Matx22d ref_covariance(const RefObb& r) {
  const cv::Matx22d rot(std::cos(r.angle), -std::sin(r.angle), std::sin(r.angle),
                        std::cos(r.angle));
  const cv::Matx22d d(r.w * r.w / 12, 0, 0, r.h * r.h / 12);
  return rot * d * rot.t();
}

// Ultralytics' probiou: the Bhattacharyya distance of the two Gaussians, 1/8 d' S^-1 d +
// 1/2 ln(det S / sqrt(det S1 det S2)) with S the mean covariance, clamped to [1e-7, 100], then
// 1 - sqrt(1 - exp(-B) + 1e-7).
double ref_probiou(const RefObb& a, const RefObb& b) {
  const cv::Matx22d s1 = ref_covariance(a), s2 = ref_covariance(b);
  const cv::Matx22d s = (s1 + s2) * 0.5;
  const cv::Vec2d d(a.cx - b.cx, a.cy - b.cy);
  const double maha = d.dot(s.inv() * d);
  const double bd = std::clamp(
      maha / 8 +
          0.5 * std::log(cv::determinant(s) / std::sqrt(cv::determinant(s1) * cv::determinant(s2))),
      1e-7, 100.0);
  return 1 - std::sqrt(1 - std::exp(-bd) + 1e-7);
}

// Fast-NMS: best first (ties: lower row first); a box goes when any box ranked above it (kept or
// not) of its class (any class when agnostic) has probiou >= iou with it; at most max_det.
std::vector<RefObb> ref_fast_nms(std::vector<RefObb> c, float iou, bool agnostic, int max_det) {
  std::stable_sort(c.begin(), c.end(),
                   [](const RefObb& a, const RefObb& b) { return a.score > b.score; });
  std::vector<RefObb> kept;
  for (size_t i = 0; i < c.size() && static_cast<int>(kept.size()) < max_det; ++i) {
    bool suppressed = false;
    for (size_t j = 0; j < i && !suppressed; ++j) {
      suppressed = (agnostic || c[j].cls == c[i].cls) && ref_probiou(c[j], c[i]) >= iou;
    }
    if (!suppressed) kept.push_back(c[i]);
  }
  return kept;
}

// Longer side first, the angle modulo pi in [0, pi).
RefObb ref_regularize(RefObb r) {
  if (!(r.w > r.h)) {
    std::swap(r.w, r.h);
    r.angle += kPi / 2;
    r.swapped = true;
  }
  r.angle -= kPi * std::floor(r.angle / kPi);
  return r;
}

struct RefOptions {
  float conf = 0.25f, iou = 0.7f;
  bool agnostic = false;
  int max_det = 300;
  std::vector<int> classes;
};

// [1, 4+nc+1, A]: per anchor the best class (first on ties) > conf and among `classes`, then
// Fast-NMS, regularisation and the letterbox undone (centre and sides; the angle unchanged).
std::vector<RefObb> ref_obb(const Tensor& t, const RefOptions& o, const LetterboxInfo& lb,
                            size_t* candidates) {
  const int64_t C = t.dims()[1], A = t.dims()[2];
  const int nc = static_cast<int>(C - 5);
  const float* p = t.data<float>();
  std::vector<RefObb> c;
  for (int64_t a = 0; a < A; ++a) {
    RefObb r;
    r.score = -1;
    for (int k = 0; k < nc; ++k) {
      if (p[(4 + k) * A + a] > r.score) {
        r.score = p[(4 + k) * A + a];
        r.cls = k;
      }
    }
    if (!(r.score > o.conf)) continue;
    if (!o.classes.empty() &&
        std::find(o.classes.begin(), o.classes.end(), r.cls) == o.classes.end()) {
      continue;
    }
    r.cx = p[a];
    r.cy = p[A + a];
    r.w = p[2 * A + a];
    r.h = p[3 * A + a];
    r.angle = p[(4 + nc) * A + a];
    c.push_back(r);
  }
  *candidates = c.size();
  std::vector<RefObb> kept = ref_fast_nms(c, o.iou, o.agnostic, o.max_det);
  for (RefObb& r : kept) {
    r = ref_regularize(r);
    r.cx = (r.cx - lb.pad_left) / lb.scale;
    r.cy = (r.cy - lb.pad_top) / lb.scale;
    r.w /= lb.scale;
    r.h /= lb.scale;
  }
  return kept;
}

// Corners c +- (w/2) e_w +- (h/2) e_h, with e_w = (cos a, sin a) and e_h = (-sin a, cos a).
std::vector<cv::Point2d> ref_corners(const RefObb& r) {
  const cv::Point2d ew(std::cos(r.angle), std::sin(r.angle)),
      eh(-std::sin(r.angle), std::cos(r.angle));
  const cv::Point2d c(r.cx, r.cy);
  return {c + ew * (r.w / 2) + eh * (r.h / 2), c + ew * (r.w / 2) - eh * (r.h / 2),
          c - ew * (r.w / 2) - eh * (r.h / 2), c - ew * (r.w / 2) + eh * (r.h / 2)};
}

void expect_same(const std::vector<Detection>& got, const std::vector<RefObb>& want,
                 const ModelInfo& info, const LetterboxInfo& lb, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    const std::string at = what + " #" + std::to_string(i);
    const Detection& g = got[i];
    const RefObb& w = want[i];
    EXPECT_EQ(g.class_id, w.cls) << at;
    EXPECT_EQ(g.class_name, info.names[static_cast<size_t>(w.cls)]) << at;
    EXPECT_NEAR(g.score, w.score, 1e-6) << at;
    ASSERT_TRUE(g.rbox.has_value()) << at;
    EXPECT_NEAR(g.rbox->cx, w.cx, 1e-3) << at;
    EXPECT_NEAR(g.rbox->cy, w.cy, 1e-3) << at;
    EXPECT_NEAR(g.rbox->w, w.w, 1e-3) << at;
    EXPECT_NEAR(g.rbox->h, w.h, 1e-3) << at;
    EXPECT_NEAR(g.rbox->angle, w.angle, 1e-5) << at;
    // The axis-aligned box is the rotated box's bounds, clipped to the image.
    double x1 = 1e9, y1 = 1e9, x2 = -1e9, y2 = -1e9;
    for (const cv::Point2d& p : ref_corners(w)) {
      x1 = std::min(x1, p.x);
      y1 = std::min(y1, p.y);
      x2 = std::max(x2, p.x);
      y2 = std::max(y2, p.y);
    }
    EXPECT_NEAR(g.box.x1, std::clamp(x1, 0.0, static_cast<double>(lb.src_width)), 2e-3) << at;
    EXPECT_NEAR(g.box.y1, std::clamp(y1, 0.0, static_cast<double>(lb.src_height)), 2e-3) << at;
    EXPECT_NEAR(g.box.x2, std::clamp(x2, 0.0, static_cast<double>(lb.src_width)), 2e-3) << at;
    EXPECT_NEAR(g.box.y2, std::clamp(y2, 0.0, static_cast<double>(lb.src_height)), 2e-3) << at;
  }
}

// ---- Running the OBB model --------------------------------------------------------------------

std::string write_obb(const std::string& name, bool metadata, int imgsz = 128) {
  HeadModelOptions ho;
  ho.kind = HeadKind::kObb;
  ho.seed = 17;
  ho.num_classes = 15;
  ho.imgsz = imgsz;
  ho.metadata = metadata;
  const std::string path = testing::TempDir() + "/vision_obb_" + name + ".onnx";
  save_bytes(path, build_head_onnx(ho));
  return path;
}

// A 200x120 photo: letterboxed into 128x128 with scale 0.64 and rows of padding above.
cv::Mat photo() {
  cv::Mat img(120, 200, CV_8UC3);
  cv::RNG rng(5);
  rng.fill(img, cv::RNG::UNIFORM, 0, 256);
  return img;
}

struct ObbRun {
  ModelInfo info;
  Result result;
  Tensor raw;  // the model's output on the same pre-processed input
  LetterboxInfo lb;
};

ObbRun run_obb(const std::string& path, const DetectorOptions& opt) {
  ObbRun r;
  Detector det = Detector::open(path, opt);
  r.info = det.info();
  r.result = det.detect(photo());
  std::shared_ptr<LoadedModel> m = LoadedModel::load(ModelSource::file(path), LoadOptions{});
  Tensor in(DType::kF32, {1, 3, r.info.input_height, r.info.input_width});
  r.lb = preprocess_into(photo(), r.info, in, 0);
  r.raw = m->run(*m->default_plan(), {in}).at(0);
  return r;
}

TEST(VisionObb, MatchesIndependentDecode) {
  const std::string path = write_obb("meta", true);
  struct Case {
    RefOptions o;
    const char* what;
  };
  std::vector<Case> cases = {{{}, "defaults"},
                             {{0.5f, 0.7f, false, 300, {}}, "conf 0.5"},
                             {{0.25f, 0.3f, false, 300, {}}, "iou 0.3"},
                             {{0.25f, 0.7f, true, 300, {}}, "agnostic"},
                             {{0.25f, 0.7f, false, 5, {}}, "max_det 5"},
                             {{0.25f, 0.7f, false, 300, {0, 3, 9}}, "classes 0 3 9"}};
  size_t default_count = 0, swapped = 0;
  for (const Case& c : cases) {
    DetectorOptions opt;
    opt.conf = c.o.conf;
    opt.iou = c.o.iou;
    opt.agnostic = c.o.agnostic;
    opt.max_det = c.o.max_det;
    opt.classes = c.o.classes;
    ObbRun r = run_obb(path, opt);
    EXPECT_EQ(r.info.task, Task::kObb) << c.what;
    EXPECT_EQ(r.info.family, Family::kUltralytics) << c.what;
    EXPECT_EQ(r.info.num_classes, 15) << c.what;
    EXPECT_EQ(r.info.names[0], "plane");
    EXPECT_EQ(r.info.names[14], "swimming pool");
    EXPECT_EQ(r.info.input_width, 128);
    ASSERT_EQ(r.raw.dims(), (Dims{1, 20, 336})) << c.what;  // 16^2 + 8^2 + 4^2 cells at 128
    EXPECT_DOUBLE_EQ(r.lb.scale, 0.64);
    EXPECT_GT(r.lb.pad_top, 20);
    size_t candidates = 0;
    const std::vector<RefObb> want = ref_obb(r.raw, c.o, r.lb, &candidates);
    EXPECT_GT(want.size(), 2u) << c.what;
    EXPECT_LT(want.size(), candidates) << c.what << ": NMS or max_det must have removed some";
    expect_same(r.result.detections, want, r.info, r.lb, c.what);
    for (const RefObb& w : want) swapped += w.swapped ? 1 : 0;
    if (c.o.max_det == 5) {
      EXPECT_EQ(want.size(), 5u);
    }
    if (c.o.conf == 0.25f && c.o.iou == 0.7f && !c.o.agnostic && c.o.max_det == 300 &&
        c.o.classes.empty()) {
      default_count = want.size();
    }
    if (c.o.agnostic) {
      EXPECT_LT(want.size(), default_count) << "agnostic NMS suppresses across classes";
    }
    if (c.o.iou == 0.3f) {
      EXPECT_LT(want.size(), default_count) << "a lower IoU suppresses more";
    }
    for (const Detection& d : r.result.detections) {
      if (!c.o.classes.empty()) {
        EXPECT_NE(std::find(c.o.classes.begin(), c.o.classes.end(), d.class_id), c.o.classes.end());
      }
      EXPECT_GE(d.rbox->w, d.rbox->h) << c.what;
      EXPECT_GE(d.rbox->angle, 0.f) << c.what;
      EXPECT_LT(d.rbox->angle, static_cast<float>(kPi)) << c.what;
    }
  }
  EXPECT_GT(swapped, 0u) << "no kept box had w < h: regularisation untested";
}

// The JSON of an OBB detection: the rotated box and its corners, rounded as other numbers.
TEST(VisionObb, JsonHasRotatedBoxAndPolygon) {
  ObbRun r = run_obb(write_obb("json", true), {});
  ASSERT_GT(r.result.detections.size(), 2u);
  const nlohmann::json j = result_to_json(r.result);
  const nlohmann::json& dets = j.at("detections");
  ASSERT_EQ(dets.size(), r.result.detections.size());
  for (size_t i = 0; i < dets.size(); ++i) {
    const Detection& d = r.result.detections[i];
    const nlohmann::json& rb = dets[i].at("rbox");
    ASSERT_EQ(rb.size(), 5u);
    EXPECT_NEAR(rb[0].get<double>(), d.rbox->cx, 0.005 + 1e-4);
    EXPECT_NEAR(rb[1].get<double>(), d.rbox->cy, 0.005 + 1e-4);
    EXPECT_NEAR(rb[2].get<double>(), d.rbox->w, 0.005 + 1e-4);
    EXPECT_NEAR(rb[3].get<double>(), d.rbox->h, 0.005 + 1e-4);
    EXPECT_NEAR(rb[4].get<double>(), d.rbox->angle, 5e-5 + 1e-7);
    EXPECT_LE(rb[4].dump().size(), 6u) << "angle to 1e-4: " << rb[4].dump();
    const nlohmann::json& poly = dets[i].at("polygon");
    ASSERT_EQ(poly.size(), 4u);
    RefObb ref{d.class_id, d.score, d.rbox->cx, d.rbox->cy, d.rbox->w, d.rbox->h, d.rbox->angle};
    const std::vector<cv::Point2d> corners = ref_corners(ref);
    for (size_t k = 0; k < 4; ++k) {
      EXPECT_NEAR(poly[k][0].get<double>(), corners[k].x, 0.006);
      EXPECT_NEAR(poly[k][1].get<double>(), corners[k].y, 0.006);
    }
    EXPECT_EQ(dets[i].at("box").size(), 4u);
  }
  // Other models' detections have neither field.
  Result plain;
  Detection d;
  d.box = {1, 2, 3, 4};
  plain.detections.push_back(d);
  const nlohmann::json p = result_to_json(plain).at("detections").at(0);
  EXPECT_FALSE(p.contains("rbox"));
  EXPECT_FALSE(p.contains("polygon"));
}

// ---- Rotated NMS and probiou -----------------------------------------------------------------

Candidate cand(float score, int cls, RotatedBox r, int anchor = 0) {
  Candidate c;
  c.score = score;
  c.class_id = cls;
  c.rbox = r;
  c.box = rbox_bounds(r);
  c.anchor = anchor;
  return c;
}

RefObb ref_of(const RotatedBox& r) { return {0, 0, r.cx, r.cy, r.w, r.h, r.angle}; }

TEST(VisionObb, ProbiouMatchesTheGaussianForm) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> pos(0, 100), side(1, 60), ang(-1, 4);
  for (int i = 0; i < 2000; ++i) {
    const RotatedBox a{pos(rng), pos(rng), side(rng), side(rng), ang(rng)};
    const RotatedBox b{pos(rng), pos(rng), side(rng), side(rng), ang(rng)};
    EXPECT_NEAR(probiou(a, b), ref_probiou(ref_of(a), ref_of(b)), 1e-6);
    EXPECT_NEAR(probiou(a, b), probiou(b, a), 1e-12);
  }
  const RotatedBox a{50, 50, 40, 10, 0.3f};
  EXPECT_GT(probiou(a, a), 0.999);
  // The same rectangle with sides swapped and a quarter turn on, and its regularised form.
  const RotatedBox turned{50, 50, 10, 40, 0.3f + static_cast<float>(kPi / 2)};
  EXPECT_GT(probiou(a, turned), 0.999);
  EXPECT_GT(probiou(a, regularize_rbox(turned)), 0.999);
  EXPECT_LT(probiou(a, RotatedBox{500, 50, 40, 10, 0.3f}), 1e-6);
  // Crossed (a plus sign) overlaps less than parallel at the same centre.
  EXPECT_LT(probiou(a, RotatedBox{50, 50, 40, 10, 0.3f + static_cast<float>(kPi / 2)}),
            probiou(a, RotatedBox{50, 50, 40, 10, 0.35f}));
}

TEST(VisionObb, RegularizeKeepsTheRectangle) {
  for (const RotatedBox r : {RotatedBox{10, 20, 30, 5, -0.7f}, RotatedBox{10, 20, 5, 30, 2.3f},
                             RotatedBox{10, 20, 8, 8, 0.1f}, RotatedBox{0, 0, 9, 2, 7.0f}}) {
    const RotatedBox g = regularize_rbox(r);
    EXPECT_GE(g.w, g.h);
    EXPECT_GE(g.angle, 0.f);
    EXPECT_LT(g.angle, static_cast<float>(kPi));
    // The same four corners, in some order.
    const auto a = rbox_corners(r), b = rbox_corners(g);
    for (const cv::Point2f& p : a) {
      double nearest = 1e9;
      for (const cv::Point2f& q : b) nearest = std::min(nearest, cv::norm(p - q));
      EXPECT_LT(nearest, 1e-4) << p;
    }
  }
}

// Fast-NMS, as Ultralytics: a suppressed box still suppresses the boxes below it (unlike the
// greedy NMS of the other heads), at IoU >= the threshold.
TEST(VisionObb, NmsRotatedIsFastNms) {
  const RotatedBox a{50, 50, 40, 10, 0.2f}, b{56, 50, 40, 10, 0.2f}, c{62, 50, 40, 10, 0.2f};
  ASSERT_GE(probiou(a, b), 0.7);
  ASSERT_GE(probiou(b, c), 0.7);
  ASSERT_LT(probiou(a, c), 0.7);
  NmsOptions o;
  EXPECT_EQ(nms_rotated({cand(0.9f, 0, a), cand(0.8f, 0, b), cand(0.7f, 0, c)}, o),
            (std::vector<int>{0}));
  // Other classes do not suppress, unless agnostic.
  const std::vector<Candidate> mixed = {cand(0.9f, 0, a), cand(0.8f, 1, b), cand(0.7f, 0, c)};
  EXPECT_EQ(nms_rotated(mixed, o), (std::vector<int>{0, 1, 2}));
  o.agnostic = true;
  EXPECT_EQ(nms_rotated(mixed, o), (std::vector<int>{0}));
  // The threshold: a pair just above it suppresses (the higher-scoring box stays), just below
  // it does not.
  o.agnostic = false;
  const double ac = probiou(a, c);
  float below = static_cast<float>(ac);
  if (below > ac) below = std::nextafter(below, 0.f);
  o.iou = below;
  EXPECT_EQ(nms_rotated({cand(0.7f, 0, c), cand(0.9f, 0, a)}, o), (std::vector<int>{1}));
  o.iou = std::nextafter(static_cast<float>(ac), 1.f);
  EXPECT_EQ(nms_rotated({cand(0.7f, 0, c), cand(0.9f, 0, a)}, o), (std::vector<int>{1, 0}));
  // The same rectangle written the other way round is a duplicate.
  o.iou = 0.7f;
  const RotatedBox twin{50, 50, 10, 40, 0.2f + static_cast<float>(kPi / 2)};
  EXPECT_EQ(nms_rotated({cand(0.6f, 0, a), cand(0.9f, 0, twin)}, o), (std::vector<int>{1}));
  // Ties keep the lower index first; max_det stops it.
  const RotatedBox far{300, 300, 20, 10, 0};
  o.max_det = 1;
  EXPECT_EQ(nms_rotated({cand(0.5f, 0, far), cand(0.5f, 0, a)}, o), (std::vector<int>{0}));
  EXPECT_TRUE(nms_rotated({}, o).empty());
}

// Random boxes of all sizes (tiny ones too, where the distance bound is not used) at thresholds
// from 0 to 1: nms_rotated keeps what the brute-force Fast-NMS keeps.
TEST(VisionObb, NmsRotatedMatchesBruteForce) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(0, 1);
  for (int trial = 0; trial < 60; ++trial) {
    std::vector<Candidate> cands;
    std::vector<RefObb> refs;
    const int n = 20 + trial * 5;
    const float spread = trial % 3 == 0 ? 30.f : 300.f;
    for (int i = 0; i < n; ++i) {
      const float scale = u(rng) < 0.1f ? 0.05f : 40.f;
      const RotatedBox r{u(rng) * spread, u(rng) * spread, 0.01f + u(rng) * scale,
                         0.01f + u(rng) * scale, u(rng) * 4 - 1};
      const float score = std::round(u(rng) * 20) / 20;  // ties
      const int cls = static_cast<int>(u(rng) * 3);
      cands.push_back(cand(score, cls, r, i));
      refs.push_back({cls, score, r.cx, r.cy, r.w, r.h, r.angle});
    }
    for (float iou : {0.f, 0.05f, 0.3f, 0.7f, 0.95f, 1.f}) {
      for (bool agnostic : {false, true}) {
        NmsOptions o;
        o.iou = iou;
        o.agnostic = agnostic;
        // The oracle returns copies: the kept boxes are compared by their centres.
        const std::vector<RefObb> want = ref_fast_nms(refs, iou, agnostic, 300);
        const std::vector<int> got = nms_rotated(cands, o);
        ASSERT_EQ(got.size(), want.size()) << "trial " << trial << " iou " << iou;
        for (size_t k = 0; k < got.size(); ++k) {
          const Candidate& g = cands[static_cast<size_t>(got[k])];
          EXPECT_EQ(g.rbox.cx, want[k].cx) << "trial " << trial << " iou " << iou << " #" << k;
          EXPECT_EQ(g.rbox.cy, want[k].cy) << "trial " << trial << " iou " << iou << " #" << k;
        }
      }
    }
  }
}

// ---- Choosing the task ------------------------------------------------------------------------

ModelInfo info_for(const Dims& out, const std::string& task,
                   const std::map<std::string, std::string>& md = {},
                   const std::string& names_file = "") {
  ModelHints h;
  h.task = task;
  h.names_file = names_file;
  return infer_model_info(md, {1, 3, 1024, 1024}, {out}, h);
}

TEST(VisionObb, TaskFromMetadataOrFlag) {
  // YOLO11n-obb at 1024: 21504 cells, 15 DOTA classes.
  const Dims obb{1, 20, 21504};
  const std::map<std::string, std::string> md = {{"author", "Ultralytics"},
                                                 {"task", "obb"},
                                                 {"names", dota_names_metadata(15)},
                                                 {"imgsz", "[1024, 1024]"}};
  ModelInfo i = info_for(obb, "", md);
  EXPECT_EQ(i.task, Task::kObb);
  EXPECT_EQ(i.family, Family::kUltralytics);
  EXPECT_EQ(i.num_classes, 15);
  EXPECT_EQ(i.names[7], "harbor");
  // Shapes alone cannot tell it from a 16-class detect model: without metadata it needs --task.
  i = info_for(obb, "");
  EXPECT_EQ(i.task, Task::kDetect);
  EXPECT_EQ(i.num_classes, 16);
  i = info_for(obb, "obb");
  EXPECT_EQ(i.task, Task::kObb);
  EXPECT_EQ(i.num_classes, 15);
  EXPECT_EQ(i.names[14], "14");
  EXPECT_EQ(parse_task("OBB"), Task::kObb);
  EXPECT_EQ(parse_task(task_name(Task::kObb)), Task::kObb);
  try {
    parse_task("rotated-boxes");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("obb"), std::string::npos) << e.what();
  }
  // A names file gives the class count.
  const std::string names = testing::TempDir() + "/vision_obb_names.txt";
  std::ofstream(names) << "car\ntruck\n";
  i = info_for({1, 7, 21504}, "obb", {}, names);
  EXPECT_EQ(i.num_classes, 2);
  EXPECT_EQ(i.names[1], "truck");
}

// A --task obb (or obb metadata) whose output cannot be 4 + classes + 1 rows with the names given
// is refused, naming the shape, what obb expects and what the shape looks like.
TEST(VisionObb, TaskObbThatDoesNotFitIsRefused) {
  const std::map<std::string, std::string> coco = {
      {"author", "Ultralytics"}, {"task", "detect"}, {"names", class_names_metadata(80)}};
  const std::string names3 = testing::TempDir() + "/vision_obb_names3.txt";
  std::ofstream(names3) << "a\nb\nc\n";
  struct Case {
    Dims out;
    std::map<std::string, std::string> md;
    std::string names_file;
    std::vector<std::string> says;
  };
  const Case cases[] = {
      // A COCO detect model: 84 rows are 4 + 80 classes, no angle.
      {{1, 84, 21504},
       coco,
       "",
       {"[1,84,21504]", "[B, 85, anchors]", "metadata's 80 names",
        "a detect model's layout (--task detect)"}},
      // 3 names but 20 rows.
      {{1, 20, 21504},
       {},
       names3,
       {"[1,20,21504]", "vision_obb_names3.txt", "not 4 + 3 + 1",
        "they fit 15 classes (check --names)"}},
      // No names and nothing left for classes.
      {{1, 5, 21504}, {}, "", {"[1,5,21504]", "leaves no classes"}},
  };
  for (const Case& c : cases) {
    const std::string what = dims_str(c.out);
    try {
      info_for(c.out, "obb", c.md, c.names_file);
      ADD_FAILURE() << what << " accepted as obb";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << what;
      for (const std::string& s : c.says) {
        EXPECT_NE(std::string(e.what()).find(s), std::string::npos) << what << ": " << e.what();
      }
    }
  }
  // Metadata that says obb over an output that is not: the model is wrong, not the flags.
  auto lying = coco;
  lying["task"] = "obb";
  try {
    info_for({1, 84, 21504}, "", lying);
    FAIL() << "obb metadata on a detect output accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidModel);
    EXPECT_NE(std::string(e.what()).find("(from metadata)"), std::string::npos) << e.what();
  }
  // Heads other than Ultralytics' are detect-only.
  for (const Dims& other : {Dims{1, 300, 6}, Dims{1, 21504, 85}}) {
    try {
      info_for(other, "obb");
      ADD_FAILURE() << dims_str(other) << " accepted as obb";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("detect-only"), std::string::npos) << e.what();
    }
  }
  // Through the Detector: the built OBB model without metadata reads as detect, and --task obb
  // decodes it with 15 classes.
  const std::string bare = write_obb("bare", false, 64);
  DetectorOptions opt;
  EXPECT_EQ(Detector::open(bare, opt).info().task, Task::kDetect);
  opt.hints.task = "obb";
  const Detector det = Detector::open(bare, opt);
  EXPECT_EQ(det.info().task, Task::kObb);
  EXPECT_EQ(det.info().num_classes, 15);
  // And a detect model forced to obb is refused.
  BuilderOptions bo;
  bo.imgsz = 64;
  bo.num_classes = 3;
  const std::string detect = testing::TempDir() + "/vision_obb_detect.onnx";
  save_bytes(detect, build_yolo_detector_onnx(bo));
  try {
    Detector::open(detect, opt);
    FAIL() << "a detect model decoded as obb";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[1,7,84]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--task detect"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace shoal::vision
