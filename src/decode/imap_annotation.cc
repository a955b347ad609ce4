#include "imap_annotation.h"

#include <algorithm>

#include "json_object.h"
#include "mailtap/decode/sasl.h"
#include "sasl_text.h"

namespace mailtap::decode::imap {

using nlohmann::json;

void Annotation::add(json decoded, std::string note) {
  units_.add(std::move(decoded), std::move(note));
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
  units_.move_decoded_into(out, "parts");
  std::string note = units_.take_notes(prefix_, "; ");
  if (!note.empty()) out["note"] = text::make_json_safe(std::move(note), 4000);
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
