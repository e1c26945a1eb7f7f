#include "service/pipeline.h"

#include <chrono>
#include <map>

#include "core/error.h"

namespace shoal::service {
namespace {

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

const PipelineConfig& find_pipeline(const RepositoryConfig& cfg, const std::string& name) {
  for (const PipelineConfig& p : cfg.pipelines) {
    if (p.name == name) return p;
  }
  std::string names;
  for (const PipelineConfig& p : cfg.pipelines) names += (names.empty() ? "" : ", ") + p.name;
  fail(ErrorCode::kNotFound, "{}: no pipeline named '{}'; the config has: {}", cfg.source, name,
       names.empty() ? "none" : names);
}

PipelineRun run_pipeline(ModelManager& mgr, const std::string& name, const cv::Mat& bgr,
                         const vision::DetectorOptions& opt) {
  const PipelineConfig& pipe = find_pipeline(mgr.config(), name);
  if (bgr.empty() || bgr.type() != CV_8UC3) {
    fail(ErrorCode::kInvalidArgument, "pipeline '{}': expected a non-empty 8-bit BGR image", name);
  }
  struct Prepared {
    Tensor input;  // a copy of the first model's letterboxed input
    vision::LetterboxInfo lb;
    double ms = 0;
  };
  std::map<std::string, Prepared> prepared;  // by pre-processing kind and input dims
  PipelineRun run;
  for (const std::string& model : pipe.models) {
    const ModelConfig* mc = mgr.config().find(model);
    ModelManager::Lease lease = mgr.acquire(model);
    vision::DetectorOptions o = opt;
    if (mc && !mc->task.empty()) o.hints.task = mc->task;
    if (mc && !mc->family.empty()) o.hints.family = mc->family;
    std::unique_ptr<vision::Detector> det;
    try {
      mgr.with_memory([&] {
        det = std::make_unique<vision::Detector>(lease.plan(), lease.metadata(), mgr.arenas(), o);
      });
    } catch (const Error& e) {
      fail(e.code(), "pipeline '{}': model '{}': {}", name, model, e.what());
    }
    const vision::ModelInfo& info = det->info();
    // Families pre-process differently (Ultralytics: centred letterbox, RGB /255; YOLOX: top-left
    // pad, BGR 0..255; classify: resize + crop), so the kind is part of the key.
    const std::string key =
        fmt::format("{}/{}/{}", static_cast<int>(info.family),
                    info.task == vision::Task::kClassify ? 1 : 0, dims_str(det->input().dims()));
    auto it = prepared.find(key);
    if (it == prepared.end()) {
      auto t0 = std::chrono::steady_clock::now();
      Prepared p;
      p.lb = det->prepare(bgr);
      p.input = det->input().clone();
      p.ms = ms_since(t0);
      it = prepared.emplace(key, std::move(p)).first;
      run.preprocessed++;
    } else {
      det->set_input(it->second.input);
    }
    PipelineOutput po;
    po.model = model;
    po.result = det->run_prepared(it->second.lb);
    po.result.preprocess_ms = it->second.ms;
    run.outputs.push_back(std::move(po));
  }
  return run;
}

}  // namespace shoal::service
