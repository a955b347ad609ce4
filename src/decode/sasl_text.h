// Small text helpers shared by the SASL and SMTP decoders (private to src/decode).
// Everything put into a transcript's JSON must be valid UTF-8 (nlohmann::json refuses to dump
// anything else), so decoded bytes go through json_safe() before they become a field.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mailtap::decode::text {

// Longest decoded value kept in a field; longer values are clipped with "..." and their size.
inline constexpr size_t kMaxFieldBytes = 1024;
// Longest warning or note text; these quote clipped fields, so the limit is only a backstop.
inline constexpr size_t kMaxMessageBytes = 4096;

// The parts joined, with one allocation (a chain of operator+ regrows the string at each step).
template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::string out;
  out.reserve((std::string_view(parts).size() + ...));
  (out.append(std::string_view(parts)), ...);
  return out;
}
// Appends the parts to `out`, growing it once.
template <typename... Parts>
void append(std::string& out, const Parts&... parts) {
  out.reserve(out.size() + (std::string_view(parts).size() + ...));
  (out.append(std::string_view(parts)), ...);
}

// Valid UTF-8 kept; control characters (other than tab) and invalid bytes written as \xNN;
// clipped to `max_bytes` (on a character boundary) with "..." appended when longer.
std::string json_safe(std::string_view bytes, size_t max_bytes = kMaxFieldBytes);
// The same for a string the caller gives up: returned as it is (no copy) when it is already
// printable ASCII no longer than `max_bytes`, as nearly every note is.
std::string make_json_safe(std::string&& bytes, size_t max_bytes = kMaxFieldBytes);

// True when the bytes are valid UTF-8 without control characters other than tab/CR/LF.
bool is_printable(std::string_view bytes);

// ASCII case-insensitive helpers.
std::string upper(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
bool istarts_with(std::string_view s, std::string_view prefix);

// Strips ASCII spaces, tabs, CR and LF from both ends.
std::string_view trim(std::string_view s);
// Strips a trailing CRLF or LF (or a lone CR).
std::string_view strip_eol(std::string_view line);

}  // namespace mailtap::decode::text
