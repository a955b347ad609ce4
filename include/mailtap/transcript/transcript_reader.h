// Reads a transcript file back: the header line and every event line as JSON. Used by `mailtap
// show`, `mailtap diff` and tests. Keys a reader does not know are kept and must be ignored by
// whoever does not understand them; that is how the format grows without a version bump.
#pragma once

#include <cstddef>
#include <filesystem>
#include <istream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace mailtap::transcript {

struct Transcript {
  std::filesystem::path path;
  nlohmann::json header;               // the {"type":"session",...} line
  std::vector<nlohmann::json> events;  // every later line, in file order
  // The last line had no newline and was not complete JSON: the writer was killed mid-line. That
  // line is left out; everything before it is intact.
  bool truncated = false;
};

// A transcript that cannot be read. what() says which file, which line and why.
class TranscriptReadError : public std::runtime_error {
 public:
  TranscriptReadError(const std::string& source, size_t line, const std::string& why);
  size_t line() const { return line_; }  // 1-based; 0 when the file itself could not be opened

 private:
  size_t line_;
};

// Throws TranscriptReadError on an unreadable file, a first line that is not a mailtap transcript
// header, a format version newer than this build understands, or a malformed line other than a
// truncated last one.
Transcript read_transcript(const std::filesystem::path& path);
// Same, from a stream; `source` names it in error messages.
Transcript read_transcript(std::istream& in, const std::string& source);

}  // namespace mailtap::transcript
