// The vision library entry point: a Detector runs one loaded model on images — decode ->
// pre-process (straight into the arena's input) -> run -> decoder -> NMS — the one
// implementation of that sequence (the pipelines reuse it). Models come through the model
// loader (runtime/model_loader.h); the arena is borrowed from the model's MemoryContext, so
// every byte is accounted. Knows nothing about the CLI, HTTP or the model registry.
#pragma once

#include <memory>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

#include "runtime/model_loader.h"
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
  bool masks = true;            // segment models: compute instance masks
  int top_k = 5;                // classify models
  std::vector<int> classes;     // only these class ids (empty: all); see DecodeOptions
  ModelHints hints;             // --family / --task / --names
  std::string backend = "cpu";  // for open()
  // open(): the input's height and width for a model whose H and W are symbolic (0: the dims
  // rule's, from the metadata's imgsz else 640). A model with fixed dims that differ is refused.
  int imgsz_h = 0, imgsz_w = 0;
  DType precision = DType::kF32;
};

// Not thread-safe: one Detector runs one image (or batch) at a time; use one per thread.
class Detector {
 public:
  // Loads `model_path` through the model loader (an unlimited budget of its own; its
  // accounting in model()->bytes()), for the dims rule's input size (symbolic batch 1, H x W
  // from the metadata's imgsz, else 640, 224 for classifiers), then warms up. Throws
  // shoal::Error.
  static Detector open(const std::string& model_path, const DetectorOptions& opt = {});
  static Detector open(const ModelSource& source, const DetectorOptions& opt = {});
  // The same for a model already loaded (its default plan).
  explicit Detector(std::shared_ptr<LoadedModel> model, const DetectorOptions& opt = {});
  // For one plan of a model someone else holds (a manager lease): `plan` and `arenas` must
  // outlive the Detector; `metadata` is the model's. No warm-up.
  Detector(std::shared_ptr<const CompiledModel> plan,
           const std::map<std::string, std::string>& metadata, ArenaPool& arenas,
           const DetectorOptions& opt);

  const ModelInfo& info() const { return info_; }
  const DecodeOptions& decode_options() const { return decode_; }
  const CompiledModel& model() const { return session_->model(); }
  // The loaded model when the Detector holds it (open() and the LoadedModel constructor).
  const LoadedModel* loaded() const { return loaded_.get(); }

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

  // In steps, for pipelines that pre-process a frame once for several models: letterbox `bgr`
  // into the model's input (batch slot 0), or copy an input another Detector of the same
  // pre-processing prepared; then run and decode.
  LetterboxInfo prepare(const cv::Mat& bgr);
  Tensor input() { return session_->input_view(0); }
  void set_input(const Tensor& prepared);
  Result run_prepared(const LetterboxInfo& lb);

 private:
  void init(std::shared_ptr<const CompiledModel> plan,
            const std::map<std::string, std::string>& metadata, ArenaPool& arenas,
            const DetectorOptions& opt);
  void warm_up();
  std::vector<Result> run_batch(const std::vector<const cv::Mat*>& images);
  // Runs the prepared input (one letterbox per batch slot) and decodes each slot.
  std::vector<Result> run_and_decode(const std::vector<LetterboxInfo>& lbs);

  std::shared_ptr<LoadedModel> loaded_;  // declared first: outlives the session's arena
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
