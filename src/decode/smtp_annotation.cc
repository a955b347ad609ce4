#include "smtp_annotation.h"

#include <algorithm>

#include "json_object.h"
#include "mailtap/transcript/bytes_codec.h"
#include "sasl_text.h"

namespace mailtap::decode::smtp_detail {
namespace {

// Notes and warning messages leave as valid UTF-8 whatever a call site forgot to escape (the
// writer's JSON would otherwise carry U+FFFD, and a strict reader could refuse the line).
// Generous caps: call sites bound their own pieces.
constexpr size_t kMaxNoteBytes = 16 * 1024;
constexpr size_t kMaxWarningBytes = 4 * 1024;

}  // namespace

void Annotation::add(nlohmann::json decoded, std::string note) {
  units_.add(std::move(decoded), std::move(note));
}

void Annotation::warn(std::string code, std::string message) {
  warnings_.push_back(json_object("code", text::json_safe(code, 64), "message",
                                  text::json_safe(message, kMaxWarningBytes)));
}

void Annotation::add_warnings(const nlohmann::json& warnings) {
  if (!warnings.is_array()) return;
  for (const auto& w : warnings) warnings_.push_back(w);
}

void Annotation::replace(std::ptrdiff_t offset, size_t length, std::string replacement) {
  if (offset < 0) {
    size_t before = static_cast<size_t>(-offset);
    if (before >= length) return;  // entirely in earlier events
    length -= before;
    offset = 0;
  }
  replacements_.push_back({static_cast<size_t>(offset), length, std::move(replacement)});
}

void Annotation::apply(const transcript::Event& event, nlohmann::json& out) {
  units_.move_decoded_into(out, "items");
  std::string note = units_.take_notes("", " | ");
  if (!note.empty()) out["note"] = text::make_json_safe(std::move(note), kMaxNoteBytes);
  if (!warnings_.empty()) {
    nlohmann::json& existing = out["warnings"];
    if (!existing.is_array()) existing = nlohmann::json::array();
    for (const auto& w : warnings_) {
      bool duplicate = std::any_of(existing.begin(), existing.end(), [&](const nlohmann::json& e) {
        return e.is_object() && e.contains("code") && w.contains("code") && e["code"] == w["code"];
      });
      if (!duplicate) existing.push_back(w);
    }
  }
  if (replacements_.empty()) return;
  std::vector<Replacement> sorted = replacements_;
  std::sort(sorted.begin(), sorted.end(),
            [](const Replacement& x, const Replacement& y) { return x.offset < y.offset; });
  const std::string& bytes = event.bytes;
  std::string rewritten;
  size_t pos = 0;
  for (const auto& r : sorted) {
    if (r.offset < pos || r.offset > bytes.size()) continue;  // overlapping or out of range
    rewritten.append(bytes, pos, r.offset - pos);
    rewritten += r.text;
    pos = r.offset + std::min(r.length, bytes.size() - r.offset);
  }
  rewritten.append(bytes, pos, std::string::npos);
  out.erase("text");
  out.erase("b64");
  if (transcript::is_transcript_text(rewritten)) {
    out["text"] = rewritten;
  } else {
    out["b64"] = transcript::base64_encode(rewritten);
  }
  out["redacted"] = true;
}

}  // namespace mailtap::decode::smtp_detail
