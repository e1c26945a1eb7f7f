#include "vision/decode.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "vision/rotated_box.h"

namespace shoal::vision {
namespace {

void check_output(const Tensor& t, size_t rank, const char* what) {
  if (t.dtype() != DType::kF32 || t.rank() != static_cast<int64_t>(rank)) {
    fail(ErrorCode::kInvalidArgument, "{}: expected a float32 tensor of rank {}, got {} {}", what,
         rank, dtype_name(t.dtype()), dims_str(t.dims()));
  }
}

void check_batch(const Tensor& t, int b, const char* what) {
  if (b < 0 || b >= t.dims()[0]) {
    fail(ErrorCode::kInvalidArgument, "{}: batch index {} outside {}", what, b, dims_str(t.dims()));
  }
}

std::string class_name(const ModelInfo& info, int c) {
  return c >= 0 && c < static_cast<int>(info.names.size()) ? info.names[static_cast<size_t>(c)]
                                                           : std::to_string(c);
}

Detection make_detection(const Candidate& c, const ModelInfo& info, const LetterboxInfo& lb) {
  Detection d;
  d.class_id = c.class_id;
  d.class_name = class_name(info, c.class_id);
  d.score = c.score;
  d.box = box_to_source(c.box, lb);
  return d;
}

bool class_allowed(const std::vector<int>& classes, int c) {
  return classes.empty() || std::find(classes.begin(), classes.end(), c) != classes.end();
}

void drop_other_classes(std::vector<Candidate>& cands, const DecodeOptions& o) {
  if (o.classes.empty()) return;
  std::erase_if(cands, [&](const Candidate& c) { return !class_allowed(o.classes, c.class_id); });
}

// Candidates then NMS for an Ultralytics head; returns kept candidates in order.
std::vector<Candidate> ultralytics_kept(const Tensor& out, int b, int nc, const DecodeOptions& o) {
  std::vector<Candidate> cands = candidates_ultralytics(out, b, nc, o.conf);
  drop_other_classes(cands, o);
  std::vector<int> keep = nms(cands, o.nms);
  std::vector<Candidate> kept;
  kept.reserve(keep.size());
  for (int i : keep) kept.push_back(cands[static_cast<size_t>(i)]);
  return kept;
}

}  // namespace

DecodeOptions default_decode_options(Family family) {
  DecodeOptions o;
  if (family == Family::kYolox) {
    o.nms.iou = 0.45f;
    o.nms.agnostic = true;
    o.nms.plus_one = true;
  }
  if (family == Family::kYolov5) o.nms.iou = 0.45f;
  return o;
}

namespace {

// The best of `nc` contiguous class scores: its index (the first on ties) and, in *score, its
// value. Rows of YOLOX, classic YOLOv5/v7 and RT-DETR heads.
int best_class(const float* scores, int nc, float* score) {
  int cls = 0;
  float p = scores[0];
  for (int c = 1; c < nc; ++c) {
    if (scores[c] > p) {
      p = scores[c];
      cls = c;
    }
  }
  *score = p;
  return cls;
}

}  // namespace

std::vector<Candidate> candidates_ultralytics(const Tensor& out, int b, int num_classes,
                                              float conf) {
  check_output(out, 3, "Ultralytics head output");
  check_batch(out, b, "Ultralytics head output");
  const int64_t rows = out.dims()[1], A = out.dims()[2];
  if (num_classes < 1 || 4 + num_classes > rows) {
    fail(ErrorCode::kInvalidArgument, "Ultralytics head output {}: {} classes do not fit",
         dims_str(out.dims()), num_classes);
  }
  const float* base = out.data<float>() + b * rows * A;
  // Pass 1: best class score per anchor (row-wise, contiguous, vectorisable).
  std::vector<float> best(base + 4 * A, base + 5 * A);
  for (int c = 1; c < num_classes; ++c) {
    const float* row = base + (4 + c) * A;
    for (int64_t a = 0; a < A; ++a)
      best[static_cast<size_t>(a)] = std::max(best[static_cast<size_t>(a)], row[a]);
  }
  // Pass 2: boxes and class ids for anchors above the threshold only.
  std::vector<Candidate> cands;
  for (int64_t a = 0; a < A; ++a) {
    const float s = best[static_cast<size_t>(a)];
    if (!(s > conf)) continue;
    int cls = 0;
    for (int c = 0; c < num_classes; ++c) {
      if (base[(4 + c) * A + a] == s) {
        cls = c;
        break;
      }
    }
    const float cx = base[a], cy = base[A + a], w = base[2 * A + a], h = base[3 * A + a];
    Candidate cd;
    cd.box = {cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2};
    cd.score = s;
    cd.class_id = cls;
    cd.anchor = static_cast<int>(a);
    cands.push_back(cd);
  }
  return cands;
}

std::vector<Candidate> candidates_yolox(const Tensor& out, int b, int in_w, int in_h,
                                        const std::vector<int>& strides, float conf) {
  check_output(out, 3, "YOLOX output");
  check_batch(out, b, "YOLOX output");
  const int64_t A = out.dims()[1], C = out.dims()[2];
  const int nc = static_cast<int>(C - 5);
  if (nc < 1)
    fail(ErrorCode::kInvalidArgument, "YOLOX output {}: no classes", dims_str(out.dims()));
  const int64_t expect = [&] {
    int64_t n = 0;
    for (int s : strides) n += int64_t{in_h / s} * (in_w / s);
    return n;
  }();
  if (A != expect) {
    fail(ErrorCode::kInvalidArgument, "YOLOX output {}: {} rows, but strides over {}x{} give {}",
         dims_str(out.dims()), A, in_w, in_h, expect);
  }
  const float* base = out.data<float>() + b * A * C;
  std::vector<Candidate> cands;
  int64_t a = 0;
  for (int s : strides) {
    const int gh = in_h / s, gw = in_w / s;
    for (int gy = 0; gy < gh; ++gy) {
      for (int gx = 0; gx < gw; ++gx, ++a) {
        const float* r = base + a * C;
        const float obj = r[4];
        if (!(obj > conf)) continue;  // class probabilities are <= 1
        float p;
        const int cls = best_class(r + 5, nc, &p);
        const float score = obj * p;
        if (!(score > conf)) continue;
        const float fs = static_cast<float>(s);
        const float cx = (r[0] + static_cast<float>(gx)) * fs;
        const float cy = (r[1] + static_cast<float>(gy)) * fs;
        const float w = std::exp(r[2]) * fs, h = std::exp(r[3]) * fs;
        Candidate cd;
        cd.box = {cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2};
        cd.score = score;
        cd.class_id = cls;
        cd.anchor = static_cast<int>(a);
        cands.push_back(cd);
      }
    }
  }
  return cands;
}

std::vector<Candidate> candidates_yolov5(const Tensor& out, int b, float conf) {
  check_output(out, 3, "YOLOv5/v7 output");
  check_batch(out, b, "YOLOv5/v7 output");
  const int64_t N = out.dims()[1], C = out.dims()[2];
  const int nc = static_cast<int>(C - 5);
  if (nc < 1) {
    fail(ErrorCode::kInvalidArgument, "YOLOv5/v7 output {}: no classes (rows are 5 + classes)",
         dims_str(out.dims()));
  }
  const float* base = out.data<float>() + b * N * C;
  std::vector<Candidate> cands;
  for (int64_t a = 0; a < N; ++a) {
    const float* r = base + a * C;
    const float obj = r[4];
    if (!(obj > conf)) continue;
    float p;
    const int cls = best_class(r + 5, nc, &p);
    const float score = obj * p;
    if (!(score > conf)) continue;
    Candidate cd;
    cd.box = {r[0] - r[2] / 2, r[1] - r[3] / 2, r[0] + r[2] / 2, r[1] + r[3] / 2};
    cd.score = score;
    cd.class_id = cls;
    cd.anchor = static_cast<int>(a);
    cands.push_back(cd);
  }
  return cands;
}

std::vector<Detection> decode_end2end(const Tensor& out, int b, const ModelInfo& info,
                                      const LetterboxInfo& lb, const DecodeOptions& opt) {
  check_output(out, 3, "end-to-end output");
  check_batch(out, b, "end-to-end output");
  const int64_t N = out.dims()[1];
  if (out.dims()[2] != 6) {
    fail(ErrorCode::kInvalidArgument,
         "end-to-end output {}: expected [B, max_det, 6] (x1, y1, x2, y2, score, class id)",
         dims_str(out.dims()));
  }
  const float* base = out.data<float>() + b * N * 6;
  std::vector<Detection> dets;
  for (int64_t i = 0; i < N && static_cast<int>(dets.size()) < opt.nms.max_det; ++i) {
    const float* r = base + i * 6;
    if (!(r[4] > opt.conf)) continue;
    const float id = std::round(r[5]);
    if (!(std::fabs(r[5] - id) <= 1e-3f) || id < 0 || id > 1e6f ||
        (info.num_classes > 0 && id >= static_cast<float>(info.num_classes))) {
      fail(ErrorCode::kInvalidModel,
           "end-to-end output {}: row {} has class id {} (score {}), not a class in [0, {}): the "
           "model is not a [B, max_det, 6] end-to-end head; check --family",
           dims_str(out.dims()), i, r[5], r[4],
           info.num_classes > 0 ? std::to_string(info.num_classes) : std::string("inf"));
    }
    if (!class_allowed(opt.classes, static_cast<int>(id))) continue;
    Candidate c;
    c.box = {r[0], r[1], r[2], r[3]};
    c.score = r[4];
    c.class_id = static_cast<int>(id);
    c.anchor = static_cast<int>(i);
    dets.push_back(make_detection(c, info, lb));
  }
  return dets;
}

std::vector<Detection> decode_rtdetr(const Tensor& out, int b, const ModelInfo& info,
                                     const LetterboxInfo& lb, const DecodeOptions& opt) {
  check_output(out, 3, "RT-DETR output");
  check_batch(out, b, "RT-DETR output");
  const int64_t Q = out.dims()[1], C = out.dims()[2];
  const int nc = static_cast<int>(C - 4);
  if (nc < 1) {
    fail(ErrorCode::kInvalidArgument, "RT-DETR output {}: no classes (rows are 4 + classes)",
         dims_str(out.dims()));
  }
  const float* base = out.data<float>() + b * Q * C;
  const float W = static_cast<float>(info.input_width), H = static_cast<float>(info.input_height);
  std::vector<Candidate> cands;
  for (int64_t q = 0; q < Q; ++q) {
    const float* r = base + q * C;
    float s;
    const int cls = best_class(r + 4, nc, &s);
    if (!(s > opt.conf)) continue;
    const float cx = r[0] * W, cy = r[1] * H, w = r[2] * W, h = r[3] * H;
    Candidate cd;
    cd.box = {cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2};
    cd.score = s;
    cd.class_id = cls;
    cd.anchor = static_cast<int>(q);
    cands.push_back(cd);
  }
  drop_other_classes(cands, opt);
  std::stable_sort(cands.begin(), cands.end(),
                   [](const Candidate& x, const Candidate& y) { return x.score > y.score; });
  if (static_cast<int>(cands.size()) > opt.nms.max_det) {
    cands.resize(static_cast<size_t>(std::max(0, opt.nms.max_det)));
  }
  std::vector<Detection> dets;
  dets.reserve(cands.size());
  for (const Candidate& c : cands) dets.push_back(make_detection(c, info, lb));
  return dets;
}

Box box_to_source(const Box& b, const LetterboxInfo& lb) {
  const float w = static_cast<float>(lb.src_width), h = static_cast<float>(lb.src_height);
  Box r;
  r.x1 = std::clamp(lb.to_src_x(b.x1), 0.f, w);
  r.y1 = std::clamp(lb.to_src_y(b.y1), 0.f, h);
  r.x2 = std::clamp(lb.to_src_x(b.x2), 0.f, w);
  r.y2 = std::clamp(lb.to_src_y(b.y2), 0.f, h);
  return r;
}

std::vector<Detection> decode_detect(const Tensor& out, int b, const ModelInfo& info,
                                     const LetterboxInfo& lb, const DecodeOptions& opt) {
  if (info.family == Family::kEnd2End) return decode_end2end(out, b, info, lb, opt);
  if (info.family == Family::kRtdetr) return decode_rtdetr(out, b, info, lb, opt);
  std::vector<Candidate> cands;
  if (info.family == Family::kYolox) {
    cands =
        candidates_yolox(out, b, info.input_width, info.input_height, info.yolox_strides, opt.conf);
  } else if (info.family == Family::kYolov5) {
    cands = candidates_yolov5(out, b, opt.conf);
  } else {
    cands = candidates_ultralytics(out, b, info.num_classes, opt.conf);
  }
  drop_other_classes(cands, opt);
  std::vector<int> keep = nms(cands, opt.nms);
  std::vector<Detection> dets;
  dets.reserve(keep.size());
  for (int i : keep) dets.push_back(make_detection(cands[static_cast<size_t>(i)], info, lb));
  return dets;
}

namespace {

// Bilinear sampling positions (align_corners=false, clamped like PyTorch) for the prototype
// grid: for each destination pixel, the two source indices and the weight of the second.
struct Taps {
  std::vector<int> i0, i1;
  std::vector<float> t;
};

// Destination pixels [start, end) of the original image along one axis, mapped through the
// letterbox (resized/src scale, pad) onto a prototype axis of `proto` cells spanning `net` pixels.
Taps make_taps(int start, int end, double resize_scale, int pad, int net, int proto) {
  Taps k;
  const double to_proto = static_cast<double>(proto) / net;
  for (int x = start; x < end; ++x) {
    const double l = (x + 0.5) * resize_scale + pad;  // letterbox coordinate of the pixel centre
    double p = l * to_proto - 0.5;
    if (p < 0) p = 0;
    int i0 = static_cast<int>(p);
    if (i0 > proto - 1) i0 = proto - 1;
    const int i1 = std::min(i0 + 1, proto - 1);
    k.i0.push_back(i0);
    k.i1.push_back(i1);
    k.t.push_back(static_cast<float>(p - i0));
  }
  return k;
}

void compute_mask(Detection& d, const float* coeffs, int64_t coeff_stride, const float* protos,
                  int nm, int mh, int mw, const ModelInfo& info, const LetterboxInfo& lb) {
  const int W = lb.src_width, H = lb.src_height;
  const int x0 = std::clamp(static_cast<int>(std::floor(d.box.x1)), 0, W);
  const int x1 = std::clamp(static_cast<int>(std::ceil(d.box.x2)), 0, W);
  const int y0 = std::clamp(static_cast<int>(std::floor(d.box.y1)), 0, H);
  const int y1 = std::clamp(static_cast<int>(std::ceil(d.box.y2)), 0, H);
  d.mask_rect = cv::Rect(x0, y0, std::max(0, x1 - x0), std::max(0, y1 - y0));
  if (d.mask_rect.empty()) {
    d.mask = cv::Mat();
    return;
  }
  const Taps tx = make_taps(x0, x1, static_cast<double>(lb.resized_width) / W, lb.pad_left,
                            info.input_width, mw);
  const Taps ty = make_taps(y0, y1, static_cast<double>(lb.resized_height) / H, lb.pad_top,
                            info.input_height, mh);
  // Logits on the prototype cells the box touches.
  const int px0 = tx.i0.front(), px1 = tx.i1.back() + 1;
  const int py0 = ty.i0.front(), py1 = ty.i1.back() + 1;
  const int pw = px1 - px0, ph = py1 - py0;
  std::vector<float> logit(static_cast<size_t>(pw) * ph, 0.f);
  const int64_t plane = int64_t{mh} * mw;
  for (int k = 0; k < nm; ++k) {
    const float c = coeffs[k * coeff_stride];
    const float* p = protos + k * plane;
    for (int y = 0; y < ph; ++y) {
      const float* src = p + int64_t{py0 + y} * mw + px0;
      float* dst = logit.data() + static_cast<size_t>(y) * pw;
      for (int x = 0; x < pw; ++x) dst[x] += c * src[x];
    }
  }
  // Resample to the image pixels (separable bilinear: the touched prototype rows horizontally,
  // then one vectorisable lerp per pixel), keeping pixels whose centre lies inside the box.
  const int bw = d.mask_rect.width, bh = d.mask_rect.height;
  std::vector<float> hrows(static_cast<size_t>(ph) * bw);
  for (int y = 0; y < ph; ++y) {
    const float* src = logit.data() + static_cast<size_t>(y) * pw;
    float* dst = hrows.data() + static_cast<size_t>(y) * bw;
    for (int x = 0; x < bw; ++x) {
      const float a = src[tx.i0[static_cast<size_t>(x)] - px0];
      const float b = src[tx.i1[static_cast<size_t>(x)] - px0];
      dst[x] = a + (b - a) * tx.t[static_cast<size_t>(x)];
    }
  }
  // Columns [cx0, cx1) of the rect have their centre strictly inside the box.
  int cx0 = 0, cx1 = bw;
  while (cx0 < bw && static_cast<float>(x0 + cx0) + 0.5f <= d.box.x1) ++cx0;
  while (cx1 > cx0 && static_cast<float>(x0 + cx1 - 1) + 0.5f >= d.box.x2) --cx1;
  d.mask = cv::Mat::zeros(bh, bw, CV_8U);
  for (int y = 0; y < bh; ++y) {
    const float cyc = static_cast<float>(y0 + y) + 0.5f;
    if (cyc <= d.box.y1 || cyc >= d.box.y2) continue;
    const float* r0 = hrows.data() + static_cast<size_t>(ty.i0[static_cast<size_t>(y)] - py0) * bw;
    const float* r1 = hrows.data() + static_cast<size_t>(ty.i1[static_cast<size_t>(y)] - py0) * bw;
    const float t = ty.t[static_cast<size_t>(y)];
    uint8_t* m = d.mask.ptr<uint8_t>(y);
    for (int x = cx0; x < cx1; ++x) {
      m[x] = (r0[x] + (r1[x] - r0[x]) * t) > 0.f ? 1 : 0;  // sigmoid(v) > 0.5
    }
  }
}

}  // namespace

std::vector<Detection> decode_segment(const Tensor& out, const Tensor& protos, int b,
                                      const ModelInfo& info, const LetterboxInfo& lb,
                                      const DecodeOptions& opt) {
  check_output(out, 3, "segment output0");
  check_output(protos, 4, "segment prototypes");
  check_batch(protos, b, "segment prototypes");
  const int nm = static_cast<int>(protos.dims()[1]);
  const int mh = static_cast<int>(protos.dims()[2]), mw = static_cast<int>(protos.dims()[3]);
  const int64_t rows = out.dims()[1], A = out.dims()[2];
  if (4 + info.num_classes + nm != rows) {
    fail(ErrorCode::kInvalidArgument, "segment output {} does not hold 4 + {} classes + {} masks",
         dims_str(out.dims()), info.num_classes, nm);
  }
  std::vector<Candidate> kept = ultralytics_kept(out, b, info.num_classes, opt);
  const float* base = out.data<float>() + b * rows * A;
  const float* pbase = protos.data<float>() + int64_t{b} * nm * mh * mw;
  std::vector<Detection> dets;
  dets.reserve(kept.size());
  for (const Candidate& c : kept) {
    Detection d = make_detection(c, info, lb);
    if (opt.masks) {
      const float* coeffs = base + (4 + info.num_classes) * A + c.anchor;
      compute_mask(d, coeffs, A, pbase, nm, mh, mw, info, lb);
    }
    dets.push_back(std::move(d));
  }
  return dets;
}

std::vector<Detection> decode_pose(const Tensor& out, int b, const ModelInfo& info,
                                   const LetterboxInfo& lb, const DecodeOptions& opt) {
  check_output(out, 3, "pose output");
  const int64_t rows = out.dims()[1], A = out.dims()[2];
  const int K = info.kpt_count, D = info.kpt_dims;
  if (K < 1 || (D != 2 && D != 3) || 4 + info.num_classes + int64_t{K} * D != rows) {
    fail(ErrorCode::kInvalidArgument,
         "pose output {} does not hold 4 + {} classes + {} x {} keypoints", dims_str(out.dims()),
         info.num_classes, K, D);
  }
  std::vector<Candidate> kept = ultralytics_kept(out, b, info.num_classes, opt);
  const float* base = out.data<float>() + b * rows * A;
  const float W = static_cast<float>(lb.src_width), H = static_cast<float>(lb.src_height);
  std::vector<Detection> dets;
  dets.reserve(kept.size());
  for (const Candidate& c : kept) {
    Detection d = make_detection(c, info, lb);
    d.keypoints.resize(static_cast<size_t>(K));
    for (int k = 0; k < K; ++k) {
      const float* r = base + (4 + info.num_classes + int64_t{k} * D) * A + c.anchor;
      Keypoint& kp = d.keypoints[static_cast<size_t>(k)];
      kp.x = std::clamp(lb.to_src_x(r[0]), 0.f, W);
      kp.y = std::clamp(lb.to_src_y(r[A]), 0.f, H);
      kp.v = D == 3 ? r[2 * A] : 1.f;
    }
    dets.push_back(std::move(d));
  }
  return dets;
}

std::vector<Detection> decode_obb(const Tensor& out, int b, const ModelInfo& info,
                                  const LetterboxInfo& lb, const DecodeOptions& opt) {
  check_output(out, 3, "OBB output");
  check_batch(out, b, "OBB output");
  const int64_t rows = out.dims()[1], A = out.dims()[2];
  const int nc = info.num_classes;
  if (nc < 1 || 4 + int64_t{nc} + 1 != rows) {
    fail(ErrorCode::kInvalidArgument,
         "OBB output {} does not hold 4 + {} classes + 1 angle rows (cx, cy, w, h, scores, angle)",
         dims_str(out.dims()), nc);
  }
  std::vector<Candidate> cands = candidates_ultralytics(out, b, nc, opt.conf);
  const float* base = out.data<float>() + b * rows * A;
  std::erase_if(cands, [&](Candidate& c) {
    const float* p = base + c.anchor;
    c.rbox = {p[0], p[A], p[2 * A], p[3 * A], p[(4 + nc) * A]};
    const RotatedBox& r = c.rbox;
    if (!std::isfinite(r.cx) || !std::isfinite(r.cy) || !std::isfinite(r.w) ||
        !std::isfinite(r.h) || !std::isfinite(r.angle)) {
      return true;
    }
    c.box = rbox_bounds(r);
    return false;
  });
  drop_other_classes(cands, opt);
  const std::vector<int> keep = nms_rotated(cands, opt.nms);
  const float W = static_cast<float>(lb.src_width), H = static_cast<float>(lb.src_height);
  std::vector<Detection> dets;
  dets.reserve(keep.size());
  for (int i : keep) {
    const Candidate& c = cands[static_cast<size_t>(i)];
    RotatedBox r = regularize_rbox(c.rbox);
    r.cx = lb.to_src_x(r.cx);
    r.cy = lb.to_src_y(r.cy);
    r.w = static_cast<float>(r.w / lb.scale);
    r.h = static_cast<float>(r.h / lb.scale);
    Detection d;
    d.class_id = c.class_id;
    d.class_name = class_name(info, c.class_id);
    d.score = c.score;
    d.rbox = r;
    const Box bounds = rbox_bounds(r);
    d.box = {std::clamp(bounds.x1, 0.f, W), std::clamp(bounds.y1, 0.f, H),
             std::clamp(bounds.x2, 0.f, W), std::clamp(bounds.y2, 0.f, H)};
    dets.push_back(std::move(d));
  }
  return dets;
}

std::vector<Classification> decode_classify(const Tensor& out, int b, const ModelInfo& info, int k,
                                            const std::vector<int>& classes) {
  check_output(out, 2, "classify output");
  check_batch(out, b, "classify output");
  const int64_t nc = out.dims()[1];
  const float* row = out.data<float>() + b * nc;
  std::vector<double> p(row, row + nc);
  double sum = 0;
  bool in_unit = true;
  for (double v : p) {
    sum += v;
    in_unit = in_unit && v >= 0 && v <= 1;
  }
  if (!(in_unit && std::fabs(sum - 1.0) < 1e-3)) {
    const double mx = *std::max_element(p.begin(), p.end());
    double s = 0;
    for (double& v : p) s += (v = std::exp(v - mx));
    for (double& v : p) v /= s;
  }
  std::vector<int> idx(static_cast<size_t>(nc));
  std::iota(idx.begin(), idx.end(), 0);
  std::erase_if(idx, [&](int c) { return !class_allowed(classes, c); });
  const size_t kk = std::min<size_t>(static_cast<size_t>(std::max(k, 0)), idx.size());
  std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(kk), idx.end(),
                    [&](int a, int c) {
                      return p[static_cast<size_t>(a)] > p[static_cast<size_t>(c)] ||
                             (p[static_cast<size_t>(a)] == p[static_cast<size_t>(c)] && a < c);
                    });
  std::vector<Classification> top;
  for (size_t i = 0; i < kk; ++i) {
    Classification c;
    c.class_id = idx[i];
    c.class_name = class_name(info, idx[i]);
    c.score = static_cast<float>(p[static_cast<size_t>(idx[i])]);
    top.push_back(c);
  }
  return top;
}

Result postprocess(const std::vector<Tensor>& outputs, int b, const ModelInfo& info,
                   const LetterboxInfo& lb, const DecodeOptions& opt) {
  if (outputs.empty()) fail(ErrorCode::kInvalidArgument, "postprocess: no outputs");
  Result r;
  r.width = lb.src_width;
  r.height = lb.src_height;
  switch (info.task) {
    case Task::kDetect:
      r.detections = decode_detect(outputs[0], b, info, lb, opt);
      break;
    case Task::kSegment:
      if (outputs.size() < 2) fail(ErrorCode::kInvalidArgument, "segment: prototypes missing");
      r.detections = decode_segment(outputs[0], outputs[1], b, info, lb, opt);
      break;
    case Task::kPose:
      r.detections = decode_pose(outputs[0], b, info, lb, opt);
      break;
    case Task::kClassify:
      r.top5 = decode_classify(outputs[0], b, info, opt.top_k, opt.classes);
      break;
    case Task::kObb:
      r.detections = decode_obb(outputs[0], b, info, lb, opt);
      break;
    case Task::kUnknown:
      fail(ErrorCode::kInvalidArgument, "postprocess: unknown task");
  }
  return r;
}

cv::Mat full_mask(const Detection& d, cv::Size image_size) {
  cv::Mat m = cv::Mat::zeros(image_size, CV_8U);
  if (!d.mask.empty()) {
    const cv::Rect r = d.mask_rect & cv::Rect(0, 0, image_size.width, image_size.height);
    if (r == d.mask_rect) d.mask.copyTo(m(r));
  }
  return m;
}

}  // namespace shoal::vision
