// `shoal pipeline --config models.yaml --name NAME IMAGE... [--json]`: runs a configured pipeline
// (several models on the same frame, one shared letterbox per input size) through a ModelManager
// under the config's memory budget, and prints each model's results per image.
#include <CLI/CLI.hpp>
#include <iostream>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "manager/model_manager.h"
#include "vision/image_io.h"
#include "service/pipeline.h"
#include "vision/result_json.h"

namespace shoal {
namespace {

struct PipelineOptions {
  std::string config, name;
  std::vector<std::string> images;
  float conf = 0.25f;
  bool json = false;
};

PipelineOptions g_opts;
CLI::App* g_cmd = nullptr;

}  // namespace

void register_pipeline_command(CLI::App& app) {
  g_cmd = app.add_subcommand("pipeline", "run a configured pipeline (several models, one frame) on images");
  g_cmd->add_option("--config", g_opts.config, "models.yaml")->required();
  g_cmd->add_option("--name", g_opts.name, "pipeline name")->required();
  g_cmd->add_option("images", g_opts.images, "image files")->required();
  g_cmd->add_option("--conf", g_opts.conf, "confidence threshold")->check(CLI::Range(0.0, 1.0));
  g_cmd->add_flag("--json", g_opts.json, "one JSON document");
}

std::optional<int> run_pipeline_command() {
  if (!g_cmd || !*g_cmd) return std::nullopt;
  ModelManager mgr(load_repository_config(g_opts.config));
  vision::DetectorOptions opt;
  opt.conf = g_opts.conf;
  nlohmann::json all = nlohmann::json::array();
  int rc = 0;
  for (const std::string& path : g_opts.images) {
    nlohmann::json item;
    item["image"] = path;
    try {
      cv::Mat img = vision::read_image(path);
      service::PipelineRun run = service::run_pipeline(mgr, g_opts.name, img, opt);
      item["width"] = img.cols;
      item["height"] = img.rows;
      item["letterboxes"] = run.preprocessed;
      nlohmann::json models = nlohmann::json::object();
      for (const service::PipelineOutput& o : run.outputs) {
        nlohmann::json r = vision::result_to_json(o.result);
        r.erase("image");
        r.erase("width");
        r.erase("height");
        models[o.model] = r;
      }
      item["models"] = models;
      if (!g_opts.json) {
        fmt::print("{} ({}x{}, {} letterbox(es) for {} models)\n", path, img.cols, img.rows, run.preprocessed,
                   run.outputs.size());
        for (const service::PipelineOutput& o : run.outputs) {
          fmt::print("  {}: {} detection(s){}, {:.1f} ms inference\n", o.model, o.result.detections.size(),
                     o.result.top5.empty() ? "" : fmt::format(", top-1 {}", o.result.top5[0].class_name),
                     o.result.inference_ms);
          for (const vision::Detection& d : o.result.detections) {
            fmt::print("    {:<16} {:.2f}  [{:.0f}, {:.0f}, {:.0f}, {:.0f}]\n", d.class_name, d.score, d.box.x1,
                       d.box.y1, d.box.x2, d.box.y2);
          }
        }
      }
    } catch (const Error& e) {
      rc = 1;
      item["error"] = e.what();
      if (!g_opts.json) fmt::print(stderr, "{}: error: {}\n", path, e.what());
    }
    all.push_back(item);
  }
  if (g_opts.json) std::cout << all.dump() << "\n";
  return rc;
}

}  // namespace shoal
