// Internal: small text helpers shared by the runner, the transcript import and the reports.
#pragma once

#include <cctype>
#include <string>
#include <string_view>
#include <vector>

namespace mailtap::run {

inline std::string_view without_line_end(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// Splits bytes into lines without their line ends (a last line without one is kept).
inline std::vector<std::string> split_lines(std::string_view bytes) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t nl = bytes.find('\n', pos);
    size_t end = nl == std::string_view::npos ? bytes.size() : nl + 1;
    out.emplace_back(without_line_end(bytes.substr(pos, end - pos)));
    pos = end;
  }
  return out;
}

// Control characters as \xNN so a line stays one readable line on a terminal.
inline std::string printable(std::string_view s) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 && c != '\t') {
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  return out;
}

inline std::string word_at(std::string_view line, size_t index) {
  size_t pos = 0;
  for (size_t i = 0;; ++i) {
    while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
    size_t start = pos;
    while (pos < line.size() && line[pos] != ' ' && line[pos] != '\t' && line[pos] != '\r' &&
           line[pos] != '\n')
      ++pos;
    if (start == pos) return {};
    if (i == index) return std::string(line.substr(start, pos - start));
  }
}

inline std::string detail_upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

inline bool starts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace mailtap::run
