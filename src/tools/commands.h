// Subcommands of the `shoal` CLI beyond inspect/run/bench, each in its own file.
#pragma once

#include <CLI/CLI.hpp>

namespace shoal {

void register_extra_commands(CLI::App& app);
// Runs whichever extra subcommand was parsed; returns the process exit code.
int run_extra_commands(CLI::App& app);

}  // namespace shoal
