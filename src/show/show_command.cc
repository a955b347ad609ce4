#include "mailtap/show/show_command.h"

#include <algorithm>
#include <filesystem>

#include "mailtap/show/render.h"
#include "mailtap/transcript/transcript_reader.h"

namespace mailtap::show {
namespace {

// Expands directories into their transcripts; reports a missing path and returns false.
bool expand(const std::string& arg, std::vector<std::filesystem::path>& files, std::ostream& err) {
  std::error_code ec;
  if (!std::filesystem::is_directory(arg, ec)) {
    files.emplace_back(arg);  // the reader reports it if it cannot be opened
    return true;
  }
  std::vector<std::filesystem::path> found;
  for (const auto& entry : std::filesystem::directory_iterator(arg, ec)) {
    if (entry.path().extension() == ".jsonl") found.push_back(entry.path());
  }
  if (ec) {
    err << "mailtap show: " << arg << ": cannot list directory: " << ec.message() << "\n";
    return false;
  }
  if (found.empty()) {
    err << "mailtap show: " << arg << ": no .jsonl transcripts in this directory\n";
    return false;
  }
  std::sort(found.begin(), found.end());
  files.insert(files.end(), found.begin(), found.end());
  return true;
}

}  // namespace

int run_show(const std::vector<std::string>& args, const std::string& format_name, bool color,
             std::ostream& out, std::ostream& err) {
  auto format = parse_format(format_name);
  if (!format) {
    err << "mailtap show: unknown format '" << format_name << "' (use text, markdown or json)\n";
    return 2;
  }
  if (args.empty()) {
    err << "mailtap show: name at least one transcript file or directory\n";
    return 2;
  }
  int status = 0;
  std::vector<std::filesystem::path> files;
  for (const auto& a : args) {
    if (!expand(a, files, err)) status = 2;
  }
  RenderOptions options;
  options.color = color && *format == Format::text;
  bool first = true;
  for (const auto& file : files) {
    transcript::Transcript t;
    try {
      t = transcript::read_transcript(file);
    } catch (const transcript::TranscriptReadError& e) {
      err << "mailtap show: " << e.what() << "\n";
      status = 2;
      continue;
    }
    if (!first && *format != Format::json) out << "\n";
    first = false;
    render(t.header, t.events, *format, out, options);
    if (t.truncated) {
      err << "mailtap show: " << file.string()
          << ": the last line was cut off mid-write (mailtap was killed?); it is not shown\n";
      if (*format == Format::text) out << "  (transcript ends with a cut-off line)\n";
    }
  }
  return status;
}

}  // namespace mailtap::show
