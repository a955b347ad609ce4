// The body of `mailtap diff A B`, apart from command-line parsing, so tests can run it directly.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "mailtap/diff/compare.h"
#include "mailtap/diff/rules_file.h"
#include "mailtap/transcript/transcript_reader.h"

namespace mailtap::diff {

struct DiffOptions {
  std::string format = "text";  // text or json
  bool color = false;
  bool show_same = true;
  bool quiet = false;  // print nothing; the exit status says it all
  bool ignore_hosts = false;
  bool ignore_banners = false;
  std::vector<std::string> ignore;       // --ignore PATTERN, repeatable
  std::vector<std::string> rules_files;  // --rules FILE, repeatable
};

// Reads both transcripts' steps (each with its own protocol's built-in rules plus `rules`) and
// compares them.
SessionDiff diff_transcripts(const transcript::Transcript& a, const transcript::Transcript& b,
                             const RuleSet& rules);

// Exit status like diff(1): 0 the sessions mean the same, 1 they differ, 2 trouble (unreadable
// file, bad rule, unknown format), with a message on `err` naming the file.
int run_diff(const std::string& a_path, const std::string& b_path, const DiffOptions& options,
             std::ostream& out, std::ostream& err);

}  // namespace mailtap::diff
