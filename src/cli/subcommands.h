// Each subcommand registers itself on the CLI11 app and writes its exit status into `status`.
#pragma once

#include <CLI/CLI.hpp>

namespace mailtap::cli {

void add_proxy_command(CLI::App& app, int& status);
void add_ca_command(CLI::App& app, int& status);
void add_show_command(CLI::App& app, int& status);
void add_diff_command(CLI::App& app, int& status);
void add_report_command(CLI::App& app, int& status);
void add_run_command(CLI::App& app, int& status);
// Subcommands added by later features (run, diff, report); defined in extra_commands.cc.
void add_extra_commands(CLI::App& app, int& status);

}  // namespace mailtap::cli
