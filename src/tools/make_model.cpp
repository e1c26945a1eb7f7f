// `shoal make-model`: writes a built-in YOLO-architecture ONNX model, or one of the benchmark
// zoo's architectures (model_builder/zoo.h), with seeded weights, so a fresh clone without
// ../shared has something to run, test and benchmark.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <optional>

#include "core/error.h"
#include "model_builder/builder.h"
#include "model_builder/zoo.h"

namespace shoal {
namespace {

struct MakeModelOptions {
  std::string kind = "detector";
  std::string out;
  BuilderOptions builder;
  bool half = false;
  std::string zoo;
  bool list_zoo = false;
};

MakeModelOptions g_opts;
CLI::App* g_cmd = nullptr;

}  // namespace

void register_make_model_command(CLI::App& app) {
  g_cmd = app.add_subcommand(
      "make-model", "write a built-in YOLOv8n-like detector or classifier (seeded weights)");
  g_cmd->add_option("--kind", g_opts.kind, "detector or classifier")
      ->check(CLI::IsMember({"detector", "classifier"}));
  g_cmd->add_option("--out", g_opts.out, "output .onnx file");
  g_cmd
      ->add_option("--imgsz", g_opts.builder.imgsz,
                   "square input size (detector and zoo models: multiple of 32)")
      ->check(CLI::Range(32, 4096));
  g_cmd->add_option("--zoo", g_opts.zoo,
                    "a benchmark-zoo architecture instead (--list-zoo names them; --seed and "
                    "--imgsz apply, default imgsz its usual size)");
  g_cmd->add_flag("--list-zoo", g_opts.list_zoo, "list the zoo's architectures");
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
  if (g_opts.list_zoo) {
    for (const ZooEntry& e : zoo_entries()) {
      fmt::print("{:<16} {:>4}  {}\n", e.name, e.imgsz, e.description);
    }
    return 0;
  }
  if (g_opts.out.empty()) fail(ErrorCode::kInvalidArgument, "make-model: --out FILE is required");
  std::string bytes;
  if (!g_opts.zoo.empty()) {
    const int imgsz = g_cmd->count("--imgsz") ? g_opts.builder.imgsz : 0;
    bytes = build_zoo_onnx(g_opts.zoo, imgsz, g_opts.builder.seed);
  } else {
    bytes = g_opts.kind == "classifier" ? build_classifier_onnx(g_opts.builder)
                                        : build_yolo_detector_onnx(g_opts.builder);
  }
  if (g_opts.half) bytes = to_float16_onnx(bytes);
  save_bytes(g_opts.out, bytes);
  fmt::print("wrote {} ({} bytes)\n", g_opts.out, bytes.size());
  return 0;
}

}  // namespace shoal
