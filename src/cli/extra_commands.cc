#include "cli/subcommands.h"

namespace mailtap::cli {

void add_extra_commands(CLI::App&, int&) {}

}  // namespace mailtap::cli
