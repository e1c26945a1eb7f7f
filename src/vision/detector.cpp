#include "vision/detector.h"

#include <chrono>
#include <cstring>

#include "core/error.h"
#include "vision/image_io.h"
#include "vision/preprocess.h"

namespace shoal::vision {
namespace {

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

DecodeOptions make_decode_options(Family family, const DetectorOptions& opt) {
  DecodeOptions d = default_decode_options(family);
  d.conf = opt.conf;
  if (opt.iou) d.nms.iou = *opt.iou;
  if (opt.agnostic) d.nms.agnostic = *opt.agnostic;
  d.nms.max_det = opt.max_det;
  d.nms.max_nms = opt.max_nms;
  d.masks = opt.masks;
  d.top_k = opt.top_k;
  d.classes = opt.classes;
  if (!(d.conf >= 0.f && d.conf <= 1.f)) {
    fail(ErrorCode::kInvalidArgument, "conf {} is outside [0, 1]", d.conf);
  }
  if (!(d.nms.iou >= 0.f && d.nms.iou <= 1.f)) {
    fail(ErrorCode::kInvalidArgument, "iou {} is outside [0, 1]", d.nms.iou);
  }
  if (d.nms.max_det < 1)
    fail(ErrorCode::kInvalidArgument, "max_det {} must be >= 1", d.nms.max_det);
  return d;
}

Detector Detector::open(const std::string& model_path, const DetectorOptions& opt) {
  return open(ModelSource::file(model_path), opt);
}

Detector Detector::open(const ModelSource& source, const DetectorOptions& opt) {
  LoadOptions lo;
  lo.backend = opt.backend;
  lo.precision = opt.precision;
  lo.warmup = false;  // the Detector warms up with a letterboxed frame
  if (opt.imgsz_h > 0 && opt.imgsz_w > 0) {
    lo.dims.first_input_shape = {-1, 3, opt.imgsz_h, opt.imgsz_w};
  }
  return Detector(LoadedModel::load(source, lo), opt);
}

Detector::Detector(std::shared_ptr<LoadedModel> model, const DetectorOptions& opt)
    : loaded_(std::move(model)) {
  init(loaded_->default_plan(), loaded_->metadata(), loaded_->memory().arenas(), opt);
  warm_up();
}

Detector::Detector(std::shared_ptr<const CompiledModel> plan,
                   const std::map<std::string, std::string>& metadata, ArenaPool& arenas,
                   const DetectorOptions& opt) {
  init(std::move(plan), metadata, arenas, opt);
}

void Detector::init(std::shared_ptr<const CompiledModel> plan,
                    const std::map<std::string, std::string>& metadata, ArenaPool& arenas,
                    const DetectorOptions& opt) {
  const std::vector<TensorInfo>& ins = plan->inputs();
  if (ins.size() != 1 || ins[0].dims.size() != 4 ||
      (ins[0].dtype != DType::kF32 && ins[0].dtype != DType::kF16)) {
    std::string got;
    for (const TensorInfo& t : ins) {
      got += fmt::format("{}{} {} {}", got.empty() ? "" : "; ", t.name, dtype_name(t.dtype),
                         dims_str(t.dims));
    }
    fail(ErrorCode::kUnsupported,
         "vision models take one float32 or float16 image input [batch, 3, height, width]; this "
         "one has {}",
         got.empty() ? "none" : got);
  }
  std::vector<Dims> out_dims;
  for (const TensorInfo& t : plan->outputs()) out_dims.push_back(t.dims);
  info_ = infer_model_info(metadata, ins[0].dims, out_dims, opt.hints);
  decode_ = make_decode_options(info_.family, opt);
  session_ = std::make_unique<Session>(std::move(plan), arenas);
}

void Detector::warm_up() {
  // One letterbox and one inference on a grey frame, so that the arena's pages, the letterbox
  // buffers and OpenCV's and oneDNN's lazy set-up are paid here rather than by the first photo
  // (which otherwise showed ~5 ms more pre-processing and ~4 ms more inference).
  const cv::Mat grey(48, 64, CV_8UC3, cv::Scalar::all(114));
  Tensor input = session_->input_view(0);
  for (int64_t b = 0; b < input.dims()[0]; ++b) {
    preprocess_into(grey, info_, input, static_cast<int>(b), &scratch_);
  }
  session_->run_in_place();
}

LetterboxInfo Detector::prepare(const cv::Mat& bgr) {
  if (bgr.empty() || bgr.type() != CV_8UC3) {
    fail(ErrorCode::kInvalidArgument, "detect: expected a non-empty 8-bit BGR image (CV_8UC3)");
  }
  Tensor in = input();
  return preprocess_into(bgr, info_, in, 0, &scratch_);
}

void Detector::set_input(const Tensor& prepared) {
  Tensor in = input();
  if (prepared.dtype() != in.dtype() || prepared.dims() != in.dims()) {
    fail(ErrorCode::kInvalidArgument, "prepared input {} {} does not fit the model's input {} {}",
         dtype_name(prepared.dtype()), dims_str(prepared.dims()), dtype_name(in.dtype()),
         dims_str(in.dims()));
  }
  std::memcpy(in.raw(), prepared.raw(), in.nbytes());
}

Result Detector::run_prepared(const LetterboxInfo& lb) { return run_and_decode({lb}).front(); }

std::vector<Result> Detector::run_and_decode(const std::vector<LetterboxInfo>& lbs) {
  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  session_->run_in_place();
  const double infer = ms_since(t0);
  // Decoded straight from the arena's outputs (views, no copies for float32 ones).
  std::vector<Tensor> outs;
  for (size_t i = 0; i < model().outputs().size(); ++i) {
    Tensor t = session_->output_view(i);
    outs.push_back(t.dtype() == DType::kF32 ? t : cast_tensor(t, DType::kF32));
  }
  std::vector<Result> results(lbs.size());
  for (size_t i = 0; i < lbs.size(); ++i) {
    t0 = clock::now();
    results[i] = postprocess(outs, static_cast<int>(i), info_, lbs[i], decode_);
    results[i].postprocess_ms = ms_since(t0);
    results[i].inference_ms = infer / static_cast<double>(lbs.size());
  }
  return results;
}

std::vector<Result> Detector::run_batch(const std::vector<const cv::Mat*>& images) {
  // Zero-copy: the images are pre-processed straight into the arena's input.
  auto t0 = std::chrono::steady_clock::now();
  std::vector<LetterboxInfo> lbs(images.size());
  Tensor in = input();
  for (size_t i = 0; i < images.size(); ++i) {
    lbs[i] = preprocess_into(*images[i], info_, in, static_cast<int>(i), &scratch_);
  }
  if (static_cast<int64_t>(images.size()) < in.dims()[0]) {  // a last, partial batch
    const size_t slot = in.nbytes() / static_cast<size_t>(in.dims()[0]);
    std::memset(static_cast<char*>(in.raw()) + images.size() * slot, 0,
                in.nbytes() - images.size() * slot);
  }
  const double pre = ms_since(t0);
  std::vector<Result> results = run_and_decode(lbs);
  for (Result& r : results) r.preprocess_ms = pre / static_cast<double>(images.size());
  return results;
}

Result Detector::detect(const cv::Mat& bgr) {
  if (bgr.empty() || bgr.type() != CV_8UC3) {
    fail(ErrorCode::kInvalidArgument, "detect: expected a non-empty 8-bit BGR image (CV_8UC3)");
  }
  return run_batch({&bgr}).front();
}

std::vector<Result> Detector::detect(const std::vector<cv::Mat>& images) {
  for (const cv::Mat& m : images) {
    if (m.empty() || m.type() != CV_8UC3) {
      fail(ErrorCode::kInvalidArgument, "detect: expected non-empty 8-bit BGR images (CV_8UC3)");
    }
  }
  std::vector<Result> all;
  const size_t B = static_cast<size_t>(std::max(1, info_.batch));
  for (size_t i = 0; i < images.size(); i += B) {
    std::vector<const cv::Mat*> chunk;
    for (size_t j = i; j < std::min(images.size(), i + B); ++j) chunk.push_back(&images[j]);
    std::vector<Result> r = run_batch(chunk);
    all.insert(all.end(), std::make_move_iterator(r.begin()), std::make_move_iterator(r.end()));
  }
  return all;
}

Result Detector::detect_encoded(const uint8_t* data, size_t size, const std::string& what) {
  auto t0 = std::chrono::steady_clock::now();
  decode_image_into(data, size, what, decoded_);
  const double dec = ms_since(t0);
  Result r = detect(decoded_);
  r.image = what;
  r.decode_ms = dec;
  return r;
}

Result Detector::detect_file(const std::string& path) {
  const std::vector<uint8_t> bytes = read_image_bytes(path);
  return detect_encoded(bytes.data(), bytes.size(), path);
}

}  // namespace shoal::vision
