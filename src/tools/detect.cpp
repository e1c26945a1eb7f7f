// `shoal detect MODEL IMAGE...`: the vision pipeline on image files and folders, printing a
// table or one JSON document, optionally saving annotated images. Each file succeeds or fails
// on its own; the exit code is non-zero when any failed.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <numbers>
#include <opencv2/imgcodecs.hpp>
#include <optional>

#include "backend/backend.h"
#include "core/error.h"
#include "tools/commands.h"
#include "tools/video_run.h"
#include "vision/detector.h"
#include "vision/draw.h"
#include "vision/image_io.h"
#include "vision/result_export.h"
#include "vision/result_json.h"
#include "vision/video.h"

namespace shoal {
namespace {

struct DetectArgs {
  std::string model;
  std::vector<std::string> images;
  float conf = 0.25f;
  std::optional<float> iou;
  bool agnostic_flag = false, class_aware_flag = false;
  int max_det = 300;
  bool json = false;
  std::string format = "table";  // table, json, csv, coco
  std::string save_dir, save_txt_dir;
  bool save_conf = false;
  std::vector<int> classes;
  std::vector<int> imgsz;  // [size] or [height, width]
  std::string family, task, names;
  int threads = 0;
  std::string backend = "cpu";
  bool no_masks = false;
  VideoRunOptions video;  // --realtime, --frames
};

DetectArgs g_args;
CLI::App* g_cmd = nullptr;

// `masks`: whether segment models' masks were computed (no mask column under --no-masks).
void print_table(const vision::Result& r, const vision::ModelInfo& info, bool masks) {
  if (!r.error.empty()) {
    fmt::print("{}: FAILED: {}\n\n", r.image, r.error);
    return;
  }
  const bool cls = info.task == vision::Task::kClassify;
  fmt::print(
      "{}  {}x{}  {} {}  (decode {:.1f} ms, pre {:.1f} ms, inference {:.1f} ms, post {:.1f} ms)\n",
      r.image, r.width, r.height, cls ? r.top5.size() : r.detections.size(),
      cls ? "classes" : "detections", r.decode_ms, r.preprocess_ms, r.inference_ms,
      r.postprocess_ms);
  if (cls) {
    fmt::print("  {:>3}  {:<20} {:>8}\n", "#", "class", "prob");
    for (size_t i = 0; i < r.top5.size(); ++i) {
      fmt::print("  {:>3}  {:<20} {:>8.4f}\n", i + 1, r.top5[i].class_name, r.top5[i].score);
    }
  } else if (!r.detections.empty()) {
    const bool seg = info.task == vision::Task::kSegment && masks,
               pose = info.task == vision::Task::kPose, obb = info.task == vision::Task::kObb;
    // OBB: x1..y2 are the rotated box's bounds; the rotated box follows (angle in degrees).
    fmt::print("  {:>3}  {:<20} {:>6} {:>8} {:>8} {:>8} {:>8}{}\n", "#", "class", "score", "x1",
               "y1", "x2", "y2",
               seg    ? "  mask px"
               : pose ? "  keypoints>0.5"
               : obb  ? "        cx       cy        w        h  angle"
                      : "");
    for (size_t i = 0; i < r.detections.size(); ++i) {
      const vision::Detection& d = r.detections[i];
      std::string extra;
      if (seg) extra = fmt::format("  {:>7}", d.mask.empty() ? 0 : cv::countNonZero(d.mask));
      if (pose) {
        int vis = 0;
        for (const vision::Keypoint& k : d.keypoints) vis += k.v > 0.5f ? 1 : 0;
        extra = fmt::format("  {:>2}/{}", vis, d.keypoints.size());
      }
      if (obb && d.rbox) {
        const vision::RotatedBox& rb = *d.rbox;
        extra = fmt::format("  {:>8.1f} {:>8.1f} {:>8.1f} {:>8.1f} {:>6.1f}", rb.cx, rb.cy, rb.w,
                            rb.h, rb.angle * 180.0 / std::numbers::pi);
      }
      fmt::print("  {:>3}  {:<20} {:>6.3f} {:>8.1f} {:>8.1f} {:>8.1f} {:>8.1f}{}\n", i + 1,
                 d.class_name, d.score, d.box.x1, d.box.y1, d.box.x2, d.box.y2, extra);
    }
  }
  fmt::print("\n");
}

// One line per video frame for the table format: the frame, what was found, the time taken.
std::string frame_line(const std::string& source, const vision::VideoFrame& f,
                       const vision::Result& r) {
  std::string found;
  if (!r.top5.empty()) {
    found = fmt::format("top-1 {} {:.3f}", r.top5[0].class_name, r.top5[0].score);
  } else {
    std::map<std::string, int> counts;
    for (const vision::Detection& d : r.detections) ++counts[d.class_name];
    for (const auto& [name, n] : counts) {
      found += fmt::format("{}{} {}", found.empty() ? "" : ", ", n, name);
    }
    if (found.empty()) found = "no detections";
  }
  return fmt::format("{} frame {} ({:.2f} s)  {}x{}  {}  (inference {:.1f} ms)\n", source, f.index,
                     f.time_s, r.width, r.height, found, r.inference_ms);
}

// Video files, cameras and streams: JSON lines, table lines or CSV rows per frame, YOLO txt per
// frame (STEM_FRAME.txt), an annotated video per source.
int run_detect_video(const DetectArgs& a, vision::Detector& det, const std::string& format) {
  if (format == "coco") {
    fail(ErrorCode::kInvalidArgument,
         "--format coco is for image sets; for video sources use --json (a JSON line per frame) "
         "or --format csv");
  }
  make_output_dir("--save-txt", a.save_txt_dir);
  if (format == "csv") std::cout << vision::csv_header() << std::flush;
  VideoRunOptions vo = a.video;
  vo.command = "detect";
  vo.save_dir = a.save_dir;
  const auto on_frame = [&](const std::string& source, const vision::VideoFrame& f, bool draw) {
    vision::Result r = det.detect(f.image);
    r.image = source;
    FrameOutput out;
    if (format == "json") {
      nlohmann::json j = vision::result_to_json(r, !a.no_masks);
      add_frame_fields(j, f);
      out.stdout_text = j.dump() + "\n";
    } else if (format == "csv") {
      r.image = fmt::format("{}#{}", source, f.index);
      out.stdout_text = vision::to_csv_rows(r);
    } else {
      out.stdout_text = frame_line(source, f, r);
    }
    if (!a.save_txt_dir.empty()) {
      const std::string stem = std::filesystem::path(source).stem().string();
      const std::string path = (std::filesystem::path(a.save_txt_dir) /
                                fmt::format("{}_{}.txt", stem.empty() ? "video" : stem, f.index))
                                   .string();
      std::ofstream txt(path, std::ios::binary);
      txt << vision::to_yolo_txt(r, a.save_conf);
      if (!txt.good()) fail(ErrorCode::kInvalidArgument, "cannot write '{}'", path);
    }
    if (draw) out.annotated = vision::annotate(f.image, r);
    return out;
  };
  return run_video_sources(a.images, vo, on_frame) > 0 ? 1 : 0;
}

int run_detect(const DetectArgs& a) {
  set_compute_threads(a.threads);
  vision::DetectorOptions opt;
  opt.conf = a.conf;
  opt.iou = a.iou;
  if (a.agnostic_flag) opt.agnostic = true;
  if (a.class_aware_flag) opt.agnostic = false;
  opt.max_det = a.max_det;
  opt.masks = !a.no_masks;
  opt.classes = a.classes;
  if (!a.imgsz.empty()) {
    opt.imgsz_h = a.imgsz[0];
    opt.imgsz_w = a.imgsz.back();
  }
  opt.hints.family = a.family;
  opt.hints.task = a.task;
  opt.hints.names_file = a.names;
  opt.backend = a.backend;
  vision::Detector det = vision::Detector::open(a.model, opt);
  const vision::ModelInfo& info = det.info();
  const std::string format = a.json ? "json" : a.format;
  const bool table = format == "table";
  // COCO results use COCO's category ids for an 80-class model with COCO's names.
  const bool coco91 = info.num_classes == 80 && info.names == vision::coco_names();

  if (only_video_sources(a.images, "detect")) return run_detect_video(a, det, format);
  const std::vector<std::string> paths = image_paths(a.images);
  make_output_dir("--save", a.save_dir);
  make_output_dir("--save-txt", a.save_txt_dir);
  if (table) {
    fmt::print("model {}: {} {}, {} classes, input {}x{} ({})\n\n", a.model,
               vision::family_name(info.family), vision::task_name(info.task), info.num_classes,
               info.input_width, info.input_height, info.source);
  }
  const bool progress = isatty(STDERR_FILENO) && paths.size() > 1;
  std::map<std::string, int> used_names, used_txt_names;
  nlohmann::json all = nlohmann::json::array();
  if (format == "csv") std::cout << vision::csv_header();
  int failed = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    if (progress) print_progress(i, paths.size(), paths[i]);
    vision::Result r;
    try {
      r = det.detect_file(paths[i]);
    } catch (const Error& e) {
      r = vision::Result();
      r.image = paths[i];
      r.error = fmt::format("{} ({})", e.what(), error_code_name(e.code()));
    } catch (const std::exception& e) {
      r = vision::Result();
      r.image = paths[i];
      r.error = e.what();
    }
    if (!r.error.empty()) {
      ++failed;
      if (!table) {  // the table (stdout) shows it otherwise
        if (progress) fmt::print(stderr, "\n");
        fmt::print(stderr, "shoal detect: {}\n", r.error);
      }
    } else if (!a.save_dir.empty()) {
      const std::string out =
          (std::filesystem::path(a.save_dir) / save_name(paths[i], used_names)).string();
      bool ok = false;
      try {
        ok = cv::imwrite(out, vision::annotate(det.decoded_image(), r));
      } catch (const cv::Exception&) {
        ok = false;
      }
      if (!ok) {
        ++failed;
        fmt::print(stderr, "shoal detect: cannot write annotated image '{}'\n", out);
      }
    }
    if (r.error.empty() && !a.save_txt_dir.empty()) {
      std::string name = save_name(paths[i], used_txt_names);
      name = std::filesystem::path(name).replace_extension(".txt").string();
      const std::string out = (std::filesystem::path(a.save_txt_dir) / name).string();
      std::ofstream f(out, std::ios::binary);
      f << vision::to_yolo_txt(r, a.save_conf);
      if (!f.good()) {
        ++failed;
        fmt::print(stderr, "shoal detect: cannot write '{}'\n", out);
      }
    }
    if (format == "json") {
      all.push_back(vision::result_to_json(r));
    } else if (format == "coco") {
      const int64_t id = vision::coco_image_id(paths[i], static_cast<int64_t>(i) + 1);
      for (nlohmann::json& o : vision::to_coco_results(r, id, coco91)) all.push_back(std::move(o));
    } else if (format == "csv") {
      std::cout << vision::to_csv_rows(r);
    } else {
      if (progress) clear_progress();
      print_table(r, info, opt.masks);
    }
  }
  if (progress) clear_progress();
  if (format == "json" || format == "coco") std::cout << all.dump() << "\n";
  if (failed > 0) {
    fmt::print(stderr, "shoal detect: {} of {} images failed\n", failed, paths.size());
    return 1;
  }
  return 0;
}

}  // namespace

void register_detect_command(CLI::App& app) {
  DetectArgs& a = g_args;
  CLI::App* sub =
      app.add_subcommand("detect", "detect/segment/pose/classify/obb images with a YOLO model");
  sub->add_option(
         "model", a.model,
         "ONNX model (YOLOv5u/v8/11 detect, seg, pose, cls, obb; YOLOX; classic YOLOv5/v7; "
         "YOLOv10/YOLO26 end-to-end; RT-DETR)")
      ->required();
  sub->add_option("images", a.images,
                  "image files or folders (JPEG, PNG, BMP); or video sources: video files, "
                  "cameras (/dev/video0, 0) and streams (rtsp://, http://)")
      ->required();
  sub->add_option("--conf", a.conf, "score threshold: keep scores > conf (default 0.25)")
      ->check(CLI::Range(0.0, 1.0));
  sub->add_option("--iou", a.iou,
                  "NMS IoU threshold (default 0.7; YOLOX, classic YOLOv5/v7 0.45; end-to-end "
                  "and RT-DETR run no NMS)")
      ->check(CLI::Range(0.0, 1.0));
  // Two plain flags: CLI11 2.1 sets an std::optional<bool> flag to false when it is absent.
  auto* agnostic = sub->add_flag("--agnostic", a.agnostic_flag,
                                 "class-agnostic NMS (default: class-aware; YOLOX: agnostic)");
  sub->add_flag("--class-aware", a.class_aware_flag, "class-aware NMS (e.g. for YOLOX)")
      ->excludes(agnostic);
  sub->add_option("--max-det", a.max_det, "at most N detections per image (default 300)")
      ->check(CLI::Range(1, 100000));
  sub->add_flag("--json", a.json, "print one JSON document (a list, one entry per image)");
  sub->add_option("--format", a.format,
                  "table (default), json (as --json), csv (a row per detection), coco (COCO "
                  "detection results: one list for the run)")
      ->check(CLI::IsMember({"table", "json", "csv", "coco"}));
  sub->add_option("--save-txt", a.save_txt_dir,
                  "write Ultralytics YOLO txt labels (one NAME.txt per image) into DIR");
  sub->add_flag("--save-conf", a.save_conf, "with --save-txt: each line ends with the score");
  sub->add_option("--classes", a.classes, "only these class ids, e.g. --classes 0 2 5")
      ->check(CLI::Range(0, 100000));
  sub->add_option("--imgsz", a.imgsz,
                  "input size for models with dynamic height and width: SIZE or H W "
                  "(default: the metadata's imgsz, else 640)")
      ->expected(1, 2)
      ->check(CLI::Range(32, 8192));
  sub->add_option("--save", a.save_dir,
                  "write annotated images (or one annotated video per video source) into DIR");
  add_video_options(sub, a.video);
  sub->add_option("--family", a.family,
                  "model family (head) when metadata and output shapes do not tell: ultralytics "
                  "(yolov5u, yolov8, yolo11), yolox, yolov5 (classic anchor-based, also yolov7), "
                  "end2end (yolov10, yolo26), rtdetr; refused when the output is not its layout");
  sub->add_option("--task", a.task,
                  "task when metadata does not tell: detect, segment, pose, classify, obb (an OBB "
                  "output reads as detect with one more class without it)");
  sub->add_option(
      "--names", a.names,
      "class names: a file with one per line, {0: 'a', ...}, or Ultralytics' data.yaml");
  sub->add_option("--threads", a.threads, "compute threads (default: all cores)")
      ->check(CLI::Range(0, 1024));
  sub->add_option("--backend", a.backend, "cpu or reference")
      ->check(CLI::IsMember({"cpu", "reference"}));
  sub->add_flag("--no-masks", a.no_masks, "segment models: boxes only");
  g_cmd = sub;
}

std::optional<int> run_detect_command() {
  if (g_cmd == nullptr || !g_cmd->parsed()) return std::nullopt;
  return run_detect(g_args);
}

}  // namespace shoal
