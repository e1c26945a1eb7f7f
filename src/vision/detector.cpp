#include "vision/detector.h"

#include <chrono>
#include <cstring>

#include "core/error.h"
#include "onnx/import.h"
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
  Graph g = import_onnx_file(model_path);
  return from_graph(g, opt);
}

Detector Detector::from_graph(const Graph& graph, const DetectorOptions& opt) {
  if (graph.inputs.size() != 1) {
    fail(ErrorCode::kUnsupported, "vision models take one image input; this one has {}: {}",
         graph.inputs.size(), describe_inputs(graph));
  }
  const Value& in = graph.value(graph.inputs[0]);
  Dims dims = in.dims;
  if (dims.size() != 4) {
    fail(ErrorCode::kUnsupported, "image input '{}' is {}: expected [batch, 3, height, width]",
         in.name, dims_str(dims));
  }
  if (dims[0] < 0) dims[0] = 1;
  if (dims[1] < 0) dims[1] = 3;
  if (dims[2] < 0 || dims[3] < 0) {
    auto [h, w] = default_input_size(graph.metadata);
    if (dims[2] < 0) dims[2] = h;
    if (dims[3] < 0) dims[3] = w;
  }
  CompileRequest req;
  req.backend = opt.backend;
  req.precision = opt.precision;
  req.input_dims[in.name] = dims;
  auto cm = CompiledModel::compile(graph, req);
  if (cm->inputs().size() != 1 || cm->inputs()[0].dtype != DType::kF32) {
    fail(ErrorCode::kUnsupported, "image input must be float32: {}", describe_inputs(graph));
  }
  std::vector<Dims> out_dims;
  for (const TensorInfo& t : cm->outputs()) out_dims.push_back(t.dims);

  Detector d;
  d.info_ = infer_model_info(graph.metadata, cm->inputs()[0].dims, out_dims, opt.hints);
  d.decode_ = make_decode_options(d.info_.family, opt);
  d.session_ = std::make_unique<Session>(cm);
  // Warm-up: one letterbox and one inference on a grey frame, so that the arena's pages, the
  // letterbox buffers and OpenCV's and oneDNN's lazy set-up are paid here rather than by the
  // first photo (which otherwise showed ~5 ms more pre-processing and ~4 ms more inference).
  const cv::Mat grey(48, 64, CV_8UC3, cv::Scalar::all(114));
  Tensor input = d.session_->input_view(0);
  for (int64_t b = 0; b < input.dims()[0]; ++b) {
    preprocess_into(grey, d.info_, input, static_cast<int>(b), &d.scratch_);
  }
  d.session_->run_in_place();
  return d;
}

std::vector<Result> Detector::run_batch(const std::vector<const cv::Mat*>& images) {
  using clock = std::chrono::steady_clock;
  std::vector<LetterboxInfo> lbs(images.size());
  std::vector<Result> results(images.size());
  // Zero-copy: the images are pre-processed straight into the arena's input, and decoded from
  // the arena's outputs.
  auto t0 = clock::now();
  Tensor input = session_->input_view(0);
  for (size_t i = 0; i < images.size(); ++i) {
    lbs[i] = preprocess_into(*images[i], info_, input, static_cast<int>(i), &scratch_);
  }
  if (static_cast<int64_t>(images.size()) < input.dims()[0]) {  // a last, partial batch
    const size_t slot = input.nbytes() / static_cast<size_t>(input.dims()[0]);
    std::memset(static_cast<char*>(input.raw()) + images.size() * slot, 0,
                input.nbytes() - images.size() * slot);
  }
  const double pre = ms_since(t0);
  t0 = clock::now();
  session_->run_in_place();
  const double infer = ms_since(t0);
  std::vector<Tensor> outs;
  for (size_t i = 0; i < model().outputs().size(); ++i) {
    Tensor t = session_->output_view(i);
    outs.push_back(t.dtype() == DType::kF32 ? t : cast_tensor(t, DType::kF32));
  }
  for (size_t i = 0; i < images.size(); ++i) {
    t0 = clock::now();
    results[i] = postprocess(outs, static_cast<int>(i), info_, lbs[i], decode_);
    results[i].postprocess_ms = ms_since(t0);
    results[i].preprocess_ms = pre / static_cast<double>(images.size());
    results[i].inference_ms = infer / static_cast<double>(images.size());
  }
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
