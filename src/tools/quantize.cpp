// `shoal quantize`: a float32 model calibrated on images and written as a standard QDQ int8 ONNX
// file (onnx/qdq_writer.h): every Conv input's range is the min/max it takes over the calibration
// images (pre-processed as the model expects, from its metadata), weights are int8 per output
// channel. Prints a per-layer table (input range, scale, zero point, weight error, what stayed
// float and why) and how the quantized model's detections agree with the float model's.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>

#include "core/error.h"
#include "model_builder/builder.h"
#include "onnx/import.h"
#include "onnx/qdq_writer.h"
#include "runtime/compiled_model.h"
#include "runtime/model_loader.h"
#include "tools/commands.h"
#include "vision/detector.h"
#include "vision/image_io.h"
#include "vision/nms.h"
#include "vision/preprocess.h"

namespace shoal {
namespace {

struct QuantizeArgs {
  std::string model;
  std::vector<std::string> calib;
  std::string out;
  int images = 100;
  std::string method = "percentile";
};

// Values of one tensor seen over the calibration images: the min/max, and an evenly strided
// sample of each image's values for the percentile method.
struct Observed {
  ActivationRange minmax;
  bool seen = false;
  std::vector<float> sample;
};
constexpr int64_t kSamplesPerImage = 16384;
constexpr double kPercentile = 1e-4;  // clipped at each end by the percentile method

QuantizeArgs g_args;
CLI::App* g_cmd = nullptr;

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(ErrorCode::kNotFound, "quantize: cannot read '{}'", path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void observe(Observed& o, const Tensor& t) {
  const float* p = t.data<float>();
  const int64_t n = t.numel(), step = std::max<int64_t>(1, n / kSamplesPerImage);
  for (int64_t i = 0; i < n; ++i) {
    const float v = p[i];
    if (!std::isfinite(v)) continue;
    if (!o.seen) {
      o.minmax.lo = o.minmax.hi = v;
      o.seen = true;
    }
    o.minmax.lo = std::min(o.minmax.lo, v);
    o.minmax.hi = std::max(o.minmax.hi, v);
    if (i % step == 0) o.sample.push_back(v);
  }
}

// The range a tensor is quantized over: min/max, or the sample's 0.01% and 99.99% quantiles
// (outliers clipped, finer steps for the bulk of the values).
ActivationRange chosen_range(Observed& o, const std::string& method) {
  if (method == "minmax" || o.sample.size() < 100) return o.minmax;
  auto at = [&](double q) {
    const size_t k = static_cast<size_t>(q * static_cast<double>(o.sample.size() - 1));
    std::nth_element(o.sample.begin(), o.sample.begin() + static_cast<long>(k), o.sample.end());
    return o.sample[k];
  };
  return {at(kPercentile), at(1 - kPercentile)};
}

// Fraction of `ref`'s detections scoring >= 0.5 that `got` has (same class, IoU >= 0.8), and
// how many of `got`'s >= 0.5 have no such partner in `ref`.
void agreement(const vision::Result& ref, const vision::Result& got, int* found, int* total,
               int* extra) {
  auto has = [](const vision::Detection& d, const vision::Result& in) {
    for (const vision::Detection& o : in.detections) {
      if (o.class_id == d.class_id && vision::box_iou(d.box, o.box) >= 0.8f) return true;
    }
    return false;
  };
  for (const vision::Detection& d : ref.detections) {
    if (d.score < 0.5f) continue;
    ++*total;
    *found += has(d, got);
  }
  for (const vision::Detection& d : got.detections) {
    if (d.score >= 0.5f && !has(d, ref)) ++*extra;
  }
}

int run_quantize() {
  const QuantizeArgs& a = g_args;
  const std::vector<std::string> paths = image_paths(a.calib);
  // The float model as the vision pipeline runs it: its input size and pre-processing.
  vision::Detector full = vision::Detector::open(a.model);
  const vision::ModelInfo& info = full.info();

  // The calibration program: the model with every Conv input as an extra output.
  Graph g = import_onnx_file(a.model);
  if (g.inputs.size() != 1) {
    fail(ErrorCode::kUnsupported, "quantize: '{}' has {} inputs; image models have one", a.model,
         g.inputs.size());
  }
  const ValueId input = g.inputs[0];
  std::vector<std::string> tracked;  // names, parallel to the extra outputs
  std::map<std::string, bool> is_tracked;
  bool input_feeds_conv = false;
  for (NodeId n : g.live_nodes()) {
    const Node& node = g.nodes[static_cast<size_t>(n)];
    if (node.op_type != "Conv" || node.inputs.empty()) continue;
    const ValueId x = node.inputs[0];
    if (x == input) {
      input_feeds_conv = true;
      continue;
    }
    if (g.value(x).is_constant() || is_tracked[g.value(x).name]) continue;
    is_tracked[g.value(x).name] = true;
    tracked.push_back(g.value(x).name);
    if (!g.is_graph_output(x)) g.outputs.push_back(x);
  }
  CompileRequest req;
  const Dims in_dims = {1, 3, info.input_height, info.input_width};
  req.input_dims[g.value(input).name] = in_dims;
  Session calib(CompiledModel::compile(g, req));
  std::map<std::string, size_t> out_index;
  for (size_t i = 0; i < calib.model().outputs().size(); ++i) {
    out_index[calib.model().outputs()[i].name] = i;
  }

  std::map<std::string, Observed> observed;
  std::vector<std::string> used, failed;
  Tensor x(g.value(input).dtype, in_dims);
  const size_t limit = std::min(paths.size(), static_cast<size_t>(a.images));
  for (size_t i = 0; i < paths.size() && used.size() < limit; ++i) {
    print_progress(used.size(), limit, paths[i]);
    cv::Mat bgr;
    try {
      bgr = vision::read_image(paths[i]);
    } catch (const Error& e) {
      failed.push_back(fmt::format("{}: {}", paths[i], e.what()));
      continue;
    }
    vision::preprocess_into(bgr, info, x, 0);
    std::vector<Tensor> outs = calib.run({x});
    if (input_feeds_conv) observe(observed[g.value(input).name], x);
    for (const std::string& name : tracked) observe(observed[name], outs.at(out_index.at(name)));
    used.push_back(paths[i]);
  }
  clear_progress();
  for (const std::string& f : failed) fmt::print(stderr, "skipped (not decoded): {}\n", f);
  if (used.empty()) {
    fail(ErrorCode::kInvalidArgument,
         "quantize: none of the {} calibration image(s) could be decoded; give a folder of "
         "JPEG/PNG/BMP photos like the ones the model will see",
         paths.size());
  }

  std::map<std::string, ActivationRange> ranges;
  for (auto& [name, o] : observed) {
    if (o.seen) ranges[name] = chosen_range(o, a.method);
  }
  std::vector<QdqLayer> layers;
  const std::string qdq = write_qdq_model(read_bytes(a.model), ranges, &layers);
  save_bytes(a.out, qdq);

  size_t quantized = 0;
  fmt::print("{:<40} {:>21} {:>9} {:>4} {:>9}  {}\n", "conv", "input range", "scale", "zp",
             "w error", "int8");
  for (const QdqLayer& L : layers) {
    const auto it = ranges.find(L.input);
    const std::string range =
        it == ranges.end() ? "-" : fmt::format("[{:.3g}, {:.3g}]", it->second.lo, it->second.hi);
    std::string name = L.conv.size() > 40 ? "..." + L.conv.substr(L.conv.size() - 37) : L.conv;
    if (L.quantized) {
      ++quantized;
      fmt::print("{:<40} {:>21} {:>9.3g} {:>4} {:>8.2f}%  yes\n", name, range, L.scale,
                 L.zero_point, 100 * L.weight_error);
    } else {
      fmt::print("{:<40} {:>21} {:>9} {:>4} {:>9}  no: {}\n", name, range, "-", "-", "-",
                 L.kept_float_because);
    }
  }
  fmt::print("{} of {} convs int8, calibrated ({}) on {} image(s){}; wrote {} ({:.2f} MiB)\n",
             quantized, layers.size(), a.method, used.size(),
             failed.empty() ? "" : fmt::format(" ({} skipped: not decoded)", failed.size()), a.out,
             static_cast<double>(qdq.size()) / (1 << 20));

  std::fflush(stdout);
  // How the int8 model's detections agree with the float model's on the calibration images.
  vision::Detector q8 = vision::Detector::open(ModelSource::memory(qdq, a.out));
  int found = 0, total = 0, extra = 0;
  const size_t check = std::min<size_t>(used.size(), 20);
  for (size_t i = 0; i < check; ++i) {
    print_progress(i, check, used[i]);
    const cv::Mat bgr = vision::read_image(used[i]);
    agreement(full.detect(bgr), q8.detect(bgr), &found, &total, &extra);
  }
  clear_progress();
  std::fflush(stdout);
  if (info.task == vision::Task::kDetect || info.task == vision::Task::kSegment ||
      info.task == vision::Task::kPose) {
    fmt::print(
        "detections on {} calibration image(s): {} of {} float detections (score >= 0.5) found "
        "by the int8 model (same class, IoU >= 0.8), {} new\n",
        check, found, total, extra);
  }
  return 0;
}

}  // namespace

void register_quantize_command(CLI::App& app) {
  g_cmd = app.add_subcommand(
      "quantize", "calibrate a float model on images and write it as a QDQ int8 ONNX model");
  g_cmd->add_option("model", g_args.model, "float32 ONNX model")->required();
  g_cmd->add_option("--calib", g_args.calib, "calibration images or folders")->required();
  g_cmd->add_option("--out", g_args.out, "the QDQ ONNX file to write")->required();
  g_cmd->add_option("--images", g_args.images, "use at most N calibration images (default 100)")
      ->check(CLI::Range(1, 100000));
  g_cmd
      ->add_option("--method", g_args.method,
                   "activation ranges: percentile (default: the 0.01% and 99.99% quantiles of "
                   "the values seen) or minmax")
      ->check(CLI::IsMember({"percentile", "minmax"}));
}

std::optional<int> run_quantize_command() {
  if (!g_cmd || !*g_cmd) return std::nullopt;
  return run_quantize();
}

}  // namespace shoal
