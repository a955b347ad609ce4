// What a mail protocol decoder (IMAP, POP3) adds to one transcript event, gathered while the
// event's bytes are parsed and written into the event's JSON at the end: decoded objects, notes,
// warnings, and edits of the raw bytes that replace secrets by redaction tokens.
// Private to src/decode.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "decoded_units.h"
#include "mailtap/decode/session_decoder.h"
#include "mailtap/transcript/event.h"

namespace mailtap::decode::imap {

class Annotation {
 public:
  // One decoded unit (a command, a response, a literal piece) and its note.
  void add(nlohmann::json decoded, std::string note);
  // Said before every note of this event ("dropped by mailtap: ").
  void prefix(std::string text) { prefix_ = std::move(text); }
  void warn(std::string code, std::string message);
  // Appends an array of {"code","message"} (as SaslStep::warnings).
  void warn_all(const nlohmann::json& warnings);

  // Replaces the event's bytes [begin, end) by `replacement` in the written text.
  void edit(size_t begin, size_t end, std::string replacement);
  // The same for a range of a protocol line, given where the line sits in the event: the line's
  // byte `line_offset` is the event's byte `event_begin` (earlier bytes of the line came in
  // earlier events and are out of reach). Parts before the event are skipped.
  void edit_line_range(size_t line_begin, size_t line_end, size_t event_begin, uint64_t line_offset,
                       std::string replacement);

  bool empty() const { return units_.empty() && warnings_.empty(); }

  // Writes everything into `out`: "decoded" (the object, or {"parts": [...]} for several),
  // "note" (joined by "; "), "warnings" (appended), and with edits the redacted "text" (or "b64"
  // when the result is not printable) and "redacted": true. Moves the decoded objects and
  // warnings out (no deep copy per line): call it once, last.
  void apply(const transcript::Event& event, nlohmann::json& out);

 private:
  struct Edit {
    size_t begin;
    size_t end;
    std::string replacement;
  };
  DecodedUnits units_;
  std::vector<nlohmann::json> warnings_;  // no allocation for the usual event without any
  std::vector<Edit> edits_;
  std::string prefix_;
};

}  // namespace mailtap::decode::imap
