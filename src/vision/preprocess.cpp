#include "vision/preprocess.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "core/error.h"
#include "core/multiversion.h"

namespace shoal::vision {
namespace {

// Python's round(): to nearest, ties to even (the default FP rounding mode).
int py_round(double v) { return static_cast<int>(std::nearbyint(v)); }

}  // namespace

LetterboxOptions ultralytics_letterbox(int width, int height) {
  LetterboxOptions o;
  o.width = width;
  o.height = height;
  return o;
}

LetterboxOptions yolox_letterbox(int width, int height) {
  LetterboxOptions o;
  o.width = width;
  o.height = height;
  o.center = false;
  o.round_size = false;
  return o;
}

LetterboxInfo letterbox_geometry(int w, int h, const LetterboxOptions& opt) {
  if (w < 1 || h < 1) {
    fail(ErrorCode::kInvalidArgument, "letterbox: expected a non-empty image, got {}x{}", w, h);
  }
  if (opt.width < 1 || opt.height < 1) {
    fail(ErrorCode::kInvalidArgument, "letterbox: bad target size {}x{}", opt.width, opt.height);
  }
  double r = std::min(static_cast<double>(opt.height) / h, static_cast<double>(opt.width) / w);
  if (!opt.scaleup) r = std::min(r, 1.0);
  int nw, nh;
  if (opt.round_size) {
    nw = py_round(w * r);
    nh = py_round(h * r);
  } else {
    nw = static_cast<int>(w * r);
    nh = static_cast<int>(h * r);
  }
  nw = std::clamp(nw, 1, opt.width);
  nh = std::clamp(nh, 1, opt.height);
  double dw = opt.width - nw, dh = opt.height - nh;
  if (opt.minimal_pad && opt.stride > 0) {
    dw = std::fmod(dw, opt.stride);
    dh = std::fmod(dh, opt.stride);
  }
  int top = 0, bottom, left = 0, right;
  if (opt.center) {
    dw /= 2;
    dh /= 2;
    top = py_round(dh - 0.1);
    bottom = py_round(dh + 0.1);
    left = py_round(dw - 0.1);
    right = py_round(dw + 0.1);
  } else {
    bottom = static_cast<int>(dh);
    right = static_cast<int>(dw);
  }
  LetterboxInfo info;
  info.src_width = w;
  info.src_height = h;
  info.out_width = nw + left + right;
  info.out_height = nh + top + bottom;
  info.resized_width = nw;
  info.resized_height = nh;
  info.pad_left = left;
  info.pad_top = top;
  info.scale = r;
  return info;
}

namespace {

void require_bgr(const cv::Mat& bgr, const char* what) {
  if (bgr.empty() || bgr.type() != CV_8UC3) {
    fail(ErrorCode::kInvalidArgument, "{}: expected a non-empty 8-bit BGR image", what);
  }
}

// `bgr` resized to the letterbox's inner size (INTER_LINEAR) in `out`, or `bgr` itself when it
// fits.
cv::Mat resized_for(const cv::Mat& bgr, const LetterboxInfo& lb, cv::Mat& out) {
  if (lb.resized_width == bgr.cols && lb.resized_height == bgr.rows) return bgr;
  cv::resize(bgr, out, cv::Size(lb.resized_width, lb.resized_height), 0, 0, cv::INTER_LINEAR);
  return out;
}

// One channel plane row: 8-bit values to float, as the exact quotient v / 255 (what
// Ultralytics' `im / 255` on a float32 tensor gives) or unchanged.
SHOAL_MULTIVERSION void plane_row_div255(const uint8_t* s, int n, float* d) {
  for (int x = 0; x < n; ++x) d[x] = static_cast<float>(s[x]) / 255.f;
}
SHOAL_MULTIVERSION void plane_row_plain(const uint8_t* s, int n, float* d) {
  for (int x = 0; x < n; ++x) d[x] = static_cast<float>(s[x]);
}

}  // namespace

cv::Mat letterbox(const cv::Mat& bgr, const LetterboxOptions& opt, LetterboxInfo* info) {
  require_bgr(bgr, "letterbox");
  const LetterboxInfo lb = letterbox_geometry(bgr.cols, bgr.rows, opt);
  cv::Mat out(lb.out_height, lb.out_width, CV_8UC3, cv::Scalar::all(opt.pad_value));
  cv::Mat roi = out(cv::Rect(lb.pad_left, lb.pad_top, lb.resized_width, lb.resized_height));
  if (lb.resized_width == bgr.cols && lb.resized_height == bgr.rows) {
    bgr.copyTo(roi);
  } else {
    // dst is a ROI of the right size and type: cv::resize writes into it without reallocating.
    cv::resize(bgr, roi, roi.size(), 0, 0, cv::INTER_LINEAR);
  }
  if (info) *info = lb;
  return out;
}

LetterboxInfo letterbox_into(const cv::Mat& bgr, const LetterboxOptions& opt, bool to_rgb,
                             bool div255, float* dst, int dst_width, int dst_height,
                             LetterboxScratch* scratch) {
  require_bgr(bgr, "letterbox");
  const LetterboxInfo lb = letterbox_geometry(bgr.cols, bgr.rows, opt);
  if (lb.out_width != dst_width || lb.out_height != dst_height) {
    fail(ErrorCode::kInvalidArgument, "letterbox: {}x{} image letterboxes to {}x{}, not {}x{}",
         bgr.cols, bgr.rows, lb.out_width, lb.out_height, dst_width, dst_height);
  }
  LetterboxScratch local;
  LetterboxScratch& buf = scratch ? *scratch : local;
  const cv::Mat img = resized_for(bgr, lb, buf.resized);
  cv::Mat* planes = buf.planes;
  cv::split(img, planes);  // B, G, R
  const size_t W = static_cast<size_t>(dst_width), plane = W * static_cast<size_t>(dst_height);
  const float pad =
      div255 ? static_cast<float>(opt.pad_value) / 255.f : static_cast<float>(opt.pad_value);
  const int nw = lb.resized_width, nh = lb.resized_height, left = lb.pad_left, top = lb.pad_top;
  for (int c = 0; c < 3; ++c) {
    float* d = dst + static_cast<size_t>(to_rgb ? 2 - c : c) * plane;
    std::fill(d, d + static_cast<size_t>(top) * W, pad);
    for (int y = 0; y < nh; ++y) {
      float* row = d + static_cast<size_t>(top + y) * W;
      std::fill(row, row + left, pad);
      const uint8_t* s = planes[c].ptr<uint8_t>(y);
      if (div255) {
        plane_row_div255(s, nw, row + left);
      } else {
        plane_row_plain(s, nw, row + left);
      }
      std::fill(row + left + nw, row + W, pad);
    }
    std::fill(d + static_cast<size_t>(top + nh) * W, d + plane, pad);
  }
  return lb;
}

cv::Mat classify_crop(const cv::Mat& bgr, int size) {
  if (bgr.empty() || bgr.type() != CV_8UC3) {
    fail(ErrorCode::kInvalidArgument, "classify_crop: expected a non-empty 8-bit BGR image");
  }
  const int w = bgr.cols, h = bgr.rows;
  int nw, nh;
  if (w <= h) {
    nw = size;
    nh = std::max(size, py_round(static_cast<double>(h) * size / w));
  } else {
    nh = size;
    nw = std::max(size, py_round(static_cast<double>(w) * size / h));
  }
  cv::Mat resized;
  if (nw == w && nh == h) {
    resized = bgr;
  } else {
    cv::resize(bgr, resized, cv::Size(nw, nh), 0, 0, cv::INTER_LINEAR);
  }
  // Ultralytics' CenterCrop: top = (h - size) // 2 (matches the shared reference crops).
  const int top = (nh - size) / 2, left = (nw - size) / 2;
  return resized(cv::Rect(left, top, size, size)).clone();
}

void hwc_to_chw(const cv::Mat& bgr, bool to_rgb, bool div255, float* dst) {
  static const auto kLut = [] {
    std::array<float, 256> t{};
    for (int i = 0; i < 256; ++i) t[static_cast<size_t>(i)] = static_cast<float>(i) / 255.f;
    return t;
  }();
  const int w = bgr.cols, h = bgr.rows;
  const size_t plane = static_cast<size_t>(w) * h;
  float* c0 = dst + (to_rgb ? 2 * plane : 0);  // receives B
  float* c1 = dst + plane;                     // G
  float* c2 = dst + (to_rgb ? 0 : 2 * plane);  // R
  for (int y = 0; y < h; ++y) {
    const uint8_t* s = bgr.ptr<uint8_t>(y);
    const size_t o = static_cast<size_t>(y) * w;
    if (div255) {
      for (int x = 0; x < w; ++x) {
        c0[o + x] = kLut[s[3 * x]];
        c1[o + x] = kLut[s[3 * x + 1]];
        c2[o + x] = kLut[s[3 * x + 2]];
      }
    } else {
      for (int x = 0; x < w; ++x) {
        c0[o + x] = s[3 * x];
        c1[o + x] = s[3 * x + 1];
        c2[o + x] = s[3 * x + 2];
      }
    }
  }
}

PreprocessKind preprocess_kind(const ModelInfo& info) {
  if (info.task == Task::kClassify) return PreprocessKind::kClassify;
  if (info.family == Family::kYolox) return PreprocessKind::kYolox;
  return PreprocessKind::kUltralytics;
}

namespace {

LetterboxInfo preprocess_f32(const cv::Mat& bgr, const ModelInfo& info, float* dst, int H, int W,
                             LetterboxScratch* scratch) {
  LetterboxInfo lb;
  cv::Mat img;
  switch (preprocess_kind(info)) {
    case PreprocessKind::kClassify: {
      if (H != W) {
        fail(ErrorCode::kUnsupported, "classify input {}x{}: only square inputs", W, H);
      }
      img = classify_crop(bgr, H);
      lb.src_width = bgr.cols;
      lb.src_height = bgr.rows;
      lb.out_width = lb.resized_width = W;
      lb.out_height = lb.resized_height = H;
      hwc_to_chw(img, true, true, dst);
      return lb;
    }
    case PreprocessKind::kYolox:
      return letterbox_into(bgr, yolox_letterbox(W, H), false, false, dst, W, H, scratch);
    case PreprocessKind::kUltralytics:
      return letterbox_into(bgr, ultralytics_letterbox(W, H), true, true, dst, W, H, scratch);
  }
  return lb;
}

}  // namespace

LetterboxInfo preprocess_into(const cv::Mat& bgr, const ModelInfo& info, Tensor& input, int b,
                              LetterboxScratch* scratch) {
  const Dims& d = input.dims();
  const bool half = input.dtype() == DType::kF16;
  if ((input.dtype() != DType::kF32 && !half) || d.size() != 4 || d[1] != 3 || b < 0 || b >= d[0]) {
    fail(ErrorCode::kInvalidArgument, "preprocess: input tensor {} {} cannot take batch slot {}",
         dtype_name(input.dtype()), dims_str(d), b);
  }
  const int H = static_cast<int>(d[2]), W = static_cast<int>(d[3]);
  const size_t offset = static_cast<size_t>(b) * 3 * H * W;
  if (!half) return preprocess_f32(bgr, info, input.data<float>() + offset, H, W, scratch);
  // A half-precision model: the planes in float32, then converted into its float16 input.
  std::vector<float> local;
  std::vector<float>& planes = scratch ? scratch->float_planes : local;
  planes.resize(static_cast<size_t>(3) * H * W);
  LetterboxInfo lb = preprocess_f32(bgr, info, planes.data(), H, W, scratch);
  f32_to_f16_n(planes.data(), input.data<uint16_t>() + offset, static_cast<int64_t>(planes.size()));
  return lb;
}

}  // namespace shoal::vision
