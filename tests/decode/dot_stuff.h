// The wire form of a message in a dot-terminated body (RFC 5321 4.5.2, RFC 1939 3): a '.' that
// starts a line is doubled. Written out byte by byte, as the tests' independent definition.
#pragma once

#include <string>
#include <string_view>

namespace mailtap::testing {

inline std::string dot_stuff(std::string_view content) {
  std::string out;
  bool line_start = true;
  for (char c : content) {
    if (line_start && c == '.') out += '.';
    out += c;
    line_start = c == '\n';
  }
  return out;
}

}  // namespace mailtap::testing
