// What the session needs to know about one protocol beyond framing: which client lines are
// STARTTLS or carry credentials, what a positive STARTTLS reply looks like, the protocol-correct
// words mailtap uses when it must answer a client itself, how to negotiate STARTTLS with an
// upstream on its own, and how to adjust advertised capabilities. One instance per session.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mailtap/core/protocol.h"

namespace mailtap::session {

struct ClientCommand {
  std::string tag;   // IMAP tag, empty for SMTP/POP3
  std::string verb;  // upper-cased command name
  bool starttls = false;
  bool credentials = false;  // AUTH, LOGIN, AUTHENTICATE, USER, PASS, APOP
  bool compress = false;     // IMAP COMPRESS: would make the stream unreadable
};

// A server line read while waiting for some reply.
enum class ReplyState { more, positive, negative };

// What mailtap advertises to the client about STARTTLS.
struct CapabilityPolicy {
  bool offer_starttls = false;  // mailtap answers STARTTLS itself: add it if missing
  bool hide_starttls = false;   // STARTTLS would not work on the client leg: remove it
  bool hide_logindisabled = false;  // the upstream leg is already TLS: LOGIN is allowed there
};

// What to do with a server line bound for the client.
struct Rewrite {
  enum class Action {
    pass,     // deliver it (and any held lines before it) unchanged
    hold,     // keep it until the rest of the reply is known
    replace,  // deliver `bytes` instead of it and every held line ("" swallows them)
  } action = Action::pass;
  std::string bytes;
};

// One step of mailtap's own STARTTLS with the upstream (when the client leg does not do it).
struct NegotiationStep {
  enum class Action { wait, send, start_tls, fail } action = Action::wait;
  std::string bytes;   // send: what to write to the upstream
  std::string reason;  // fail: why, for people
};

class ProtocolRules {
 public:
  virtual ~ProtocolRules() = default;

  virtual ClientCommand parse_client_line(std::string_view line) const = 0;
  // Greeting: whether this server line completes it, and whether it welcomes us.
  virtual ReplyState greeting_line(std::string_view line) const = 0;
  // Why STARTTLS cannot happen after this (positive) greeting, "" when it can. IMAP: PREAUTH.
  virtual std::string starttls_impossible(std::string_view /*greeting*/) const { return {}; }
  // Reply to a STARTTLS/STLS command (IMAP: matched by `tag`).
  virtual ReplyState starttls_reply(std::string_view line, std::string_view tag) const = 0;
  // Whether a server line asks the client to go on (SMTP 3xx, IMAP and POP3 "+ "). STARTTLS
  // takes no continuation, so such a line where its reply is due is neither an acceptance nor a
  // refusal: the session cannot know what the server now expects, and ends.
  virtual bool is_continuation(std::string_view /*line*/) const { return false; }
  // Whether a server line is the server's own goodbye (SMTP 421, IMAP untagged BYE): a client
  // that read it expects the connection to close, and needs no goodbye from mailtap as well.
  virtual bool is_goodbye(std::string_view /*line*/) const { return false; }

  // Words mailtap says itself. `reason` is for people; every message starts with "mailtap:".
  virtual std::string fatal_error(std::string_view reason) const = 0;  // then the session closes
  virtual std::string starttls_ok(std::string_view tag) const = 0;
  virtual std::string starttls_refused(std::string_view tag, std::string_view reason) const = 0;
  virtual std::string tls_required(std::string_view tag) const = 0;
  virtual std::string command_refused(std::string_view tag, std::string_view reason) const = 0;

  // mailtap's own STARTTLS with the upstream, after the greeting.
  virtual NegotiationStep negotiation_start(std::string_view greeting) = 0;
  virtual NegotiationStep negotiation_line(std::string_view line) = 0;

  // Capability adjustment of server lines bound for the client. Called with every server line in
  // order, after on_forwarded_client_line for every command line the server saw. `answers` is the
  // verb of the client command the line answers where the framing pairs replies with commands
  // (SMTP, POP3; see Frame::answers), "" for the greeting and for IMAP.
  virtual void on_forwarded_client_line(std::string_view line) = 0;
  virtual Rewrite rewrite_server_line(std::string_view line, const CapabilityPolicy& policy,
                                      std::string_view answers) = 0;
};

std::unique_ptr<ProtocolRules> make_protocol_rules(Protocol protocol, std::string ehlo_name);

}  // namespace mailtap::session
