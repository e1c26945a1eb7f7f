// `shoal make-model`: writes a built-in YOLO-architecture ONNX model with seeded weights, so a
// fresh clone without ../shared has something to run, test and benchmark.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <optional>

#include "model_builder/builder.h"

namespace shoal {
namespace {

struct MakeModelOptions {
  std::string kind = "detector";
  std::string out;
  BuilderOptions builder;
  bool half = false;
};

MakeModelOptions g_opts;
CLI::App* g_cmd = nullptr;

}  // namespace

void register_make_model_command(CLI::App& app) {
  g_cmd = app.add_subcommand(
      "make-model", "write a built-in YOLOv8n-like detector or classifier (seeded weights)");
  g_cmd->add_option("--kind", g_opts.kind, "detector or classifier")
      ->check(CLI::IsMember({"detector", "classifier"}));
  g_cmd->add_option("--out", g_opts.out, "output .onnx file")->required();
  g_cmd->add_option("--imgsz", g_opts.builder.imgsz, "square input size (detector: multiple of 32)")
      ->check(CLI::Range(32, 4096));
  g_cmd->add_option("--classes", g_opts.builder.num_classes, "number of classes")
      ->check(CLI::Range(1, 100000));
  g_cmd->add_option("--width", g_opts.builder.width, "channel multiplier (n 0.25, s 0.5)")
      ->check(CLI::Range(0.05, 2.0));
  g_cmd->add_option("--seed", g_opts.builder.seed, "weight seed");
  g_cmd->add_flag("--half", g_opts.half,
                  "float16 weights, input and output, as Ultralytics' half=True writes them");
}

std::optional<int> run_make_model_command() {
  if (!g_cmd || !*g_cmd) return std::nullopt;
  std::string bytes = g_opts.kind == "classifier" ? build_classifier_onnx(g_opts.builder)
                                                  : build_yolo_detector_onnx(g_opts.builder);
  if (g_opts.half) bytes = to_float16_onnx(bytes);
  save_bytes(g_opts.out, bytes);
  fmt::print("wrote {} ({} bytes)\n", g_opts.out, bytes.size());
  return 0;
}

}  // namespace shoal
