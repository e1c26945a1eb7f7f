#include "vision/pipeline.h"

#include <chrono>
#include <map>

#include "core/error.h"
#include "vision/decode.h"
#include "vision/preprocess.h"

namespace shoal::vision {
namespace {

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

PipelineRun run_pipeline(ModelManager& mgr, const std::string& name, const cv::Mat& bgr,
                         const DetectorOptions& opt) {
  if (bgr.empty() || bgr.type() != CV_8UC3) {
    fail(ErrorCode::kInvalidArgument, "pipeline '{}': expected a non-empty 8-bit BGR image", name);
  }
  const PipelineConfig* pipe = nullptr;
  for (const PipelineConfig& p : mgr.config().pipelines) {
    if (p.name == name) pipe = &p;
  }
  if (!pipe) {
    std::string names;
    for (const PipelineConfig& p : mgr.config().pipelines) names += (names.empty() ? "" : ", ") + p.name;
    fail(ErrorCode::kNotFound, "no pipeline named '{}'; the config has: {}", name,
         names.empty() ? "none" : names);
  }
  struct Prepared {
    Tensor input;
    LetterboxInfo lb;
    double ms = 0;
  };
  std::map<std::string, Prepared> prepared;  // by pre-processing kind and input dims
  PipelineRun run;
  for (const std::string& model : pipe->models) {
    const ModelConfig* mc = mgr.config().find(model);
    ModelManager::Lease lease = mgr.acquire(model);
    const CompiledModel& cm = lease.model();
    if (cm.inputs().size() != 1 || cm.inputs()[0].dims.size() != 4 || cm.inputs()[0].dtype != DType::kF32) {
      fail(ErrorCode::kUnsupported, "pipeline '{}': model '{}' does not take one float32 image [B,3,H,W]",
           name, model);
    }
    std::vector<Dims> out_dims;
    for (const TensorInfo& t : cm.outputs()) out_dims.push_back(t.dims);
    DetectorOptions o = opt;
    if (mc && !mc->task.empty()) o.hints.task = mc->task;
    if (mc && !mc->family.empty()) o.hints.family = mc->family;
    ModelInfo info = infer_model_info(lease.metadata(), cm.inputs()[0].dims, out_dims, o.hints);
    const DecodeOptions dec = make_decode_options(info.family, o);
    // Families pre-process differently (Ultralytics: centred letterbox, RGB /255; YOLOX: top-left
    // pad, BGR 0..255; classify: resize + crop), so the kind is part of the key.
    const std::string key = fmt::format("{}/{}/{}", static_cast<int>(info.family),
                                        info.task == Task::kClassify ? 1 : 0, dims_str(cm.inputs()[0].dims));
    auto it = prepared.find(key);
    if (it == prepared.end()) {
      auto t0 = std::chrono::steady_clock::now();
      Prepared p;
      p.input = Tensor(DType::kF32, cm.inputs()[0].dims);
      p.lb = preprocess_into(bgr, info, p.input, 0);
      p.ms = ms_since(t0);
      it = prepared.emplace(key, std::move(p)).first;
      run.preprocessed++;
    }
    auto t0 = std::chrono::steady_clock::now();
    std::vector<Tensor> outs = lease.run({it->second.input});
    const double infer = ms_since(t0);
    for (Tensor& t : outs) {
      if (t.dtype() != DType::kF32) t = cast_tensor(t, DType::kF32);
    }
    t0 = std::chrono::steady_clock::now();
    PipelineOutput po;
    po.model = model;
    po.result = postprocess(outs, 0, info, it->second.lb, dec);
    po.result.postprocess_ms = ms_since(t0);
    po.result.preprocess_ms = it->second.ms;
    po.result.inference_ms = infer;
    run.outputs.push_back(std::move(po));
  }
  return run;
}

}  // namespace shoal::vision
