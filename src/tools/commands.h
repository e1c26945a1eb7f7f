// Subcommands of the `shoal` CLI beyond inspect/run/bench, each in its own file.
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <string>
#include <vector>

namespace shoal {

struct VideoRunOptions;  // tools/video_run.h

void register_extra_commands(CLI::App& app);
// Runs whichever extra subcommand was parsed; returns the process exit code.
int run_extra_commands(CLI::App& app);

// Shared by detect and pipeline. The file name an annotated copy of `path` gets in a --save
// folder (image extension kept, else .jpg; repeats numbered).
std::string save_name(const std::string& path, std::map<std::string, int>& used);
// A one-line progress bar on stderr ("[=====>    ] 3/10 name.jpg"), redrawn in place.
void print_progress(size_t done, size_t total, const std::string& current);
// Erases the progress bar's line.
void clear_progress();
// The image files IMAGE|FOLDER arguments name (vision::expand_image_args); none is an error.
std::vector<std::string> image_paths(const std::vector<std::string>& args);
// The video options detect and pipeline share: --realtime and --frames, into `o`.
void add_video_options(CLI::App* cmd, VideoRunOptions& o);
// Creates output folder `dir` given by option `flag` (nothing when `dir` is empty); an error
// naming both when it cannot.
void make_output_dir(const std::string& flag, const std::string& dir);

}  // namespace shoal
