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
#include <utility>
#include <vector>

#include "mailtap/core/protocol.h"
#include "mailtap/core/side.h"
#include "mailtap/transcript/event.h"

namespace mailtap::session {

struct Frame {
  Frame() = default;
  Frame(transcript::FrameKind k, std::string b) : kind(k), bytes(std::move(b)) {}

  transcript::FrameKind kind = transcript::FrameKind::line;
  std::string bytes;
  // A client line that is not a command: a SASL response, or the rest of an IMAP command after a
  // literal. Only command lines may be parsed for a verb (STARTTLS, credentials...).
  bool continuation = false;
  // A server frame where replies pair with commands in order (SMTP, POP3): the upper-cased verb
  // of the client command it answers. "" for the greeting, unsolicited replies, and IMAP.
  std::string answers;
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
  // With `consumed`, stops after the first complete client line and stores how many bytes of
  // `bytes` were used: the session acts on each command line before the framing reads on, so a
  // command it answers itself or bytes it drops never advance the framing's state.
  virtual std::optional<FramingError> feed(Side from, std::string_view bytes,
                                           std::vector<Frame>& out, size_t* consumed = nullptr) = 0;
  // Removes and returns bytes from `from` held back waiting for a line end, and forgets where that
  // side's stream was (a literal, body or chunk under way): used when a leg closes or switches to
  // TLS, so the held bytes are recorded instead of lost and the new stream starts afresh.
  virtual std::string take_pending(Side from) = 0;
  // Whether bytes from `from` are held waiting for the end of a line (slow-sender deadline).
  virtual bool holding_partial_line(Side from) const = 0;
  // The session consumed the last client command itself (never forwarded): forget it, so replies
  // keep pairing with the commands the server really saw. A synchronizing IMAP literal it
  // announced is no longer expected (the client waits for a "+" that will not come). Returns true
  // when more of the command will still arrive (a non-synchronizing literal): the session cannot
  // tell those bytes from the next command and must end.
  virtual bool retract_last_client_command() { return false; }
  // How many replies the server still owes for client commands it was sent (a multi-line reply or
  // body still under way counts). When mailtap answers STARTTLS itself, its answer waits until
  // these were relayed: the client reads them first, in cleartext, never inside TLS.
  virtual size_t replies_owed() const { return 0; }
  // The client is in the middle of sending a message body, chunk or literal (SMTP DATA after the
  // 354, BDAT; an IMAP literal or the rest of the command after one): it waits for the reply that
  // will follow, though replies_owed() may not count it yet (SMTP counts the message's reply only
  // once its terminating line has arrived).
  virtual bool client_mid_message() const { return false; }
  // The server is in the middle of a reply whose complete lines or pieces are already out of the
  // framing: a multi-line SMTP reply whose final line has not come, a POP3 list or body, an IMAP
  // literal or the rest of a response after one. A line of mailtap's own sent now would be read
  // as more of that reply.
  virtual bool server_mid_reply() const { return false; }
};

std::unique_ptr<Framing> make_framing(Protocol protocol, const LineLimits& limits);

}  // namespace mailtap::session
