// The mailtap command line: subcommands proxy, ca, show, run, diff, report.
#pragma once

namespace mailtap::cli {

// Parses the command line and runs the chosen subcommand; returns the process exit status.
int run(int argc, char** argv);

}  // namespace mailtap::cli
