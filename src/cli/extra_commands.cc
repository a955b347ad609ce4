#include "cli/subcommands.h"

namespace mailtap::cli {

void add_extra_commands(CLI::App& app, int& status) {
  add_diff_command(app, status);
  add_report_command(app, status);
  add_run_command(app, status);
}

}  // namespace mailtap::cli
