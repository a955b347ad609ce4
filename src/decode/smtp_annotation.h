// What a decoder adds to one transcript event, collected while the event is decoded and applied
// to its JSON at the end (private to src/decode). Collecting first means an exception half-way
// leaves the event untouched, and several lines in one unframed event still give one annotation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "decoded_units.h"
#include "mailtap/transcript/event.h"

namespace mailtap::decode::smtp_detail {

class Annotation {
 public:
  // One decoded unit (a command, a reply, a SASL step...) and its note (may be empty).
  void add(nlohmann::json decoded, std::string note);
  void warn(std::string code, std::string message);
  void add_warnings(const nlohmann::json& warnings);  // array of {"code","message"}
  // Replace event bytes [offset, offset+length) by `replacement` in the recorded raw line. A
  // negative offset (a line that began in an earlier event) replaces only the part in this event.
  void replace(std::ptrdiff_t offset, size_t length, std::string replacement);

  // "decoded": the one unit, or {"items": [...]} when the event held several; "note": the notes
  // joined with " | "; "warnings": appended, skipping a code the event already carries;
  // replacements rewrite "text"/"b64" and set "redacted": true.
  // Moves the decoded objects out (no deep copy per line): call it once, last.
  void apply(const transcript::Event& event, nlohmann::json& out);

 private:
  struct Replacement {
    size_t offset;
    size_t length;
    std::string text;
  };
  DecodedUnits units_;
  std::vector<nlohmann::json> warnings_;  // no allocation for the usual event without any
  std::vector<Replacement> replacements_;
};

}  // namespace mailtap::decode::smtp_detail
