// Small ASCII helpers for protocol lines (private to the session layer).
#pragma once

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

namespace mailtap::session {

inline std::string_view trim_crlf(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

inline std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

inline bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::toupper(x) == std::toupper(y);
         });
}

inline bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// Whether the line under way, `held` bytes then `next` ones, begins with `prefix` (any case):
// the answer must not depend on where the bytes were cut.
inline bool line_starts_with(std::string_view held, std::string_view next,
                             std::string_view prefix) {
  std::string head(held.substr(0, prefix.size()));
  head.append(next.substr(0, prefix.size() - head.size()));
  return istarts_with(head, prefix);
}

// The n-th space-separated word of a line (0-based), CRLF excluded.
inline std::string_view word(std::string_view line, size_t n) {
  line = trim_crlf(line);
  size_t pos = 0;
  for (size_t i = 0;; ++i) {
    while (pos < line.size() && line[pos] == ' ') ++pos;
    if (pos >= line.size()) return {};
    size_t end = line.find(' ', pos);
    if (end == std::string_view::npos) end = line.size();
    if (i == n) return line.substr(pos, end - pos);
    pos = end;
  }
}

inline bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

}  // namespace mailtap::session
