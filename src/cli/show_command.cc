// `mailtap show FILE...`: a transcript rendered for people.
#include <unistd.h>

#include <iostream>

#include "cli/subcommands.h"
#include "mailtap/show/show_command.h"

namespace mailtap::cli {

void add_show_command(CLI::App& app, int& status) {
  auto files = std::make_shared<std::vector<std::string>>();
  auto format = std::make_shared<std::string>("text");
  auto color = std::make_shared<std::string>("auto");
  auto* cmd = app.add_subcommand(
      "show", "Render transcripts for people: C:/S: lines with the decoded meaning beside each, "
              "TLS boundaries, AUTH steps spelled out, latency per command");
  cmd->add_option("files", *files, "Transcript files (.jsonl)")->required();
  cmd->add_option("--format", *format, "text, markdown or json")
      ->check(CLI::IsMember({"text", "markdown", "json"}))
      ->capture_default_str();
  cmd->add_option("--color", *color, "auto, always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  cmd->callback([files, format, color, &status] {
    bool use_color = *color == "always" || (*color == "auto" && ::isatty(1));
    status = show::run_show(*files, *format, use_color, std::cout, std::cerr);
  });
}

}  // namespace mailtap::cli
