#include "mailtap/transcript/transcript_reader.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "mailtap/transcript/session_header.h"

namespace mailtap::transcript {
namespace {

std::string describe(const std::string& source, size_t line, const std::string& why) {
  if (line == 0) return source + ": " + why;
  return source + ":" + std::to_string(line) + ": " + why;
}

void check_header(const nlohmann::json& h, const std::string& source) {
  if (!h.is_object() || h.value("type", "") != "session" ||
      h.value("format", "") != "mailtap-transcript") {
    throw TranscriptReadError(
        source, 1,
        "not a mailtap transcript (the first line must be the "
        "{\"type\":\"session\",\"format\":\"mailtap-transcript\",...} header)");
  }
  auto version = h.find("version");
  if (version == h.end() || !version->is_number_integer()) {
    throw TranscriptReadError(source, 1, "header has no integer \"version\"");
  }
  if (version->get<int64_t>() > kFormatVersion) {
    throw TranscriptReadError(source, 1,
                              "transcript format version " +
                                  std::to_string(version->get<int64_t>()) +
                                  " is newer than this mailtap understands (" +
                                  std::to_string(kFormatVersion) + "); upgrade mailtap");
  }
}

}  // namespace

TranscriptReadError::TranscriptReadError(const std::string& source, size_t line,
                                         const std::string& why)
    : std::runtime_error(describe(source, line, why)), line_(line) {}

Transcript read_transcript(std::istream& in, const std::string& source) {
  Transcript t;
  t.path = source;
  std::string line;
  size_t number = 0;
  bool have_header = false;
  while (std::getline(in, line)) {
    ++number;
    // getline() stops at EOF without setting failbit when the last line has no '\n'.
    const bool unterminated = in.eof();
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
      if (unterminated) break;
      throw TranscriptReadError(source, number, "empty line");
    }
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      if (unterminated && have_header) {
        t.truncated = true;  // cut mid-write (e.g. SIGKILL); earlier lines are complete
        break;
      }
      if (unterminated && !have_header) {
        throw TranscriptReadError(source, number, "header line is incomplete (file truncated)");
      }
      throw TranscriptReadError(source, number, "not valid JSON");
    }
    if (!j.is_object()) throw TranscriptReadError(source, number, "line is not a JSON object");
    if (!have_header) {
      check_header(j, source);
      t.header = std::move(j);
      have_header = true;
      continue;
    }
    if (!j.contains("type") || !j["type"].is_string()) {
      throw TranscriptReadError(source, number, "event line has no string \"type\"");
    }
    t.events.push_back(std::move(j));
  }
  if (in.bad()) throw TranscriptReadError(source, number + 1, "read error");
  if (!have_header) throw TranscriptReadError(source, 0, "empty file, not a mailtap transcript");
  return t;
}

Transcript read_transcript(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw TranscriptReadError(path.string(), 0, "is a directory, not a transcript file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw TranscriptReadError(path.string(), 0,
                              std::string("cannot open: ") + std::strerror(errno));
  Transcript t = read_transcript(in, path.string());
  t.path = path;
  return t;
}

}  // namespace mailtap::transcript
