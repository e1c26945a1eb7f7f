#include "vision/model_info.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "onnx/metadata.h"

namespace shoal::vision {

const char* family_name(Family f) {
  switch (f) {
    case Family::kUltralytics:
      return "ultralytics";
    case Family::kYolox:
      return "yolox";
    case Family::kYolov5:
      return "yolov5";
    case Family::kEnd2End:
      return "end2end";
    case Family::kRtdetr:
      return "rtdetr";
    case Family::kUnknown:
      break;
  }
  return "unknown";
}

const char* task_name(Task t) {
  switch (t) {
    case Task::kDetect:
      return "detect";
    case Task::kSegment:
      return "segment";
    case Task::kPose:
      return "pose";
    case Task::kClassify:
      return "classify";
    case Task::kObb:
      return "obb";
    case Task::kUnknown:
      break;
  }
  return "unknown";
}

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

}  // namespace

std::map<int, std::string> parse_names_dict(const std::string& text) {
  LiteralCursor c{text};
  std::map<int, std::string> names;
  auto bad = [&](const char* what) -> void {
    fail(ErrorCode::kInvalidModel, "class names '{:.80}': {} at character {}", text, what, c.i);
  };
  if (!c.eat('{')) bad("expected '{'");
  if (c.eat('}')) return names;
  while (true) {
    int64_t k = 0;
    std::string v;
    if (!c.read_int(&k)) bad("expected an integer key");
    if (!c.eat(':')) bad("expected ':'");
    if (!c.read_string(&v)) bad("expected a quoted name");
    if (k < 0 || k > 1000000) bad("class id out of range");
    names[static_cast<int>(k)] = v;
    if (c.eat(',')) {
      if (c.eat('}')) break;
      continue;
    }
    if (c.eat('}')) break;
    bad("expected ',' or '}'");
  }
  if (!c.at_end()) bad("trailing characters");
  return names;
}

namespace {

// Ultralytics' dataset YAML (data.yaml): `names:` as a list or as a {id: name} map; `nc:`, when
// given, must agree.
std::vector<std::string> names_from_dataset_yaml(const std::string& text, const std::string& path) {
  std::vector<std::string> names;
  try {
    const YAML::Node root = YAML::Load(text);
    const YAML::Node n = root["names"];
    if (n.IsSequence()) {
      for (const YAML::Node& v : n) names.push_back(v.as<std::string>());
    } else if (n.IsMap()) {
      std::map<int, std::string> m;
      for (const auto& kv : n) m[kv.first.as<int>()] = kv.second.as<std::string>();
      for (const auto& [k, v] : m) {
        if (k != static_cast<int>(names.size())) {
          fail(ErrorCode::kInvalidArgument,
               "names file '{}': class ids under 'names:' must be 0..N-1, missing {}", path,
               names.size());
        }
        names.push_back(v);
      }
    } else {
      fail(ErrorCode::kInvalidArgument,
           "names file '{}': 'names:' is neither a list nor a map of class ids to names", path);
    }
    if (root["nc"] && root["nc"].as<size_t>() != names.size()) {
      fail(ErrorCode::kInvalidArgument, "names file '{}': nc is {} but 'names:' lists {}", path,
           root["nc"].as<size_t>(), names.size());
    }
  } catch (const YAML::Exception& e) {
    fail(ErrorCode::kInvalidArgument, "names file '{}' is not valid YAML: {}", path, e.what());
  }
  if (names.empty()) fail(ErrorCode::kInvalidArgument, "names file '{}' has no names", path);
  return names;
}

bool has_names_key(const std::string& text) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("names:", 0) == 0) return true;
  }
  return false;
}

}  // namespace

std::vector<std::string> read_names_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(ErrorCode::kNotFound, "names file '{}' cannot be opened", path);
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_names_text(ss.str(), path);
}

std::vector<std::string> parse_names_text(const std::string& text, const std::string& path) {
  if (has_names_key(text)) return names_from_dataset_yaml(text, path);
  std::string t = trim(text);
  if (!t.empty() && t[0] == '{') {
    std::map<int, std::string> m;
    try {
      m = parse_names_dict(t);
    } catch (const Error& e) {
      fail(ErrorCode::kInvalidArgument, "names file '{}': {}", path, e.what());
    }
    std::vector<std::string> names;
    for (const auto& [k, v] : m) {
      if (k != static_cast<int>(names.size())) {
        fail(ErrorCode::kInvalidArgument, "names file '{}': class ids must be 0..N-1, missing {}",
             path, names.size());
      }
      names.push_back(v);
    }
    if (names.empty()) fail(ErrorCode::kInvalidArgument, "names file '{}' has no names", path);
    return names;
  }
  std::vector<std::string> names;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    line = trim(line);
    if (!line.empty()) names.push_back(line);
  }
  if (names.empty()) fail(ErrorCode::kInvalidArgument, "names file '{}' has no names", path);
  return names;
}

const std::vector<std::pair<int, int>>& coco_skeleton() {
  // Ultralytics' skeleton (1-based in its source), converted to 0-based.
  static const std::vector<std::pair<int, int>> s = {
      {15, 13}, {13, 11}, {16, 14}, {14, 12}, {11, 12}, {5, 11}, {6, 12}, {5, 6}, {5, 7}, {6, 8},
      {7, 9},   {8, 10},  {1, 2},   {0, 1},   {0, 2},   {1, 3},  {2, 4},  {3, 5}, {4, 6}};
  return s;
}

Family parse_family(const std::string& s) {
  std::string l = lower(s);
  if (l == "ultralytics" || l == "yolov8" || l == "v8" || l == "yolov5u" || l == "v5u" ||
      l == "yolo11" || l == "yolov11" || l == "11") {
    return Family::kUltralytics;
  }
  if (l == "yolox") return Family::kYolox;
  if (l == "yolov5" || l == "v5" || l == "yolov7" || l == "v7") return Family::kYolov5;
  if (l == "end2end" || l == "e2e" || l == "yolov10" || l == "v10" || l == "yolo26" ||
      l == "yolov26" || l == "26") {
    return Family::kEnd2End;
  }
  if (l == "rtdetr" || l == "rt-detr") return Family::kRtdetr;
  fail(ErrorCode::kInvalidArgument,
       "unknown model family '{}': expected ultralytics (also yolov5u, yolov8, yolo11), yolox, "
       "yolov5 (classic anchor-based; also yolov7), end2end (also yolov10, yolo26) or rtdetr",
       s);
}

Task parse_task(const std::string& s) {
  std::string l = lower(s);
  if (l == "detect" || l == "detection") return Task::kDetect;
  if (l == "segment" || l == "seg" || l == "segmentation") return Task::kSegment;
  if (l == "pose" || l == "keypoints") return Task::kPose;
  if (l == "classify" || l == "cls" || l == "classification") return Task::kClassify;
  if (l == "obb" || l == "oriented") return Task::kObb;
  fail(ErrorCode::kInvalidArgument,
       "unknown task '{}': expected detect, segment, pose, classify or obb", s);
}

int64_t anchor_count(int64_t w, int64_t h, const std::vector<int>& strides) {
  int64_t n = 0;
  for (int s : strides) n += (h / s) * (w / s);
  return n;
}

namespace {

std::string shape_list(const std::vector<Dims>& outputs) {
  std::string s;
  for (const Dims& d : outputs) s += (s.empty() ? "" : ", ") + dims_str(d);
  return s;
}

// Grid cells of a detection head over strides 8/16/32 (P5) or 8..64 (P6 models), with the cell
// count per level rounded down (inputs that are multiples of the stride) or up (strided 3x3
// convs with padding 1 round up on other sizes).
std::vector<int64_t> grid_cell_counts(int64_t w, int64_t h) {
  std::vector<int64_t> counts;
  for (const std::vector<int>& strides : {std::vector<int>{8, 16, 32}, {8, 16, 32, 64}}) {
    int64_t floor_n = 0, ceil_n = 0;
    for (int s : strides) {
      floor_n += (h / s) * (w / s);
      ceil_n += ((h + s - 1) / s) * ((w + s - 1) / s);
    }
    counts.push_back(floor_n);
    counts.push_back(ceil_n);
  }
  return counts;
}

bool is_grid(int64_t n, int64_t w, int64_t h, int64_t per_cell) {
  for (int64_t c : grid_cell_counts(w, h)) {
    if (n == c * per_cell) return true;
  }
  return false;
}

std::string meta_lower(const std::map<std::string, std::string>& md, const char* key) {
  auto it = md.find(key);
  return it == md.end() ? std::string() : lower(trim(it->second));
}

// The head the metadata names, or kUnknown. Ultralytics writes `task` and `author`, and in
// recent releases `end2end` (True for YOLOv10 and end-to-end YOLO26 exports), `head` (the head
// module's class: v10Detect, RTDETRDecoder, ...), `description` ("Ultralytics YOLOv10n model
// trained on ...", "Ultralytics RT-DETR-l ...") and `args` (a Python dict of export arguments:
// 'nms': True puts NMS in the graph, which gives the end-to-end [B, max_det, 6] output too).
// Older YOLOv10 exports lack `end2end`: an Ultralytics detect model whose only output is
// [B, N, 6] with N not a grid cell count is end-to-end as well. The classic YOLOv5 repository
// writes only `stride` and `names`, which do not tell the head: the shapes decide.
Family family_from_metadata(const std::map<std::string, std::string>& md, const Dims& o0,
                            const ModelInfo& info, std::string* why) {
  const std::string head = meta_lower(md, "head"), desc = meta_lower(md, "description");
  if (head.find("rtdetr") != std::string::npos || desc.find("rtdetr") != std::string::npos ||
      desc.find("rt-detr") != std::string::npos) {
    *why = "metadata (an RT-DETR head)";
    return Family::kRtdetr;
  }
  const std::string e2e = meta_lower(md, "end2end");
  if (e2e == "true" || e2e == "1") {
    *why = "metadata (end2end: True)";
    return Family::kEnd2End;
  }
  if (head == "v10detect" || desc.find("yolov10") != std::string::npos) {
    *why = "metadata (a YOLOv10 head)";
    return Family::kEnd2End;
  }
  if (meta_lower(md, "args").find("'nms': true") != std::string::npos) {
    *why = "metadata (exported with nms=True)";
    return Family::kEnd2End;
  }
  const bool ultra = md.count("task") != 0 || meta_lower(md, "author") == "ultralytics";
  if (!ultra) return Family::kUnknown;
  const std::string task = meta_lower(md, "task");
  if ((task.empty() || task == "detect") && o0.size() == 3 && o0[2] == 6 &&
      !is_grid(o0[1], info.input_width, info.input_height, 1) &&
      !is_grid(o0[2], info.input_width, info.input_height, 1)) {
    *why = "metadata (an Ultralytics detect model) and its [B, N, 6] output";
    return Family::kEnd2End;
  }
  *why = "metadata (an Ultralytics model)";
  return Family::kUltralytics;
}

// The head the output shapes alone imply; kUnknown with `why` saying what was seen. For the
// first output [B, d1, d2] at an input of w x h, with A grid cells over strides 8/16/32 (8400 at
// 640; P6 models add stride 64):
//   [B, 4+nc..., A]            Ultralytics anchor-free, channels first ([1, 84, 8400])
//   [B, A, 5+nc]               YOLOX ([1, 8400, 85]; [1, 3549, 85] at 416)
//   [B, 3A, 5+nc]              classic anchor-based YOLOv5/v7, 3 anchors per cell ([1, 25200, 85])
//   [B, N, 6], N not a grid    end-to-end YOLOv10/YOLO26 ([1, 300, 6]); also RT-DETR with two
//                              classes, which needs --family rtdetr or its metadata
//   [B, 300, 4+nc], nc >= 1    RT-DETR's 300 queries ([1, 300, 84]); other query counts need
//                              --family rtdetr or metadata
// A rank-2 output is a classifier [B, nc].
Family family_from_shapes(const std::vector<Dims>& outputs, int64_t w, int64_t h,
                          std::string* why) {
  const Dims& o0 = outputs[0];
  if (o0.size() == 2) return Family::kUltralytics;
  const int64_t a = anchor_count(w, h, {8, 16, 32});
  if (o0.size() == 3) {
    if (is_grid(o0[1], w, h, 1) && o0[2] > 5) return Family::kYolox;
    if (is_grid(o0[2], w, h, 1) && o0[1] > 4) return Family::kUltralytics;
    if (is_grid(o0[1], w, h, 3) && o0[2] > 5) return Family::kYolov5;
    if (o0[2] == 6 && o0[1] >= 1) return Family::kEnd2End;
    if (o0[1] == 300 && o0[2] >= 5) return Family::kRtdetr;
    *why = fmt::format(
        "cannot tell the model family from outputs {} at input {}x{} (expected [B, 4+classes, {}] "
        "for YOLOv5u/v8/11, [B, {}, 5+classes] for YOLOX, [B, {}, 5+classes] for classic "
        "YOLOv5/v7, [B, max_det, 6] for end-to-end YOLOv10/YOLO26 or [B, queries, 4+classes] for "
        "RT-DETR); give --family and --task",
        shape_list(outputs), w, h, a, a, 3 * a);
    return Family::kUnknown;
  }
  *why = fmt::format(
      "cannot tell what the model is from outputs {} and no metadata; give --family and --task",
      shape_list(outputs));
  return Family::kUnknown;
}

// Refuses an output that is not `family`'s layout (a wrong --family, or metadata that does not
// match the graph), naming the shape, what the family expects and what the shape looks like.
void check_layout(Family family, const std::vector<Dims>& outputs, int64_t w, int64_t h,
                  const std::string& source) {
  const Dims& o0 = outputs[0];
  const int64_t a = anchor_count(w, h, {8, 16, 32});
  std::string expect;
  bool ok = o0.size() == 3;
  switch (family) {
    case Family::kUltralytics:
      if (o0.size() == 2) return;  // classify [B, nc]
      expect = fmt::format(
          "[B, 4+classes(+masks, keypoints or angle), {}] (one column per grid cell)", a);
      ok = ok && is_grid(o0[2], w, h, 1) && o0[1] > 4;
      break;
    case Family::kYolox:
      expect = fmt::format("[B, {}, 5+classes] (one row per grid cell)", a);
      ok = ok && is_grid(o0[1], w, h, 1) && o0[2] > 5;  // exact count checked below
      break;
    case Family::kYolov5:
      expect =
          fmt::format("[B, {}, 5+classes] (3 anchors x {} grid cells, one row each)", 3 * a, a);
      ok = ok && is_grid(o0[1], w, h, 3) && o0[2] > 5;
      break;
    case Family::kEnd2End:
      expect = "[B, max_det, 6] (x1, y1, x2, y2, score, class id per row)";
      ok = ok && o0[2] == 6 && o0[1] >= 1 && !is_grid(o0[1], w, h, 1) && !is_grid(o0[1], w, h, 3);
      break;
    case Family::kRtdetr:
      expect = "[B, queries, 4+classes] (normalised cx, cy, w, h and class scores per query)";
      ok = ok && o0[2] >= 5 && o0[1] >= 1 && !is_grid(o0[1], w, h, 1) && !is_grid(o0[1], w, h, 3) &&
           !is_grid(o0[2], w, h, 1);
      break;
    case Family::kUnknown:
      ok = false;
      break;
  }
  if (ok) return;
  std::string looks;
  const Family seen = family_from_shapes(outputs, w, h, &looks);
  const std::string hint =
      seen != Family::kUnknown && seen != family
          ? fmt::format("; it looks like {} (--family {})", family_name(seen), family_name(seen))
          : "";
  fail(source == "flags" ? ErrorCode::kInvalidArgument : ErrorCode::kInvalidModel,
       "family {} (from {}) expects the first output to be {} at input {}x{}, but it is {}{}",
       family_name(family), source, expect, w, h, dims_str(o0), hint);
}

// The class count of an OBB output [B, 4 + nc + 1, A]: the names' count when names are given (a
// names file, else the metadata's; Ultralytics takes nc from the names too), else the rows less
// 5. An output whose rows do not fit is refused, saying why (kInvalidArgument when the task came
// from --task, kInvalidModel from the metadata).
int obb_class_count(const Dims& o0, const std::vector<std::string>& file_names,
                    const std::string& names_file, const std::map<int, std::string>& meta_names,
                    const std::string& task_from) {
  const int64_t rows = o0[1];
  int64_t nc = rows - 5;
  std::string names_from;
  if (!file_names.empty()) {
    nc = static_cast<int64_t>(file_names.size());
    names_from = fmt::format("the {} names of '{}'", nc, names_file);
  } else if (!meta_names.empty()) {
    nc = meta_names.rbegin()->first + 1;
    names_from = fmt::format("the metadata's {} names", nc);
  }
  if (nc >= 1 && rows == 4 + nc + 1) return static_cast<int>(nc);
  std::string why;
  if (names_from.empty()) {
    why = ", which leaves no classes: it is not an OBB output";
  } else if (rows == 4 + nc) {
    why = fmt::format(
        ": that is 4 + {} classes with no angle, a detect model's layout (--task detect)", nc);
  } else if (rows > 5) {
    why = fmt::format(
        ": {} rows are not 4 + {} + 1; they fit {} classes ({})", rows, nc, rows - 5,
        file_names.empty() ? "the metadata's names do not match the graph" : "check --names");
  } else {
    why = fmt::format(": {} rows leave no classes: it is not an OBB output", rows);
  }
  fail(task_from == "--task" ? ErrorCode::kInvalidArgument : ErrorCode::kInvalidModel,
       "task obb (from {}) expects the first output to be [B, 4+classes+1, anchors] (cx, cy, w, h, "
       "class scores, angle){}, but it is {}{}",
       task_from,
       names_from.empty() ? std::string()
                          : fmt::format(", i.e. [B, {}, anchors] with {}", nc + 5, names_from),
       dims_str(o0), why);
}

}  // namespace

ModelInfo infer_model_info(const std::map<std::string, std::string>& metadata, const Dims& input,
                           const std::vector<Dims>& outputs, const ModelHints& hints) {
  ModelInfo info;
  if (input.size() != 4 || input[1] != 3 || input[0] < 1 || input[2] < 1 || input[3] < 1) {
    fail(ErrorCode::kUnsupported,
         "the model's image input is {}: expected [batch, 3, height, width]", dims_str(input));
  }
  info.batch = static_cast<int>(input[0]);
  info.input_height = static_cast<int>(input[2]);
  info.input_width = static_cast<int>(input[3]);
  if (outputs.empty()) fail(ErrorCode::kInvalidModel, "the model has no outputs");
  const Dims& o0 = outputs[0];
  const std::string shapes = shape_list(outputs);

  // 1. Family: a flag (checked against the output below), else the metadata, else the shapes.
  std::vector<std::string> sources;
  std::string meta_why;
  const Family meta_family = family_from_metadata(metadata, o0, info, &meta_why);
  if (!hints.family.empty()) {
    info.family = parse_family(hints.family);
    if (meta_family != Family::kUnknown && meta_family != info.family &&
        meta_family != Family::kUltralytics) {
      fail(ErrorCode::kInvalidArgument,
           "--family {} contradicts the model's {}, which says {}; drop --family or give "
           "--family {}",
           hints.family, meta_why, family_name(meta_family), family_name(meta_family));
    }
    sources.push_back("flags");
  } else if (meta_family != Family::kUnknown) {
    info.family = meta_family;
    sources.push_back("metadata");
  } else {
    std::string why;
    info.family = family_from_shapes(outputs, info.input_width, info.input_height, &why);
    if (info.family == Family::kUnknown) fail(ErrorCode::kUnsupported, "{}", why);
    sources.push_back("output shapes");
  }
  check_layout(info.family, outputs, info.input_width, info.input_height, sources[0]);

  // 2. Task.
  if (!hints.task.empty()) {
    info.task = parse_task(hints.task);
    sources.push_back("task from flags");
  } else if (metadata.count("task")) {
    info.task = parse_task(metadata.at("task"));
  } else if (info.family == Family::kYolox) {
    info.task = Task::kDetect;
  } else if (o0.size() == 2) {
    info.task = Task::kClassify;
  } else if (outputs.size() >= 2 && outputs[1].size() == 4) {
    info.task = Task::kSegment;
  } else if (metadata.count("kpt_shape")) {
    info.task = Task::kPose;
  } else {
    info.task = Task::kDetect;
  }
  const bool detect_only = info.family == Family::kYolox || info.family == Family::kYolov5 ||
                           info.family == Family::kEnd2End || info.family == Family::kRtdetr;
  if (detect_only && info.task != Task::kDetect) {
    fail(ErrorCode::kUnsupported,
         "{} models are detect-only here (task {} from {}; outputs {}): export a detect model, or "
         "an anchor-free Ultralytics one (YOLOv5u/v8/11) for segment, pose and obb",
         family_name(info.family), task_name(info.task),
         hints.task.empty() ? (metadata.count("task") ? "metadata" : "the second output's shape")
                            : "--task",
         shapes);
  }

  // 3. Metadata details, and the names file (OBB class counts come from the names).
  std::map<int, std::string> meta_names;
  if (metadata.count("names")) meta_names = parse_names_dict(metadata.at("names"));
  std::vector<std::string> file_names;
  if (!hints.names_file.empty()) file_names = read_names_file(hints.names_file);
  if (metadata.count("stride")) {
    std::vector<int64_t> s = parse_int_list(metadata.at("stride"));
    if (!s.empty() && s.back() > 0 && s.back() <= 1024) info.stride = static_cast<int>(s.back());
  }
  if (metadata.count("kpt_shape")) {
    std::vector<int64_t> k = parse_int_list(metadata.at("kpt_shape"));
    if (k.size() != 2 || k[0] < 1 || k[0] > 10000 || (k[1] != 2 && k[1] != 3)) {
      fail(ErrorCode::kInvalidModel, "metadata kpt_shape '{}': expected [keypoints, 2 or 3]",
           metadata.at("kpt_shape"));
    }
    info.kpt_count = static_cast<int>(k[0]);
    info.kpt_dims = static_cast<int>(k[1]);
  }

  // 4. Class count and layout checks per task.
  auto need_rank = [&](const Dims& d, size_t r, const char* what) {
    if (d.size() != r) {
      fail(ErrorCode::kInvalidModel, "{} model: output {} should have rank {} ({})",
           task_name(info.task), dims_str(d), r, what);
    }
  };
  if (o0.empty() || o0[0] != info.batch) {
    fail(ErrorCode::kInvalidModel, "output {} does not start with the batch size {}", dims_str(o0),
         info.batch);
  }
  switch (info.task) {
    case Task::kClassify:
      need_rank(o0, 2, "[batch, classes]");
      info.num_classes = static_cast<int>(o0[1]);
      break;
    case Task::kDetect:
      need_rank(o0, 3, "[batch, 4+classes, anchors]");
      if (info.family == Family::kYolox) {
        info.num_classes = static_cast<int>(o0[2] - 5);
        const int64_t a = anchor_count(info.input_width, info.input_height, info.yolox_strides);
        if (o0[1] != a) {
          fail(ErrorCode::kInvalidModel,
               "YOLOX output {} has {} rows but strides 8/16/32 over {}x{} give {}", dims_str(o0),
               o0[1], info.input_width, info.input_height, a);
        }
      } else if (info.family == Family::kYolov5) {
        info.num_classes = static_cast<int>(o0[2] - 5);  // [B, 3A, 5+nc]
      } else if (info.family == Family::kRtdetr) {
        info.num_classes = static_cast<int>(o0[2] - 4);  // [B, queries, 4+nc]
      } else if (info.family == Family::kEnd2End) {
        // [B, max_det, 6] does not tell the class count: the names do (0 when none).
        info.num_classes = meta_names.empty() ? 0 : meta_names.rbegin()->first + 1;
      } else {
        info.num_classes = static_cast<int>(o0[1] - 4);
      }
      break;
    case Task::kSegment:
      need_rank(o0, 3, "[batch, 4+classes+masks, anchors]");
      if (outputs.size() < 2 || outputs[1].size() != 4) {
        fail(ErrorCode::kInvalidModel,
             "segment model needs a second output [batch, masks, h, w] of prototypes; outputs {}",
             shapes);
      }
      info.num_masks = static_cast<int>(outputs[1][1]);
      info.num_classes = static_cast<int>(o0[1] - 4 - info.num_masks);
      break;
    case Task::kPose:
      need_rank(o0, 3, "[batch, 4+classes+keypoints, anchors]");
      if (info.kpt_count == 0) {
        // No metadata: assume one class and x,y,visibility triples.
        const int64_t rest = o0[1] - 4 - std::max<int64_t>(1, meta_names.size());
        if (rest <= 0 || rest % 3 != 0) {
          fail(ErrorCode::kInvalidModel,
               "pose output {}: cannot infer kpt_shape (no metadata); expected 4 + classes + 3k "
               "rows",
               dims_str(o0));
        }
        info.kpt_count = static_cast<int>(rest / 3);
        info.kpt_dims = 3;
      }
      info.num_classes = static_cast<int>(o0[1] - 4 - int64_t{info.kpt_count} * info.kpt_dims);
      break;
    case Task::kObb:
      need_rank(o0, 3, "[batch, 4+classes+1, anchors]");
      info.num_classes = obb_class_count(o0, file_names, hints.names_file, meta_names,
                                         hints.task.empty() ? "metadata" : "--task");
      break;
    case Task::kUnknown:
      break;
  }
  if (info.num_classes < 1 && !(info.family == Family::kEnd2End && info.num_classes == 0)) {
    fail(ErrorCode::kInvalidModel, "{} {} model: outputs {} leave {} classes",
         family_name(info.family), task_name(info.task), shapes, info.num_classes);
  }

  // 5. Names: flag file, metadata, COCO for 80-class models, else the class ids.
  if (!hints.names_file.empty()) {
    info.names = file_names;
    if (info.family == Family::kEnd2End && meta_names.empty()) {
      info.num_classes = static_cast<int>(info.names.size());
    }
    if (static_cast<int>(info.names.size()) != info.num_classes) {
      fail(ErrorCode::kInvalidArgument, "names file '{}' has {} names but the model has {} classes",
           hints.names_file, info.names.size(), info.num_classes);
    }
  } else if (!meta_names.empty()) {
    for (int c = 0; c < info.num_classes; ++c) {
      auto it = meta_names.find(c);
      info.names.push_back(it != meta_names.end() ? it->second : std::to_string(c));
    }
  } else if (info.num_classes == 80) {
    info.names = coco_names();
  } else {
    for (int c = 0; c < info.num_classes; ++c) info.names.push_back(std::to_string(c));
  }
  if (info.family == Family::kYolox) info.stride = 32;
  info.source = sources.empty() ? "metadata" : sources[0];
  for (size_t i = 1; i < sources.size(); ++i) info.source += ", " + sources[i];
  return info;
}

}  // namespace shoal::vision
