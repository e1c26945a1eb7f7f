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
  std::string text = ss.str();
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
  fail(ErrorCode::kInvalidArgument,
       "unknown model family '{}': expected ultralytics (also yolov5u, yolov8, yolo11) or yolox",
       s);
}

Task parse_task(const std::string& s) {
  std::string l = lower(s);
  if (l == "detect" || l == "detection") return Task::kDetect;
  if (l == "segment" || l == "seg" || l == "segmentation") return Task::kSegment;
  if (l == "pose" || l == "keypoints") return Task::kPose;
  if (l == "classify" || l == "cls" || l == "classification") return Task::kClassify;
  fail(ErrorCode::kInvalidArgument, "unknown task '{}': expected detect, segment, pose or classify",
       s);
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

  // 1. Family.
  const bool ultra_meta = metadata.count("task") != 0 ||
                          (metadata.count("author") && metadata.at("author") == "Ultralytics");
  std::vector<std::string> sources;
  if (!hints.family.empty()) {
    info.family = parse_family(hints.family);
    sources.push_back("flags");
  } else if (ultra_meta) {
    info.family = Family::kUltralytics;
    sources.push_back("metadata");
  } else if (o0.size() == 2) {
    info.family = Family::kUltralytics;  // a classifier: [B, nc]
    sources.push_back("output shapes");
  } else if (o0.size() == 3) {
    const int64_t a = anchor_count(info.input_width, info.input_height, {8, 16, 32});
    if (o0[1] == a && o0[2] > 5) {
      info.family = Family::kYolox;
    } else if (o0[2] == a && o0[1] > 4) {
      info.family = Family::kUltralytics;
    } else if (o0[1] == 3 * a) {
      fail(ErrorCode::kUnsupported,
           "output {} looks like an anchor-based YOLOv5/v7 head ({} = 3 anchors x {} cells), which "
           "Shoal does not decode; export an anchor-free model (YOLOv5u/v8/11, YOLOX)",
           dims_str(o0), o0[1], a);
    } else {
      fail(ErrorCode::kUnsupported,
           "cannot tell the model family from outputs {} at input {}x{} (expected [B, 4+classes, "
           "{}] for YOLOv5u/v8/11 or [B, {}, 5+classes] for YOLOX); give --family and --task",
           shapes, info.input_width, info.input_height, a, a);
    }
    sources.push_back("output shapes");
  } else {
    fail(ErrorCode::kUnsupported,
         "cannot tell what the model is from outputs {} and no metadata; give --family and --task",
         shapes);
  }

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
  if (info.family == Family::kYolox && info.task != Task::kDetect) {
    fail(ErrorCode::kUnsupported, "YOLOX models are detect-only here (task {} requested)",
         task_name(info.task));
  }

  // 3. Metadata details.
  std::map<int, std::string> meta_names;
  if (metadata.count("names")) meta_names = parse_names_dict(metadata.at("names"));
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
    case Task::kUnknown:
      break;
  }
  if (info.num_classes < 1) {
    fail(ErrorCode::kInvalidModel, "{} {} model: outputs {} leave {} classes",
         family_name(info.family), task_name(info.task), shapes, info.num_classes);
  }

  // 5. Names: flag file, metadata, COCO for 80-class models, else the class ids.
  if (!hints.names_file.empty()) {
    info.names = read_names_file(hints.names_file);
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
