// Byte-level readers for a POP3 session decoder (RFC 1939 3): lines, and the dot-terminated body of
// a multi-line reply. They work on the bytes of each transcript event as they come, wherever the
// session layer cut them: a line may span events, the terminating ".\r\n" may be split after its
// dot. Memory is bounded: a line is kept up to a limit (the rest counted), a body is not kept.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mailtap/decode/message_summary.h"

namespace mailtap::decode::pop3 {

class LineReader {
 public:
  static constexpr size_t kMaxLine = 8192;  // RFC 2449 allows 512 octets for a reply line

  struct Line {
    std::string text;         // without CRLF (clipped to kMaxLine)
    size_t event_begin = 0;   // where this line's bytes in the current event start and end
    size_t event_end = 0;     // (the end includes the LF)
    uint64_t offset = 0;      // bytes of the line that came in earlier events
    bool truncated = false;
  };

  // Reads one line from bytes[pos...], advancing pos. Empty when the bytes end first: what was
  // read is held for the next call (see pending()).
  std::optional<Line> read(std::string_view bytes, size_t& pos);

  std::string_view pending() const { return partial_; }
  uint64_t pending_size() const { return partial_size_; }
  void reset();

 private:
  std::string partial_;
  uint64_t partial_size_ = 0;
};

// The body of a multi-line reply, up to and including its terminating "." line. Bytes go to an
// optional summarizer as they are on the wire (dot-stuffed): it unstuffs them.
class BodyReader {
 public:
  struct Result {
    size_t body_begin = 0;  // the body bytes of this call: [body_begin, body_end)
    size_t body_end = 0;
    bool terminated = false;  // the terminating line was read: [body_end, term_end) of the event
    size_t term_end = 0;      // (the terminator may have started with a dot held from before)
  };

  // Reads from bytes[pos...] until the terminator or the end, advancing pos.
  Result read(std::string_view bytes, size_t& pos, MessageSummarizer* sink);
  // Wire bytes of the body so far (terminator excluded).
  uint64_t wire_size() const { return wire_size_; }
  void reset();

 private:
  bool at_line_start_ = true;
  std::string held_;  // "." or ".\r" at a line start: the terminator, or a stuffed dot
  uint64_t wire_size_ = 0;
};

}  // namespace mailtap::decode::pop3
