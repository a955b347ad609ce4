// Finds the end of a dot-terminated body (SMTP DATA, POP3 multi-line) in a stream of arbitrary
// pieces: the line "." at a line start. Holds at most two bytes ("." or ".\r") between pieces.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mailtap::session {

class BodyTerminator {
 public:
  // Scans `in`. Appends body bytes that are certainly content to `body`. Returns how many bytes of
  // `in` were consumed; when the terminator ".\r\n" was found, `found` is set and the consumed
  // count includes it (the terminator itself is not appended to `body`).
  size_t scan(std::string_view in, std::string& body, bool& found);
  // Bytes held back because they might start the terminator.
  const std::string& held() const { return held_; }
  std::string take_held();
  void reset() { at_line_start_ = true; held_.clear(); }

 private:
  bool at_line_start_ = true;  // a body starts at a line start
  std::string held_;           // "" / "." / ".\r"
};

}  // namespace mailtap::session
