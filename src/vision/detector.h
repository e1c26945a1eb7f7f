// The vision library entry point: a Detector owns one compiled model (compiled once for its
// input size) and runs decode -> pre-process -> Session::run -> decoder -> NMS on images.
// Knows nothing about the CLI, HTTP or the model registry.
#pragma once

#include <memory>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

#include "graph/ir.h"
#include "runtime/compiled_model.h"
#include "vision/decode.h"
#include "vision/model_info.h"
#include "vision/preprocess.h"
#include "vision/types.h"

namespace shoal::vision {

struct DetectorOptions {
  float conf = 0.25f;            // keep scores > conf
  std::optional<float> iou;      // default: 0.7 (Ultralytics) or 0.45 (YOLOX)
  std::optional<bool> agnostic;  // default: class-aware (Ultralytics), agnostic (YOLOX)
  int max_det = 300;
  int max_nms = 30000;
  bool masks = true;  // segment models: compute instance masks
  int top_k = 5;      // classify models
  ModelHints hints;   // --family / --task / --names
  std::string backend = "cpu";
  DType precision = DType::kF32;
};

// Not thread-safe: one Detector runs one image (or batch) at a time; use one per thread.
class Detector {
 public:
  // Imports and compiles `model_path`. For inputs with symbolic dims: batch 1, and H x W from
  // the metadata imgsz, else 640 (224 for classifiers). Throws shoal::Error.
  static Detector open(const std::string& model_path, const DetectorOptions& opt = {});
  static Detector from_graph(const Graph& graph, const DetectorOptions& opt);

  const ModelInfo& info() const { return info_; }
  const DecodeOptions& decode_options() const { return decode_; }
  const CompiledModel& model() const { return session_->model(); }

  // One image (CV_8UC3 BGR). Throws shoal::Error.
  Result detect(const cv::Mat& bgr);
  // Several images, batched when the model's batch size is above 1.
  std::vector<Result> detect(const std::vector<cv::Mat>& images);
  // Decodes encoded image bytes (JPEG/PNG/BMP, with the size limits of image_io.h; `what` names
  // them in errors) and detects. Throws shoal::Error.
  Result detect_encoded(const uint8_t* data, size_t size, const std::string& what);
  // Reads, decodes and detects. Throws shoal::Error.
  Result detect_file(const std::string& path);
  // The photo the last detect_encoded / detect_file decoded (e.g. to annotate it); valid until
  // the next of those calls.
  const cv::Mat& decoded_image() const { return decoded_; }

 private:
  Detector() = default;
  std::vector<Result> run_batch(const std::vector<const cv::Mat*>& images);

  std::unique_ptr<Session> session_;
  ModelInfo info_;
  DecodeOptions decode_;
  // Reused between images: the decoded photo and the letterbox's buffers.
  cv::Mat decoded_;
  LetterboxScratch scratch_;
};

// The decode options a family's defaults plus the user's overrides give.
DecodeOptions make_decode_options(Family family, const DetectorOptions& opt);

}  // namespace shoal::vision
