// Pipelines: several models of a ModelManager run on the same frame (e.g. navigation =
// tactile-path segmentation + obstacle detection). The frame is decoded once, and letterboxed once
// per distinct pre-processing (family and input size): models whose inputs match share it. Each
// model runs through vision's Detector (the one image -> results implementation) on a plan leased
// from the manager. Sits above vision and manager; knows nothing about HTTP.
#pragma once

#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "manager/model_manager.h"
#include "vision/detector.h"

namespace shoal::service {

struct PipelineOutput {
  std::string model;
  vision::Result result;
};

struct PipelineRun {
  std::vector<PipelineOutput> outputs;  // one per model, in the pipeline's order
  int preprocessed = 0;                 // letterboxes computed (<= models)
};

// Pipeline `name` of `cfg`; throws kNotFound naming the config and the pipelines it has.
const PipelineConfig& find_pipeline(const RepositoryConfig& cfg, const std::string& name);

// Runs pipeline `name` of `mgr`'s config on one BGR image (CV_8UC3). `opt` applies to every
// model (thresholds); each model's task/family from the config are used as hints. Throws
// shoal::Error (unknown pipeline, a model that is not a single-image-input vision model, ...).
PipelineRun run_pipeline(ModelManager& mgr, const std::string& name, const cv::Mat& bgr,
                         const vision::DetectorOptions& opt = {});

}  // namespace shoal::service
