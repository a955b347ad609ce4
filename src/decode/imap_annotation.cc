#include "imap_annotation.h"

#include <algorithm>

#include "json_object.h"
#include "mailtap/decode/sasl.h"
#include "sasl_text.h"

namespace mailtap::decode::imap {

using nlohmann::json;

void Annotation::add(json decoded, std::string note) {
  if (!decoded.is_null()) {
    if (first_decoded_.is_null()) {
      first_decoded_ = std::move(decoded);
    } else {
      more_decoded_.push_back(std::move(decoded));
    }
  }
  if (!note.empty()) {
    if (first_note_.empty()) {
      first_note_ = std::move(note);
    } else {
      more_notes_.push_back(std::move(note));
    }
  }
}

void Annotation::warn(std::string code, std::string message) {
  // Bounded: a flood of bad lines in one event gives a handful of warnings, not thousands.
  if (warnings_.size() >= 16) return;
  warnings_.push_back(
      json_object("code", std::move(code), "message", text::json_safe(message, 400)));
}

void Annotation::warn_all(const json& warnings) {
  if (!warnings.is_array()) return;
  for (const auto& w : warnings) {
    if (w.is_object()) warn(w.value("code", "warning"), w.value("message", ""));
  }
}

void Annotation::edit(size_t begin, size_t end, std::string replacement) {
  if (end <= begin) return;
  edits_.push_back({begin, end, std::move(replacement)});
}

void Annotation::edit_line_range(size_t line_begin, size_t line_end, size_t event_begin,
                                 uint64_t line_offset, std::string replacement) {
  if (line_end <= line_offset) return;  // entirely in earlier events
  size_t begin = event_begin + (line_begin > line_offset ? line_begin - line_offset : 0);
  size_t end = event_begin + static_cast<size_t>(line_end - line_offset);
  edit(begin, end, std::move(replacement));
}

void Annotation::apply(const transcript::Event& event, json& out) {
  if (!first_decoded_.is_null()) {
    if (more_decoded_.empty()) {
      out["decoded"] = std::move(first_decoded_);
    } else {
      json parts = json::array();
      parts.push_back(std::move(first_decoded_));
      for (json& d : more_decoded_) parts.push_back(std::move(d));
      json decoded = json::object();
      decoded["parts"] = std::move(parts);
      out["decoded"] = std::move(decoded);
    }
  }
  if (!first_note_.empty()) {
    std::string note;
    if (prefix_.empty() && more_notes_.empty()) {
      note = std::move(first_note_);
    } else {
      note = prefix_ + first_note_;
      for (const std::string& more : more_notes_) (note += "; ") += more;
    }
    out["note"] = text::make_json_safe(std::move(note), 4000);
  }
  if (!warnings_.empty()) {
    json& warnings = out["warnings"];
    if (!warnings.is_array()) warnings = json::array();
    for (auto& w : warnings_) warnings.push_back(std::move(w));
  }
  if (edits_.empty()) return;
  std::vector<Edit> edits = edits_;
  std::sort(edits.begin(), edits.end(),
            [](const Edit& a, const Edit& b) { return a.begin < b.begin; });
  const std::string& bytes = event.bytes;
  std::string result;
  size_t pos = 0;
  for (const Edit& e : edits) {
    size_t begin = std::min(e.begin, bytes.size());
    size_t end = std::min(e.end, bytes.size());
    if (begin < pos) begin = pos;  // overlapping edits: the earlier one wins
    if (end <= begin) continue;
    result.append(bytes, pos, begin - pos);
    result += e.replacement;
    pos = end;
  }
  result.append(bytes, std::min(pos, bytes.size()), std::string::npos);
  if (text::is_printable(result)) {
    out["text"] = result;
    out.erase("b64");
  } else {
    out["b64"] = base64_encode(result);
    out.erase("text");
  }
  out["redacted"] = true;
}

}  // namespace mailtap::decode::imap
