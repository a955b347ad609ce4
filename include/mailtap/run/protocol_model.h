// What the runner must know about SMTP, IMAP and POP3 to play the client side: how client bytes
// are framed, which server responses they cause and how to tell when each is complete, where the
// client must wait before sending more (STARTTLS, AUTH, DATA, IMAP synchronizing literals, IDLE),
// and the protocol's words for STARTTLS and AUTH. Pure: no sockets, so it is tested on its own.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mailtap/core/protocol.h"
#include "mailtap/session/framing.h"

namespace mailtap::run {

// A response the client waits for, and how its end is recognised.
struct Await {
  enum class Kind {
    smtp_reply,     // lines until one whose code is followed by a space (or nothing)
    imap_greeting,  // one untagged line
    imap_tagged,    // untagged lines (with literals) until "tag ..." or a "+" continuation
    pop3_line,      // one status line (or a "+ " SASL continuation)
    pop3_list,      // status line; after +OK, lines until "."
    pop3_body,      // status line; after +OK, a dot-stuffed message until "."
  };
  Kind kind = Kind::smtp_reply;
  std::string tag;      // imap_tagged
  std::string answers;  // the command it answers ("greeting", "DATA", "AUTH", "STARTTLS", ...)
};

// What the server said in answer to one Await, framed as the transcript records it.
struct Response {
  Await await;
  std::vector<session::Frame> frames;
  bool complete = false;  // false: the server closed, timed out or failed mid-response
  std::string problem;    // why it is not complete

  std::vector<std::string> lines() const;  // every line without its line end
  std::string first_line() const;
  std::string last_line() const;
};

struct SendPlan {
  std::vector<session::Frame> frames;  // the bytes to send, framed for the transcript
  std::vector<Await> awaits;           // the responses they cause, in order
  bool sync = false;                   // read those responses before sending anything more
  bool starttls = false;               // STARTTLS/STLS: a positive reply starts the TLS handshake
  std::string auth_mechanism;          // AUTH/AUTHENTICATE: a SASL exchange starts
  bool sync_literal = false;           // IMAP: the line announced a synchronizing literal
};

class ProtocolModel {
 public:
  virtual ~ProtocolModel() = default;
  virtual Protocol protocol() const = 0;
  virtual Await greeting() const = 0;

  // Frames bytes the client is about to send (any number of whole lines, or literal/chunk/body
  // content) and says what the server will answer.
  virtual SendPlan plan(std::string_view bytes) = 0;
  // Learns from each complete response, in the order of the awaits.
  virtual void on_response(const Response& response) = 0;

  // SMTP: between a 354 and the "." line, client lines are message content (dot-stuffed).
  virtual bool in_message_body() const { return false; }
  // The server's last response was a SASL challenge: the next client line is a SASL message.
  virtual bool in_sasl() const = 0;
  // IMAP: content of a literal is being sent (its bytes are not commands).
  virtual bool in_literal() const { return false; }

  // Whether a response is a success (2xx/3xx, +OK, tagged OK) / a SASL continuation (334, "+").
  virtual bool positive(const Response& response) const = 0;
  virtual bool continuation(const Response& response) const = 0;
  // The base64 text of a SASL challenge ("334 xxx", "+ xxx"); empty for an empty challenge.
  virtual std::string challenge_text(const Response& response) const = 0;

  // The protocol's STARTTLS command line (CRLF included); `tag` for IMAP.
  virtual std::string starttls_command(const std::string& tag) const = 0;
  // The AUTH command line; `initial` is the base64 initial response when the mechanism speaks
  // first and the protocol lets it ride along (empty optional: none).
  virtual std::string auth_command(const std::string& mechanism, const std::string& tag,
                                   const std::optional<std::string>& initial) const = 0;
  // Whether the runner sends the initial response with the AUTH command (SMTP, POP3: yes; IMAP:
  // only with SASL-IR, which the runner does not assume).
  virtual bool sends_initial_response() const = 0;
};

std::unique_ptr<ProtocolModel> make_protocol_model(Protocol protocol);

}  // namespace mailtap::run
