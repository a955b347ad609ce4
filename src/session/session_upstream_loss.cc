// The session when its upstream goes away: whether the client, still connected, is left waiting
// for it, and how it is told (or, in the middle of a reply already partly relayed, why it is not).
#include <string>
#include <utility>

#include "mailtap/session/session.h"

namespace mailtap::session {

using transcript::EventType;
using transcript::FrameKind;
using transcript::Party;

// Whether the client, still connected, waits for the upstream: for its greeting, for the reply
// to a command (its STARTTLS included), or to go on with a message or literal it is sending. An
// upstream that ends then leaves the client waiting for words that will never come. After the
// server's own goodbye (221 after QUIT, BYE and the tagged OK of LOGOUT, +OK after QUIT), or with
// nothing outstanding, its end is the protocol's ordinary end and is relayed as such.
bool Session::client_left_waiting() const {
  if (upstream_ != Upstream::ready) return true;
  if (server_said_goodbye_) return false;
  if (client_ == Client::starttls_sent || client_ == Client::starttls_deferred ||
      client_ == Client::upgrading)
    return true;
  return framing_->replies_owed() > 0 || framing_->client_mid_message();
}

// The upstream reset or closed its connection while the client waits for it. The client is told
// in its protocol's words (SMTP 421, IMAP BYE, POP3 -ERR) and the session ends, as when TLS with
// the upstream fails. Except in the middle of a reply already partly relayed: a line of
// mailtap's own would be read as more of that reply (the final line of a "250-" reply, a line
// of a POP3 message or list, bytes of an IMAP literal), so the rest the server did send is
// relayed as it is, the error says why no goodbye was added, and the connection closes.
void Session::upstream_lost(const PeerClosed& e) {
  std::string code = e.reset ? "upstream_reset" : "upstream_closed";
  std::string reason = upstream_loss_reason(e);
  if (upstream_ == Upstream::ready && held_.empty() && framing_->server_mid_reply()) {
    std::string rest = framing_->take_pending(Side::server);
    if (!rest.empty()) {
      record_data(Party::server, Party::client, FrameKind::raw, rest, upstream_tls_up_);
      send(Side::client, std::move(rest));
    }
    record_leg_close(e);
    record(EventType::error,
           {{"code", code},
            {"message", reason +
                            " in the middle of a reply mailtap had partly relayed to the client; "
                            "mailtap closed the client's connection without a goodbye of its own, "
                            "which the client would have read as part of that reply"}});
    close(std::move(reason));
    return;
  }
  // What the server said of a reply mailtap held, or a partial line, never reaches the client:
  // recorded as undelivered, before the end of its leg.
  record_undelivered();
  record_leg_close(e);
  fail(code, std::move(reason));
}

std::string Session::upstream_loss_reason(const PeerClosed& e) const {
  std::string what =
      e.reset ? "the upstream reset the connection" : "the upstream closed the connection";
  switch (upstream_) {
    case Upstream::tls:
    case Upstream::negotiating_tls:
    case Upstream::upgrading:
      what += " during the TLS handshake";
      break;
    case Upstream::greeting:
      what += greeting_.empty() ? " before its greeting" : " in the middle of its greeting";
      break;
    case Upstream::negotiating:
      what += " while mailtap negotiated STARTTLS with it";
      break;
    default:
      if (framing_->server_mid_reply() && held_.empty()) {
        what += " while sending a reply";
      } else if (framing_->client_mid_message()) {
        what += config_.protocol == Protocol::imap ? " while the client was sending a literal"
                                                   : " while the client was sending a message";
      } else {
        what += " before answering the client";
      }
      break;
  }
  if (!e.reason.empty()) what += " (" + e.reason + ")";
  return what;
}

}  // namespace mailtap::session
