#include "tools/commands.h"

#include <optional>

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

void register_extra_commands(CLI::App& app) {
  register_detect_command(app);
  register_make_model_command(app);
  register_plan_command(app);
  register_pipeline_command(app);
  register_serve_command(app);
}

int run_extra_commands(CLI::App& app) {
  if (std::optional<int> rc = run_detect_command()) return *rc;
  if (std::optional<int> rc = run_make_model_command()) return *rc;
  if (std::optional<int> rc = run_plan_command()) return *rc;
  if (std::optional<int> rc = run_pipeline_command()) return *rc;
  if (std::optional<int> rc = run_serve_command()) return *rc;
  return 0;
}

}  // namespace shoal
