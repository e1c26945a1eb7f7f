#include "tools/commands.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "core/error.h"
#include "tools/video_run.h"
#include "vision/image_io.h"

namespace shoal {

// Each extra subcommand lives in its own file: register_X_command adds it to the app,
// run_X_command runs it when it was parsed (std::nullopt otherwise).
void register_detect_command(CLI::App& app);  // tools/detect.cpp
std::optional<int> run_detect_command();
void register_make_model_command(CLI::App& app);  // tools/make_model.cpp
std::optional<int> run_make_model_command();
void register_plan_command(CLI::App& app);  // tools/plan.cpp
std::optional<int> run_plan_command();
void register_pipeline_command(CLI::App& app);  // tools/pipeline.cpp
std::optional<int> run_pipeline_command();
void register_serve_command(CLI::App& app);  // tools/serve.cpp
std::optional<int> run_serve_command();
void register_quantize_command(CLI::App& app);  // tools/quantize.cpp
std::optional<int> run_quantize_command();

void register_extra_commands(CLI::App& app) {
  register_detect_command(app);
  register_make_model_command(app);
  register_plan_command(app);
  register_pipeline_command(app);
  register_serve_command(app);
  register_quantize_command(app);
}

int run_extra_commands(CLI::App& app) {
  if (std::optional<int> rc = run_detect_command()) return *rc;
  if (std::optional<int> rc = run_quantize_command()) return *rc;
  if (std::optional<int> rc = run_make_model_command()) return *rc;
  if (std::optional<int> rc = run_plan_command()) return *rc;
  if (std::optional<int> rc = run_pipeline_command()) return *rc;
  if (std::optional<int> rc = run_serve_command()) return *rc;
  return 0;
}

std::string save_name(const std::string& path, std::map<std::string, int>& used) {
  std::filesystem::path p(path);
  std::string stem = p.stem().string(), ext = p.extension().string();
  if (!vision::has_image_extension(path)) ext = ".jpg";
  std::string name = stem + ext;
  int& n = used[name];
  if (n > 0) name = stem + "_" + std::to_string(n) + ext;
  ++n;
  return name;
}

void print_progress(size_t done, size_t total, const std::string& current) {
  const int width = 30;
  const int filled = static_cast<int>(width * done / std::max<size_t>(total, 1));
  std::string bar(static_cast<size_t>(filled), '=');
  if (filled < width) bar += '>';
  bar.resize(width, ' ');
  std::string name = std::filesystem::path(current).filename().string();
  if (name.size() > 40) name = name.substr(0, 37) + "...";
  fmt::print(stderr, "\r[{}] {}/{} {:<40}", bar, done, total, name);
  std::fflush(stderr);
}

void clear_progress() { fmt::print(stderr, "\r{:80}\r", ""); }

std::vector<std::string> image_paths(const std::vector<std::string>& args) {
  std::vector<std::string> paths = vision::expand_image_args(args);
  if (paths.empty())
    fail(ErrorCode::kInvalidArgument, "no images found in {}", fmt::join(args, ", "));
  return paths;
}

void add_video_options(CLI::App* cmd, VideoRunOptions& o) {
  cmd->add_flag("--realtime", o.realtime,
                "video files: read at the file's frame rate, dropping frames when behind (as a "
                "camera would); default: every frame");
  cmd->add_option("--frames", o.max_frames, "video sources: stop after N frames each")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
}

void make_output_dir(const std::string& flag, const std::string& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail(ErrorCode::kInvalidArgument, "{} '{}': {}", flag, dir, ec.message());
}

}  // namespace shoal
