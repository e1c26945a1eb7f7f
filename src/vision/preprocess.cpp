#include "vision/preprocess.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "core/error.h"

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

cv::Mat letterbox(const cv::Mat& bgr, const LetterboxOptions& opt, LetterboxInfo* info) {
  if (bgr.empty() || bgr.type() != CV_8UC3) {
    fail(ErrorCode::kInvalidArgument, "letterbox: expected a non-empty 8-bit BGR image");
  }
  if (opt.width < 1 || opt.height < 1) {
    fail(ErrorCode::kInvalidArgument, "letterbox: bad target size {}x{}", opt.width, opt.height);
  }
  const int w = bgr.cols, h = bgr.rows;
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
  const int ow = nw + left + right, oh = nh + top + bottom;
  cv::Mat out(oh, ow, CV_8UC3, cv::Scalar::all(opt.pad_value));
  cv::Mat roi = out(cv::Rect(left, top, nw, nh));
  if (nw == w && nh == h) {
    bgr.copyTo(roi);
  } else {
    // dst is a ROI of the right size and type: cv::resize writes into it without reallocating.
    cv::resize(bgr, roi, cv::Size(nw, nh), 0, 0, cv::INTER_LINEAR);
  }
  if (info) {
    info->src_width = w;
    info->src_height = h;
    info->out_width = ow;
    info->out_height = oh;
    info->resized_width = nw;
    info->resized_height = nh;
    info->pad_left = left;
    info->pad_top = top;
    info->scale = r;
  }
  return out;
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

LetterboxInfo preprocess_into(const cv::Mat& bgr, const ModelInfo& info, Tensor& input, int b) {
  const Dims& d = input.dims();
  if (input.dtype() != DType::kF32 || d.size() != 4 || d[1] != 3 || b < 0 || b >= d[0]) {
    fail(ErrorCode::kInvalidArgument, "preprocess: input tensor {} {} cannot take batch slot {}",
         dtype_name(input.dtype()), dims_str(d), b);
  }
  const int H = static_cast<int>(d[2]), W = static_cast<int>(d[3]);
  float* dst = input.data<float>() + static_cast<size_t>(b) * 3 * H * W;
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
      img = letterbox(bgr, yolox_letterbox(W, H), &lb);
      hwc_to_chw(img, false, false, dst);
      return lb;
    case PreprocessKind::kUltralytics:
      img = letterbox(bgr, ultralytics_letterbox(W, H), &lb);
      hwc_to_chw(img, true, true, dst);
      return lb;
  }
  return lb;
}

}  // namespace shoal::vision
