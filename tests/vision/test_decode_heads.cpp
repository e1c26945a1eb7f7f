// The heads beyond the anchor-free Ultralytics and YOLOX ones: classic anchor-based YOLOv5/v7
// (grid decoded in the graph, objectness, NMS), end-to-end YOLOv10/YOLO26 (no NMS) and RT-DETR
// (normalised boxes, no NMS). Models from model_builder's build_head_onnx run through the
// Detector; the same raw output is decoded by an independent decoder written here (threshold,
// NMS, max_det, letterbox undo) and both must agree. Also: which family the metadata, the shapes
// and the flags give, and that a wrong forced family is refused with a reason.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <opencv2/core.hpp>

#include "core/error.h"
#include "model_builder/builder.h"
#include "runtime/model_loader.h"
#include "vision/decode.h"
#include "vision/detector.h"
#include "vision/model_info.h"
#include "vision/preprocess.h"

namespace shoal::vision {
namespace {

// ---- The independent decoder ----------------------------------------------------------------

struct RefDet {
  int cls = 0;
  float score = 0;
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;  // network-input pixels, then source pixels
};

float ref_iou(const RefDet& a, const RefDet& b) {
  const float iw = std::max(0.f, std::min(a.x2, b.x2) - std::max(a.x1, b.x1));
  const float ih = std::max(0.f, std::min(a.y2, b.y2) - std::max(a.y1, b.y1));
  const float inter = iw * ih;
  const float uni = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return uni > 0 ? inter / uni : 0.f;
}

// Best first (ties: lower row first), greedy, boxes suppress boxes of their own class only.
std::vector<RefDet> ref_nms(std::vector<RefDet> c, float iou, int max_det) {
  std::stable_sort(c.begin(), c.end(),
                   [](const RefDet& a, const RefDet& b) { return a.score > b.score; });
  std::vector<RefDet> kept;
  for (const RefDet& d : c) {
    if (static_cast<int>(kept.size()) == max_det) break;
    bool suppressed = false;
    for (const RefDet& k : kept) suppressed = suppressed || (k.cls == d.cls && ref_iou(k, d) > iou);
    if (!suppressed) kept.push_back(d);
  }
  return kept;
}

// Network-input pixels -> source pixels: undo the padding and the scale, clip to the image.
std::vector<RefDet> ref_unletterbox(std::vector<RefDet> v, const LetterboxInfo& lb) {
  auto back = [](float x, int pad, double scale, int size) {
    return std::clamp(static_cast<float>((x - pad) / scale), 0.f, static_cast<float>(size));
  };
  for (RefDet& d : v) {
    d.x1 = back(d.x1, lb.pad_left, lb.scale, lb.src_width);
    d.x2 = back(d.x2, lb.pad_left, lb.scale, lb.src_width);
    d.y1 = back(d.y1, lb.pad_top, lb.scale, lb.src_height);
    d.y2 = back(d.y2, lb.pad_top, lb.scale, lb.src_height);
  }
  return v;
}

// [1, N, 5+nc]: confidence = objectness x class probability (the best product), kept when the
// objectness and the confidence are both > conf; class-aware NMS.
std::vector<RefDet> ref_yolov5(const Tensor& t, float conf, float iou, int max_det,
                               const LetterboxInfo& lb, size_t* candidates) {
  const int64_t N = t.dims()[1], C = t.dims()[2];
  const float* p = t.data<float>();
  std::vector<RefDet> c;
  for (int64_t i = 0; i < N; ++i) {
    const float* r = p + i * C;
    if (!(r[4] > conf)) continue;
    RefDet d;
    d.score = -1;
    for (int k = 0; k + 5 < C; ++k) {
      if (r[4] * r[5 + k] > d.score) {
        d.score = r[4] * r[5 + k];
        d.cls = k;
      }
    }
    if (!(d.score > conf)) continue;
    d.x1 = r[0] - r[2] / 2;
    d.x2 = r[0] + r[2] / 2;
    d.y1 = r[1] - r[3] / 2;
    d.y2 = r[1] + r[3] / 2;
    c.push_back(d);
  }
  *candidates = c.size();
  return ref_unletterbox(ref_nms(c, iou, max_det), lb);
}

// [1, max_det, 6]: the rows in order whose score is > conf, at most max_det; no NMS.
std::vector<RefDet> ref_end2end(const Tensor& t, float conf, int max_det, const LetterboxInfo& lb,
                                size_t* above) {
  const int64_t N = t.dims()[1];
  const float* p = t.data<float>();
  std::vector<RefDet> out;
  *above = 0;
  for (int64_t i = 0; i < N; ++i) {
    const float* r = p + i * 6;
    if (!(r[4] > conf)) continue;
    ++*above;
    if (static_cast<int>(out.size()) < max_det) {
      out.push_back({static_cast<int>(std::lround(r[5])), r[4], r[0], r[1], r[2], r[3]});
    }
  }
  return ref_unletterbox(out, lb);
}

// [1, Q, 4+nc]: per query the best class, > conf, best first, at most max_det; boxes are
// normalised cx, cy, w, h of the network input.
std::vector<RefDet> ref_rtdetr(const Tensor& t, float conf, int max_det, int in_w, int in_h,
                               const LetterboxInfo& lb, size_t* above) {
  const int64_t Q = t.dims()[1], C = t.dims()[2];
  const float* p = t.data<float>();
  std::vector<RefDet> c;
  for (int64_t q = 0; q < Q; ++q) {
    const float* r = p + q * C;
    const float* best = std::max_element(r + 4, r + C);
    if (!(*best > conf)) continue;
    const float cx = r[0] * static_cast<float>(in_w), cy = r[1] * static_cast<float>(in_h);
    const float w = r[2] * static_cast<float>(in_w), h = r[3] * static_cast<float>(in_h);
    c.push_back(
        {static_cast<int>(best - (r + 4)), *best, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2});
  }
  *above = c.size();
  std::stable_sort(c.begin(), c.end(),
                   [](const RefDet& a, const RefDet& b) { return a.score > b.score; });
  if (static_cast<int>(c.size()) > max_det) c.resize(static_cast<size_t>(max_det));
  return ref_unletterbox(c, lb);
}

void expect_same(const std::vector<Detection>& got, const std::vector<RefDet>& want,
                 const ModelInfo& info, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].class_id, want[i].cls) << what << " #" << i;
    if (!info.names.empty()) {
      EXPECT_EQ(got[i].class_name, info.names[static_cast<size_t>(want[i].cls)]) << what;
    } else {
      EXPECT_EQ(got[i].class_name, std::to_string(want[i].cls)) << what;
    }
    EXPECT_NEAR(got[i].score, want[i].score, 1e-6) << what << " #" << i;
    EXPECT_NEAR(got[i].box.x1, want[i].x1, 1e-3) << what << " #" << i;
    EXPECT_NEAR(got[i].box.y1, want[i].y1, 1e-3) << what << " #" << i;
    EXPECT_NEAR(got[i].box.x2, want[i].x2, 1e-3) << what << " #" << i;
    EXPECT_NEAR(got[i].box.y2, want[i].y2, 1e-3) << what << " #" << i;
  }
}

// ---- Running a head model ---------------------------------------------------------------------

std::string write_head(const std::string& name, HeadModelOptions o) {
  const std::string path = testing::TempDir() + "/vision_head_" + name + ".onnx";
  save_bytes(path, build_head_onnx(o));
  return path;
}

// An 80x48 photo: letterboxed into 64x64 with scale 0.8 and 13 rows of padding above.
cv::Mat photo() {
  cv::Mat img(48, 80, CV_8UC3);
  cv::RNG rng(11);
  rng.fill(img, cv::RNG::UNIFORM, 0, 256);
  return img;
}

struct HeadRun {
  ModelInfo info;
  std::vector<Detection> got;
  Tensor raw;  // the model's output on the same pre-processed input
  LetterboxInfo lb;
};

HeadRun run_head(const std::string& path, const DetectorOptions& opt) {
  HeadRun r;
  Detector det = Detector::open(path, opt);
  r.info = det.info();
  r.got = det.detect(photo()).detections;
  std::shared_ptr<LoadedModel> m = LoadedModel::load(ModelSource::file(path), LoadOptions{});
  Tensor in(DType::kF32, {1, 3, r.info.input_height, r.info.input_width});
  r.lb = preprocess_into(photo(), r.info, in, 0);
  r.raw = m->run(*m->default_plan(), {in}).at(0);
  return r;
}

DetectorOptions with(float conf, int max_det, const std::string& family = "") {
  DetectorOptions o;
  o.conf = conf;
  o.max_det = max_det;
  o.hints.family = family;
  return o;
}

TEST(VisionHeads, Yolov5ClassicMatchesIndependentDecode) {
  HeadModelOptions ho;
  ho.kind = HeadKind::kYolov5;
  ho.seed = 3;
  ho.num_classes = 4;
  const std::string path = write_head("yolov5", ho);
  struct Case {
    float conf;
    int max_det;
  };
  for (const Case& c : {Case{0.25f, 300}, Case{0.5f, 300}, Case{0.25f, 4}}) {
    HeadRun r = run_head(path, with(c.conf, c.max_det));
    const std::string what = fmt::format("conf {} max_det {}", c.conf, c.max_det);
    EXPECT_EQ(r.info.family, Family::kYolov5);
    EXPECT_EQ(r.info.source, "output shapes");  // yolov5's metadata (stride, names) does not tell
    EXPECT_EQ(r.info.num_classes, 4);
    EXPECT_EQ(r.info.names[3], "motorcycle");            // from the metadata's names
    ASSERT_EQ(r.raw.dims(), (Dims{1, 252, 9})) << what;  // 3 x (64 + 16 + 4) cells at 64
    size_t candidates = 0;
    std::vector<RefDet> want = ref_yolov5(r.raw, c.conf, 0.45f, c.max_det, r.lb, &candidates);
    EXPECT_GT(want.size(), 1u) << what;
    EXPECT_LT(want.size(), candidates) << what << ": NMS or max_det must have removed some";
    if (c.max_det == 4) {
      EXPECT_EQ(want.size(), 4u);
    }
    expect_same(r.got, want, r.info, what);
  }
}

TEST(VisionHeads, End2EndMatchesIndependentDecodeWithoutNms) {
  HeadModelOptions ho;
  ho.kind = HeadKind::kEnd2End;
  ho.seed = 5;
  ho.num_classes = 6;
  ho.rows = 40;
  for (bool metadata : {true, false}) {
    ho.metadata = metadata;
    const std::string path = write_head(metadata ? "end2end" : "end2end_bare", ho);
    struct Case {
      float conf;
      int max_det;
    };
    for (const Case& c : {Case{0.25f, 300}, Case{0.6f, 300}, Case{0.1f, 5}}) {
      HeadRun r = run_head(path, with(c.conf, c.max_det));
      const std::string what =
          fmt::format("metadata {} conf {} max_det {}", metadata, c.conf, c.max_det);
      EXPECT_EQ(r.info.family, Family::kEnd2End) << what;
      EXPECT_EQ(r.info.source, metadata ? "metadata" : "output shapes") << what;
      // Without names the class count is unknown and classes are named by their id.
      EXPECT_EQ(r.info.num_classes, metadata ? 6 : 0) << what;
      ASSERT_EQ(r.raw.dims(), (Dims{1, 40, 6})) << what;
      size_t above = 0;
      std::vector<RefDet> want = ref_end2end(r.raw, c.conf, c.max_det, r.lb, &above);
      EXPECT_GT(want.size(), 2u) << what;
      EXPECT_EQ(want.size(), std::min<size_t>(above, static_cast<size_t>(c.max_det))) << what;
      expect_same(r.got, want, r.info, what);
    }
  }
  // No NMS: two overlapping boxes of one class both stay.
  ModelInfo info;
  info.family = Family::kEnd2End;
  info.task = Task::kDetect;
  info.input_width = info.input_height = 64;
  LetterboxInfo lb;
  lb.src_width = lb.src_height = lb.out_width = lb.out_height = 64;
  lb.resized_width = lb.resized_height = 64;
  Tensor t(DType::kF32, {2, 3, 6});
  const float rows[] = {
      0,  0,  0,  0,  0,    0, 0,  0,  0,  0,  0,    0, 0, 0, 0, 0, 0,    0,  // image 0
      10, 10, 30, 30, 0.9f, 2, 11, 11, 31, 31, 0.8f, 2, 1, 1, 5, 5, 0.1f, 0};
  std::copy(std::begin(rows), std::end(rows), t.data<float>());
  std::vector<Detection> d = decode_end2end(t, 1, info, lb, DecodeOptions{});
  ASSERT_EQ(d.size(), 2u);
  EXPECT_FLOAT_EQ(d[1].box.x1, 11);
  EXPECT_EQ(d[1].class_id, 2);
  EXPECT_TRUE(decode_end2end(t, 0, info, lb, DecodeOptions{}).empty());
}

// Ultralytics' nms=True export: NMS in the graph (the engine runs that part after its program)
// padded to [1, max_det, 6]; the metadata's args make it end-to-end, and the Detector's
// zero-copy path reads the padded rows.
TEST(VisionHeads, NmsInTheGraphDecodesAsEndToEnd) {
  BuilderOptions b;
  b.imgsz = 64;
  b.num_classes = 3;
  b.seed = 21;
  NmsGraphOptions n;
  n.score = 0.05f;
  n.padded = true;
  n.max_det = 300;
  const std::string path = testing::TempDir() + "/vision_head_nms_graph.onnx";
  save_bytes(path, with_nms_graph_onnx(build_yolo_detector_onnx(b), n));
  for (const float conf : {0.1f, 0.3f}) {
    HeadRun r = run_head(path, with(conf, 300));
    EXPECT_EQ(r.info.family, Family::kEnd2End);
    EXPECT_EQ(r.info.source, "metadata");
    ASSERT_EQ(r.raw.dims(), (Dims{1, 300, 6}));
    size_t above = 0;
    const std::vector<RefDet> want = ref_end2end(r.raw, conf, 300, r.lb, &above);
    EXPECT_GT(want.size(), 1u) << conf;
    expect_same(r.got, want, r.info, fmt::format("conf {}", conf));
  }
}

TEST(VisionHeads, End2EndRefusesRowsThatAreNotClassIds) {
  ModelInfo info;
  info.family = Family::kEnd2End;
  info.num_classes = 3;
  info.input_width = info.input_height = 64;
  LetterboxInfo lb;
  lb.src_width = lb.src_height = lb.out_width = lb.out_height = 64;
  Tensor t(DType::kF32, {1, 2, 6});
  float* p = t.data<float>();
  const float fractional[] = {1, 1, 9, 9, 0.9f, 1.5f, 0, 0, 0, 0, 0, 7.3f};  // row 1 below conf
  std::copy(std::begin(fractional), std::end(fractional), p);
  try {
    decode_end2end(t, 0, info, lb, DecodeOptions{});
    FAIL() << "class id 1.5 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[1,2,6]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("class id 1.5"), std::string::npos) << e.what();
  }
  p[5] = 3;  // an integer, but not one of the 3 classes
  EXPECT_THROW(decode_end2end(t, 0, info, lb, DecodeOptions{}), Error);
  p[5] = 2;
  EXPECT_EQ(decode_end2end(t, 0, info, lb, DecodeOptions{}).size(), 1u);
}

TEST(VisionHeads, RtdetrMatchesIndependentDecode) {
  HeadModelOptions ho;
  ho.kind = HeadKind::kRtdetr;
  ho.seed = 9;
  ho.num_classes = 5;
  ho.rows = 300;
  for (bool metadata : {true, false}) {
    ho.metadata = metadata;
    const std::string path = write_head(metadata ? "rtdetr" : "rtdetr_bare", ho);
    struct Case {
      float conf;
      int max_det;
    };
    for (const Case& c : {Case{0.25f, 300}, Case{0.7f, 300}, Case{0.25f, 7}}) {
      HeadRun r = run_head(path, with(c.conf, c.max_det));
      const std::string what =
          fmt::format("metadata {} conf {} max_det {}", metadata, c.conf, c.max_det);
      EXPECT_EQ(r.info.family, Family::kRtdetr) << what;
      EXPECT_EQ(r.info.source, metadata ? "metadata" : "output shapes") << what;
      EXPECT_EQ(r.info.num_classes, 5) << what;
      ASSERT_EQ(r.raw.dims(), (Dims{1, 300, 9})) << what;
      size_t above = 0;
      std::vector<RefDet> want = ref_rtdetr(r.raw, c.conf, c.max_det, r.info.input_width,
                                            r.info.input_height, r.lb, &above);
      EXPECT_GT(want.size(), 2u) << what;
      EXPECT_EQ(want.size(), std::min<size_t>(above, static_cast<size_t>(c.max_det))) << what;
      expect_same(r.got, want, r.info, what);
    }
  }
}

// ---- Choosing the head --------------------------------------------------------------------------

ModelInfo info_for(const std::vector<Dims>& outs, const std::string& family = "",
                   const std::map<std::string, std::string>& md = {}, int64_t size = 640) {
  ModelHints h;
  h.family = family;
  return infer_model_info(md, {1, 3, size, size}, outs, h);
}

TEST(VisionHeads, FamilyFromShapes) {
  ModelInfo i = info_for({{1, 25200, 85}});
  EXPECT_EQ(i.family, Family::kYolov5);
  EXPECT_EQ(i.num_classes, 80);
  EXPECT_EQ(i.names[0], "person");
  EXPECT_EQ(info_for({{1, 102000, 85}}, "", {}, 1280).family, Family::kYolov5);  // P6, 4 levels
  i = info_for({{1, 300, 6}});
  EXPECT_EQ(i.family, Family::kEnd2End);
  EXPECT_EQ(i.num_classes, 0);
  i = info_for({{1, 300, 84}});
  EXPECT_EQ(i.family, Family::kRtdetr);
  EXPECT_EQ(i.num_classes, 80);
  EXPECT_EQ(info_for({{1, 84, 8400}}).family, Family::kUltralytics);
  EXPECT_EQ(info_for({{1, 8400, 85}}).family, Family::kYolox);
  // A 2-class RT-DETR reads as end-to-end from its shape; the flag settles it.
  i = info_for({{1, 300, 6}}, "rtdetr");
  EXPECT_EQ(i.family, Family::kRtdetr);
  EXPECT_EQ(i.num_classes, 2);
  // Classic YOLOv5 segment: detect-only here, said so.
  try {
    info_for({{1, 25200, 117}, {1, 32, 160, 160}});
    FAIL() << "YOLOv5 segment accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("detect-only"), std::string::npos) << e.what();
  }
}

TEST(VisionHeads, FamilyFromMetadata) {
  const std::map<std::string, std::string> ultra = {{"author", "Ultralytics"}, {"task", "detect"}};
  auto plus = [&](const char* k, const char* v) {
    auto m = ultra;
    m[k] = v;
    return m;
  };
  EXPECT_EQ(info_for({{1, 300, 6}}, "", plus("end2end", "True")).family, Family::kEnd2End);
  EXPECT_EQ(info_for({{1, 300, 6}}, "", plus("head", "v10Detect")).family, Family::kEnd2End);
  EXPECT_EQ(info_for({{1, 300, 6}}, "", plus("args", "{'batch': 1, 'nms': True}")).family,
            Family::kEnd2End);
  // An older YOLOv10 export without end2end: Ultralytics detect metadata and [B, N, 6].
  ModelInfo i = info_for({{1, 300, 6}}, "", ultra);
  EXPECT_EQ(i.family, Family::kEnd2End);
  EXPECT_EQ(i.source, "metadata");
  // A 2-class RT-DETR is told apart by its metadata.
  i = info_for({{1, 300, 6}}, "", plus("head", "RTDETRDecoder"));
  EXPECT_EQ(i.family, Family::kRtdetr);
  EXPECT_EQ(i.num_classes, 2);
  EXPECT_EQ(info_for({{1, 300, 84}}, "", plus("description", "Ultralytics RT-DETR-l model")).family,
            Family::kRtdetr);
  // end2end: False with the anchor-free layout (YOLO26 exported one-to-many).
  EXPECT_EQ(info_for({{1, 84, 8400}}, "", plus("end2end", "False")).family, Family::kUltralytics);
  // Names give an end-to-end head its class count.
  auto named = plus("end2end", "True");
  named["names"] = "{0: 'cat', 1: 'dog'}";
  i = info_for({{1, 300, 6}}, "", named);
  EXPECT_EQ(i.num_classes, 2);
  EXPECT_EQ(i.names[1], "dog");
}

TEST(VisionHeads, ParseFamilyNames) {
  EXPECT_EQ(parse_family("yolov5"), Family::kYolov5);
  EXPECT_EQ(parse_family("YOLOv7"), Family::kYolov5);
  EXPECT_EQ(parse_family("yolov5u"), Family::kUltralytics);
  EXPECT_EQ(parse_family("end2end"), Family::kEnd2End);
  EXPECT_EQ(parse_family("yolov10"), Family::kEnd2End);
  EXPECT_EQ(parse_family("yolo26"), Family::kEnd2End);
  EXPECT_EQ(parse_family("rtdetr"), Family::kRtdetr);
  EXPECT_EQ(parse_family("RT-DETR"), Family::kRtdetr);
  for (Family f :
       {Family::kUltralytics, Family::kYolox, Family::kYolov5, Family::kEnd2End, Family::kRtdetr}) {
    EXPECT_EQ(parse_family(family_name(f)), f) << family_name(f);
  }
  try {
    parse_family("yolov9");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rtdetr"), std::string::npos) << e.what();
  }
}

// Each (output, forced family) pair that does not fit is refused, the message naming the shape,
// what the family expects and what the shape looks like.
TEST(VisionHeads, WrongForcedFamilyIsRefused) {
  struct Case {
    Dims out;
    const char* family;
    const char* expects;  // in the message
    const char* looks;    // the family the shape suggests
  };
  const Case cases[] = {
      {{1, 84, 8400}, "yolov5", "[B, 25200, 5+classes]", "--family ultralytics"},
      {{1, 84, 8400}, "end2end", "[B, max_det, 6]", "--family ultralytics"},
      {{1, 84, 8400}, "rtdetr", "[B, queries, 4+classes]", "--family ultralytics"},
      {{1, 25200, 85}, "end2end", "[B, max_det, 6]", "--family yolov5"},
      {{1, 25200, 85}, "rtdetr", "[B, queries, 4+classes]", "--family yolov5"},
      {{1, 25200, 85}, "ultralytics", "[B, 4+classes", "--family yolov5"},
      {{1, 25200, 85}, "yolox", "[B, 8400, 5+classes]", "--family yolov5"},
      {{1, 300, 84}, "end2end", "[B, max_det, 6]", "--family rtdetr"},
      {{1, 300, 84}, "yolov5", "[B, 25200, 5+classes]", "--family rtdetr"},
      {{1, 300, 84}, "ultralytics", "[B, 4+classes", "--family rtdetr"},
      {{1, 300, 6}, "yolov5", "[B, 25200, 5+classes]", "--family end2end"},
      {{1, 300, 6}, "yolox", "[B, 8400, 5+classes]", "--family end2end"},
      {{1, 8400, 85}, "yolov5", "[B, 25200, 5+classes]", "--family yolox"},
      {{1, 8400, 85}, "end2end", "[B, max_det, 6]", "--family yolox"},
  };
  for (const Case& c : cases) {
    const std::string what = fmt::format("{} as {}", dims_str(c.out), c.family);
    try {
      info_for({c.out}, c.family);
      ADD_FAILURE() << what << " accepted";
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << what;
      EXPECT_NE(m.find(dims_str(c.out)), std::string::npos) << what << ": " << m;
      EXPECT_NE(m.find(c.expects), std::string::npos) << what << ": " << m;
      EXPECT_NE(m.find(c.looks), std::string::npos) << what << ": " << m;
    }
  }
  // A flag that contradicts the metadata's head is refused too.
  try {
    info_for({{1, 300, 6}}, "ultralytics", {{"task", "detect"}, {"end2end", "True"}});
    FAIL() << "--family ultralytics on an end2end model accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("end2end: True"), std::string::npos) << e.what();
  }
  // Through the Detector: a built end-to-end model forced to yolov5.
  HeadModelOptions ho;
  ho.kind = HeadKind::kEnd2End;
  ho.metadata = false;
  const std::string path = write_head("end2end_forced", ho);
  try {
    Detector::open(path, with(0.25f, 300, "yolov5"));
    FAIL() << "end-to-end model decoded as yolov5";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[1,300,6]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--family end2end"), std::string::npos) << e.what();
  }
  // The right flag is accepted.
  EXPECT_EQ(Detector::open(path, with(0.25f, 300, "yolo26")).info().family, Family::kEnd2End);
}

}  // namespace
}  // namespace shoal::vision
