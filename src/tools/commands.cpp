#include "tools/commands.h"

namespace shoal {

void register_extra_commands(CLI::App& app) {}

int run_extra_commands(CLI::App& app) { return 0; }

}  // namespace shoal
