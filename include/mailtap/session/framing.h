// Incremental framing of both directions of one session: bytes in, protocol frames out (whole
// lines, IMAP literal pieces, message body pieces, BDAT chunk pieces). Frames never cut through a
// line, so the session can act on parsed commands and never on sniffed bytes. Lines are bounded; a
// literal or body is streamed, never buffered whole.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mailtap/core/protocol.h"
#include "mailtap/core/side.h"
#include "mailtap/transcript/event.h"

namespace mailtap::session {

struct Frame {
  transcript::FrameKind kind = transcript::FrameKind::line;
  std::string bytes;
};

// Longest line accepted (octets, CRLF included) before the session is closed with an error.
struct LineLimits {
  size_t client_command = 0;  // 0: the protocol default (SMTP 512, IMAP 8192, POP3 512)
  size_t client_sasl = 12288;  // AUTH lines and SASL responses (RFC 4954 allows 12288)
  size_t server_line = 0;      // 0: the protocol default (SMTP 2048, IMAP 1 MiB, POP3 4096)
};

struct FramingError {
  std::string message;  // for people: what broke which limit
  std::string code;     // for tools: "line_too_long", "bad_literal"
};

class Framing {
 public:
  virtual ~Framing() = default;
  // Appends the complete frames found in `bytes` (received from `from`) to `out`. Incomplete lines
  // are held. On a broken limit, stops and returns the error; the session must then close.
  virtual std::optional<FramingError> feed(Side from, std::string_view bytes,
                                           std::vector<Frame>& out) = 0;
  // Removes and returns bytes from `from` held back waiting for a line end (used when a leg closes
  // or switches to TLS, so they are recorded instead of lost).
  virtual std::string take_pending(Side from) = 0;
  // Whether bytes from `from` are held waiting for the end of a line (slow-sender deadline).
  virtual bool holding_partial_line(Side from) const = 0;
  // The session consumed the last client command itself (never forwarded): forget it, so replies
  // keep pairing with the commands the server really saw.
  virtual void retract_last_client_command() {}
};

std::unique_ptr<Framing> make_framing(Protocol protocol, const LineLimits& limits);

}  // namespace mailtap::session
