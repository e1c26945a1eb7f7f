// Pipelines: several models of one ModelManager on the same frame share one letterbox when their
// inputs match, and each gives exactly what its own Detector gives on that image.
#include <gtest/gtest.h>

#include <filesystem>
#include <opencv2/core.hpp>

#include <fmt/format.h>

#include "core/error.h"
#include "manager/model_manager.h"
#include "model_builder/builder.h"
#include "service/pipeline.h"

namespace shoal::service {

using vision::Detector;
using vision::DetectorOptions;
using vision::Result;
namespace {

namespace fs = std::filesystem;

TEST(VisionPipeline, ModelsWithOneInputSizeShareOneLetterboxAndMatchTheirDetectors) {
  const std::string dir = testing::TempDir() + "/shoal_pipeline";
  fs::create_directories(dir);
  RepositoryConfig cfg;
  cfg.memory_budget = 512u << 20;
  for (int i = 0; i < 3; ++i) {
    BuilderOptions o;
    o.imgsz = i < 2 ? 96 : 128;  // two share an input size, the third does not
    o.num_classes = 3;
    o.seed = 40 + static_cast<uint32_t>(i);
    ModelConfig m;
    m.name = fmt::format("p{}", i);
    m.path = dir + "/" + m.name + ".onnx";
    save_bytes(m.path, build_yolo_detector_onnx(o));
    cfg.models.push_back(m);
  }
  cfg.pipelines.push_back({"all", {"p0", "p1", "p2"}});
  ManagerOptions mo;
  mo.housekeeping_period = std::chrono::milliseconds(0);
  ModelManager mgr(cfg, mo);
  cv::Mat img(70, 110, CV_8UC3);
  cv::randu(img, 0, 255);
  DetectorOptions opt;
  opt.conf = 0.05f;
  PipelineRun run = run_pipeline(mgr, "all", img, opt);
  EXPECT_EQ(run.preprocessed, 2);
  ASSERT_EQ(run.outputs.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    Detector d = Detector::open(cfg.models[i].path, opt);
    Result want = d.detect(img);
    const Result& got = run.outputs[i].result;
    EXPECT_EQ(run.outputs[i].model, cfg.models[i].name);
    ASSERT_EQ(got.detections.size(), want.detections.size()) << cfg.models[i].name;
    for (size_t k = 0; k < got.detections.size(); ++k) {
      EXPECT_EQ(got.detections[k].class_id, want.detections[k].class_id);
      EXPECT_FLOAT_EQ(got.detections[k].score, want.detections[k].score);
      EXPECT_FLOAT_EQ(got.detections[k].box.x1, want.detections[k].box.x1);
      EXPECT_FLOAT_EQ(got.detections[k].box.y2, want.detections[k].box.y2);
    }
  }
  EXPECT_THROW(run_pipeline(mgr, "nope", img, opt), Error);
  // The pipeline's models ran on leased plans with arenas from the manager's pool: everything
  // they used is in the manager's accounting, and nothing is leased any more.
  EXPECT_GE(mgr.memory().arenas, mgr.status("p2").arena_bytes);
  for (const ModelStatus& st : mgr.statuses()) EXPECT_EQ(st.leases, 0) << st.name;
}

}  // namespace
}  // namespace shoal::service
