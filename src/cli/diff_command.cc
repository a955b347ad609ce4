// `mailtap diff A B`: how two captured sessions differ, by meaning rather than by bytes.
#include "mailtap/diff/diff_command.h"

#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "cli/subcommands.h"

namespace mailtap::cli {

void add_diff_command(CLI::App& app, int& status) {
  auto a = std::make_shared<std::string>();
  auto b = std::make_shared<std::string>();
  auto options = std::make_shared<diff::DiffOptions>();
  auto color = std::make_shared<std::string>("auto");
  auto only_differences = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand(
      "diff",
      "Compare two transcripts by meaning: commands aligned one by one, replies compared by "
      "status, "
      "enhanced code, capability sets and text, volatile values (dates, queue ids, UIDVALIDITY, "
      "nonces...) ignored. Exit 0 same, 1 different, 2 trouble.\n"
      "Example: mailtap diff postfix.jsonl exim.jsonl --ignore-banners");
  // Not ->required(): CLI11 would say only "b is required"; the callback says what is missing.
  cmd->add_option("A", *a, "First transcript (.jsonl, from mailtap proxy or mailtap run)");
  cmd->add_option("B", *b, "Second transcript (.jsonl)");
  cmd->add_option("--format", options->format, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->add_option("--color", *color, "auto, always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  cmd->add_option("--ignore", options->ignore,
                  "Regular expression (ECMAScript) whose matches are not compared; a capability "
                  "it matches is left out of the set (repeatable)");
  cmd->add_option("--rules", options->rules_files,
                  "File of rules: 'ignore REGEX', 'replace REGEX => TEXT', 'ignore-hosts', "
                  "'ignore-banners', optionally prefixed 'imap:' (repeatable; see docs/diff.md)");
  cmd->add_flag("--ignore-hosts", options->ignore_hosts,
                "Do not compare host names and IP addresses");
  cmd->add_flag("--ignore-banners", options->ignore_banners,
                "Do not compare greeting and EHLO texts (status codes still count)");
  cmd->add_flag("--only-differences", *only_differences, "Do not list the steps that are the same");
  cmd->add_flag("-q,--quiet", options->quiet, "Print nothing; only the exit status tells");
  cmd->callback([a, b, options, color, only_differences, &status] {
    if (a->empty() || b->empty()) {
      std::cerr << "mailtap diff: needs two transcripts to compare, e.g. mailtap diff "
                   "postfix.jsonl exim.jsonl (see mailtap diff --help)\n";
      status = 2;
      return;
    }
    // auto: colours on a terminal, unless NO_COLOR is set (https://no-color.org)
    options->color = *color == "always" ||
                     (*color == "auto" && ::isatty(1) && std::getenv("NO_COLOR") == nullptr);
    options->show_same = !*only_differences;
    status = diff::run_diff(*a, *b, *options, std::cout, std::cerr);
  });
}

}  // namespace mailtap::cli
