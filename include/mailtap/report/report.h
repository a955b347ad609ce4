// `mailtap report FILE... -o report.html`: one self-contained HTML page (inline CSS and script, no
// network, a Content-Security-Policy that allows only those) showing each session as a timeline
// with client and server columns, TLS boundaries, decoded AUTH steps, per-command latency and
// warnings; for two transcripts also their `mailtap diff`, side by side.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "mailtap/diff/compare.h"
#include "mailtap/transcript/transcript_reader.h"

namespace mailtap::report {

struct ReportSession {
  std::string name;  // file name as the user gave it
  transcript::Transcript transcript;
};

struct ReportOptions {
  std::string title = "mailtap report";
};

// The page. `diff`, when given, is the comparison of sessions[0] (A) and sessions[1] (B).
void write_report(const std::vector<ReportSession>& sessions,
                  const std::optional<diff::SessionDiff>& diff, std::ostream& out,
                  const ReportOptions& options = {});

// Pieces of the page, for tests and for write_report.
void write_timeline(const ReportSession& session, size_t index, std::ostream& out);
void write_diff(const diff::SessionDiff& diff, const std::string& a_name, const std::string& b_name,
                std::ostream& out);

// Reads the files (a directory means its *.jsonl in name order) and writes the page to `output`
// ("-" for standard output), atomically (a temporary file renamed into place). Returns 0 on
// success, 2 when a file cannot be read or the page cannot be written (message on `err`).
int run_report(const std::vector<std::string>& files, const std::string& output,
               const ReportOptions& options, std::ostream& out, std::ostream& err);

}  // namespace mailtap::report
