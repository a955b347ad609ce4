// Cuts one direction's byte stream into lines (LF-terminated, CRLF kept), holding an incomplete
// line between feeds and refusing to hold more than a limit.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mailtap::session {

class LineSplitter {
 public:
  enum class Result { line, need_more, too_long };
  // Takes the next line from `in` (advancing it) into `line`. need_more: everything was held;
  // too_long: the line (held part included) exceeds `limit` octets.
  Result next(std::string_view& in, size_t limit, std::string& line);
  std::string take_pending();
  // Holds `line` (just returned by next) again, ahead of anything held: a line the framing
  // refuses stays pending, so the session records it before the rest of the read.
  void put_back(std::string line) { pending_.insert(0, line); }
  std::string_view pending() const { return pending_; }

 private:
  std::string pending_;
};

}  // namespace mailtap::session
