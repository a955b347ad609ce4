#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "mailtap/diff/diff_command.h"
#include "mailtap/report/report.h"

namespace mailtap::report {
namespace {

// Directories become their *.jsonl files in name order; anything else is kept (the reader
// reports what cannot be opened).
bool expand(const std::string& arg, std::vector<std::string>& files, std::ostream& err) {
  std::error_code ec;
  if (!std::filesystem::is_directory(arg, ec)) {
    files.push_back(arg);
    return true;
  }
  std::vector<std::string> found;
  for (const auto& e : std::filesystem::directory_iterator(arg, ec))
    if (e.path().extension() == ".jsonl") found.push_back(e.path().string());
  if (ec || found.empty()) {
    err << "mailtap report: " << arg
        << (ec ? ": cannot list directory: " + ec.message() : ": no .jsonl transcripts in it")
        << "\n";
    return false;
  }
  std::sort(found.begin(), found.end());
  files.insert(files.end(), found.begin(), found.end());
  return true;
}

}  // namespace

int run_report(const std::vector<std::string>& args, const std::string& output,
               const ReportOptions& options, std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    err << "mailtap report: name at least one transcript\n";
    return 2;
  }
  std::vector<std::string> files;
  for (const auto& a : args)
    if (!expand(a, files, err)) return 2;
  std::vector<ReportSession> sessions;
  for (const auto& f : files) {
    try {
      sessions.push_back({f, transcript::read_transcript(f)});
    } catch (const transcript::TranscriptReadError& e) {
      err << "mailtap report: " << e.what() << "\n";
      return 2;
    }
  }
  std::optional<diff::SessionDiff> comparison;
  if (sessions.size() == 2)
    comparison = diff::diff_transcripts(sessions[0].transcript, sessions[1].transcript, {});

  std::ostringstream page;
  write_report(sessions, comparison, page, options);
  if (output == "-") {
    out << page.str();
    return 0;
  }
  // Written next to the target and renamed into place: a reader never sees half a page.
  const std::filesystem::path target(output);
  std::filesystem::path tmp = target;
  tmp += ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << page.str();
    f.flush();
    if (!f) {
      err << "mailtap report: cannot write " << tmp.string() << "\n";
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      return 2;
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, target, ec);
  if (ec) {
    err << "mailtap report: cannot write " << output << ": " << ec.message() << "\n";
    std::filesystem::remove(tmp, ec);
    return 2;
  }
  return 0;
}

}  // namespace mailtap::report
