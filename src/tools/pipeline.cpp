// `shoal pipeline --config models.yaml --name NAME IMAGES...`: runs a configured pipeline (several
// models on the same frame, one shared letterbox per input size) through a ModelManager under the
// config's memory budget, and prints each model's results per image, as `shoal detect` does for
// one model: folders, thresholds, --json, --save (every model's results drawn on one image), and
// at the end what the manager did (loads, evictions).
#include "service/pipeline.h"

#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <optional>

#include "core/error.h"
#include "manager/model_manager.h"
#include "tools/commands.h"
#include "tools/video_run.h"
#include "vision/draw.h"
#include "vision/image_io.h"
#include "vision/result_json.h"
#include "vision/video.h"

namespace shoal {
namespace {

struct PipelineOptions {
  std::string config, name, save_dir;
  std::vector<std::string> images;
  float conf = 0.25f;
  std::optional<float> iou;
  int max_det = 300;
  bool json = false, no_masks = false;
  std::vector<int> classes;
  VideoRunOptions video;  // --realtime, --frames
};

PipelineOptions g_opts;
CLI::App* g_cmd = nullptr;

void print_model(const service::PipelineOutput& o) {
  const vision::Result& r = o.result;
  fmt::print(
      "  {}: {} detection(s){}, inference {:.1f} ms\n", o.model, r.detections.size(),
      r.top5.empty() ? "" : fmt::format(", top-1 {} {:.3f}", r.top5[0].class_name, r.top5[0].score),
      r.inference_ms);
  if (r.detections.empty()) return;
  fmt::print("    {:>3}  {:<20} {:>6} {:>8} {:>8} {:>8} {:>8}\n", "#", "class", "score", "x1", "y1",
             "x2", "y2");
  for (size_t i = 0; i < r.detections.size(); ++i) {
    const vision::Detection& d = r.detections[i];
    fmt::print("    {:>3}  {:<20} {:>6.3f} {:>8.1f} {:>8.1f} {:>8.1f} {:>8.1f}\n", i + 1,
               d.class_name, d.score, d.box.x1, d.box.y1, d.box.x2, d.box.y2);
  }
}

// One image's (or frame's) results: each model's under its name.
nlohmann::json run_json(const service::PipelineRun& run, const cv::Mat& img, bool masks) {
  nlohmann::json item;
  item["width"] = img.cols;
  item["height"] = img.rows;
  item["letterboxes"] = run.preprocessed;
  nlohmann::json models = nlohmann::json::object();
  for (const service::PipelineOutput& o : run.outputs) {
    nlohmann::json r = vision::result_to_json(o.result, masks);
    r.erase("image");
    r.erase("width");
    r.erase("height");
    models[o.model] = r;
  }
  item["models"] = models;
  return item;
}

cv::Mat annotate_run(const cv::Mat& img, const service::PipelineRun& run) {
  std::vector<const vision::Result*> results;
  for (const service::PipelineOutput& o : run.outputs) results.push_back(&o.result);
  return vision::annotate(img, results);
}

// Video files, cameras and streams: a JSON line or a table line per frame, an annotated video
// per source (every model drawn).
int run_pipeline_video(const PipelineOptions& a, ModelManager& mgr,
                       const vision::DetectorOptions& opt) {
  VideoRunOptions vo = a.video;
  vo.command = "pipeline";
  vo.save_dir = a.save_dir;
  const auto on_frame = [&](const std::string& source, const vision::VideoFrame& f, bool draw) {
    const service::PipelineRun run = service::run_pipeline(mgr, a.name, f.image, opt);
    FrameOutput out;
    if (a.json) {
      nlohmann::json item;
      item["image"] = source;
      add_frame_fields(item, f);
      item.update(run_json(run, f.image, opt.masks));
      out.stdout_text = item.dump() + "\n";
    } else {
      out.stdout_text = fmt::format("{} frame {} ({:.2f} s)", source, f.index, f.time_s);
      for (const service::PipelineOutput& o : run.outputs) {
        out.stdout_text += fmt::format(
            "  {}: {} ({:.1f} ms)", o.model,
            o.result.top5.empty() ? fmt::format("{} detections", o.result.detections.size())
                                  : o.result.top5[0].class_name,
            o.result.inference_ms);
      }
      out.stdout_text += "\n";
    }
    if (draw) out.annotated = annotate_run(f.image, run);
    return out;
  };
  const int failed = run_video_sources(a.images, vo, on_frame);
  const ManagerMemory mem = mgr.memory();
  fmt::print(stderr, "manager: budget {}, {} accounted at the end (peak {}), {} events\n",
             format_bytes(mem.budget), format_bytes(mem.accounted),
             format_bytes(mem.peak_accounted), mgr.events().size());
  return failed > 0 ? 1 : 0;
}

}  // namespace

void register_pipeline_command(CLI::App& app) {
  PipelineOptions& o = g_opts;
  g_cmd = app.add_subcommand("pipeline",
                             "run a configured pipeline (several models, one frame) on images");
  g_cmd->add_option("--config", o.config, "models.yaml")->required();
  g_cmd->add_option("--name", o.name, "pipeline name")->required();
  g_cmd
      ->add_option("images", o.images,
                   "image files or folders (JPEG, PNG, BMP); or video sources: video files, "
                   "cameras (/dev/video0, 0) and streams (rtsp://, http://)")
      ->required();
  g_cmd->add_option("--conf", o.conf, "score threshold: keep scores > conf (default 0.25)")
      ->check(CLI::Range(0.0, 1.0));
  g_cmd->add_option("--iou", o.iou, "NMS IoU threshold (default per family: 0.7; YOLOX 0.45)")
      ->check(CLI::Range(0.0, 1.0));
  g_cmd->add_option("--max-det", o.max_det, "at most N detections per model and image (300)")
      ->check(CLI::Range(1, 100000));
  g_cmd->add_flag("--no-masks", o.no_masks, "segment models: boxes only");
  g_cmd->add_option("--classes", o.classes, "only these class ids (every model), e.g. 0 2 5")
      ->check(CLI::Range(0, 100000));
  g_cmd->add_flag("--json", o.json, "one JSON document (a list, one entry per image)");
  g_cmd->add_option("--save", o.save_dir,
                    "write annotated images (all models drawn; one video per video source) into "
                    "DIR");
  add_video_options(g_cmd, o.video);
}

std::optional<int> run_pipeline_command() {
  if (!g_cmd || !*g_cmd) return std::nullopt;
  const PipelineOptions& a = g_opts;
  ModelManager mgr(load_repository_config(a.config));
  service::find_pipeline(mgr.config(), a.name);  // an unknown name is one error, not one per image
  vision::DetectorOptions opt;
  opt.conf = a.conf;
  opt.iou = a.iou;
  opt.max_det = a.max_det;
  opt.masks = !a.no_masks;
  opt.classes = a.classes;
  if (only_video_sources(a.images, "pipeline")) return run_pipeline_video(a, mgr, opt);
  const std::vector<std::string> paths = image_paths(a.images);
  make_output_dir("--save", a.save_dir);
  const bool progress = isatty(STDERR_FILENO) && paths.size() > 1;
  std::map<std::string, int> used_names;
  nlohmann::json all = nlohmann::json::array();
  int failed = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    const std::string& path = paths[i];
    if (progress) print_progress(i, paths.size(), path);
    nlohmann::json item;
    item["image"] = path;
    try {
      cv::Mat img = vision::read_image(path);
      service::PipelineRun run = service::run_pipeline(mgr, a.name, img, opt);
      item.update(run_json(run, img, opt.masks));
      if (progress) clear_progress();
      if (!a.json) {
        fmt::print("{}  {}x{}  {} letterbox(es) for {} models\n", path, img.cols, img.rows,
                   run.preprocessed, run.outputs.size());
        for (const service::PipelineOutput& o : run.outputs) print_model(o);
        fmt::print("\n");
      }
      if (!a.save_dir.empty()) {
        const cv::Mat drawn = annotate_run(img, run);
        const std::string out =
            (std::filesystem::path(a.save_dir) / save_name(path, used_names)).string();
        bool ok = false;
        try {
          ok = cv::imwrite(out, drawn);
        } catch (const cv::Exception&) {
          ok = false;
        }
        if (!ok) fail(ErrorCode::kInvalidArgument, "cannot write annotated image '{}'", out);
      }
    } catch (const Error& e) {
      ++failed;
      item["error"] = fmt::format("{} ({})", e.what(), error_code_name(e.code()));
      if (progress) clear_progress();
      fmt::print(stderr, "{}: FAILED: {}\n", path, item["error"].get<std::string>());
    }
    all.push_back(item);
  }
  if (progress) clear_progress();
  if (a.json) {
    std::cout << all.dump() << "\n";
  } else {
    // What the manager did to fit the budget: loads (and their time), evictions, unloads.
    const ManagerMemory mem = mgr.memory();
    fmt::print("manager: budget {}, {} accounted at the end (peak {})\n", format_bytes(mem.budget),
               format_bytes(mem.accounted), format_bytes(mem.peak_accounted));
    for (const ManagerEvent& e : mgr.events()) {
      fmt::print("  {:<7} {:<20} {}\n", e.kind, e.model, e.detail);
    }
  }
  if (failed > 0) {
    fmt::print(stderr, "shoal pipeline: {} of {} images failed\n", failed, paths.size());
    return 1;
  }
  return 0;
}

}  // namespace shoal
