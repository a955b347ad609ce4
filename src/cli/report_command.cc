// `mailtap report FILE... -o report.html`: sessions as one self-contained HTML page.
#include <iostream>

#include "cli/subcommands.h"
#include "mailtap/report/report.h"

namespace mailtap::cli {

void add_report_command(CLI::App& app, int& status) {
  auto files = std::make_shared<std::vector<std::string>>();
  auto output = std::make_shared<std::string>();
  auto options = std::make_shared<report::ReportOptions>();
  auto* cmd = app.add_subcommand(
      "report",
      "Write one self-contained HTML page (no network needed to view it) with each session's "
      "timeline: client and server columns, TLS boundaries, decoded AUTH, latency per command, "
      "warnings; with two transcripts also their diff side by side.\n"
      "Example: mailtap report postfix.jsonl exim.jsonl -o report.html");
  cmd->add_option("files", *files, "Transcript files (.jsonl) or directories of them")->required();
  cmd->add_option("-o,--output", *output, "The HTML file to write ('-' for standard output)")
      ->required();
  cmd->add_option("--title", options->title, "Title of the page")->capture_default_str();
  cmd->callback([files, output, options, &status] {
    status = report::run_report(*files, *output, *options, std::cout, std::cerr);
  });
}

}  // namespace mailtap::cli
