// The decoded units and notes one event's annotation gathers, shared by the SMTP and the IMAP/POP3
// annotations (private to src/decode). Nearly every event has one decoded unit and one note: the
// first of each is kept inline (no vector allocated per event), the rest in order after it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mailtap::decode {

class DecodedUnits {
 public:
  // A null `decoded` or an empty `note` adds nothing of that kind.
  void add(nlohmann::json decoded, std::string note) {
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

  bool empty() const { return first_decoded_.is_null() && first_note_.empty(); }

  // Sets out["decoded"]: the one unit, or {list_key: [units...]} for several. Moves them out.
  void move_decoded_into(nlohmann::json& out, const char* list_key) {
    if (first_decoded_.is_null()) return;
    if (more_decoded_.empty()) {
      out["decoded"] = std::move(first_decoded_);
      return;
    }
    nlohmann::json list = nlohmann::json::array();
    list.push_back(std::move(first_decoded_));
    for (nlohmann::json& d : more_decoded_) list.push_back(std::move(d));
    nlohmann::json decoded = nlohmann::json::object();
    decoded[list_key] = std::move(list);
    out["decoded"] = std::move(decoded);
  }

  // `prefix` and the notes joined by `separator` (empty when there is no note). Moves them out.
  std::string take_notes(std::string_view prefix, std::string_view separator) {
    if (first_note_.empty()) return {};
    if (prefix.empty() && more_notes_.empty()) return std::move(first_note_);
    std::string note(prefix);
    note += first_note_;
    for (const std::string& more : more_notes_) (note += separator) += more;
    return note;
  }

 private:
  nlohmann::json first_decoded_;
  std::vector<nlohmann::json> more_decoded_;
  std::string first_note_;
  std::vector<std::string> more_notes_;
};

}  // namespace mailtap::decode
