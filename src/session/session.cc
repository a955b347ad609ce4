#include "mailtap/session/session.h"

#include <utility>

#include "session/rules_factories.h"
#include "session/text_util.h"

namespace mailtap::session {

namespace {

// TLS 1.3 suites (TLS_...) are all strong; a TLS 1.2 suite is weak without ephemeral key
// exchange (static RSA: no forward secrecy) or without an AEAD (CBC with an HMAC).
bool is_weak_cipher(const std::string& name) {
  if (name.empty() || name.rfind("TLS_", 0) == 0) return false;
  bool ephemeral = name.rfind("ECDHE-", 0) == 0 || name.rfind("DHE-", 0) == 0;
  bool aead = name.find("GCM") != std::string::npos || name.find("CHACHA20") != std::string::npos ||
              name.find("CCM") != std::string::npos;
  return !ephemeral || !aead;
}

using transcript::EventType;
using transcript::FrameKind;
using transcript::Party;

Party party(Side s) {
  return s == Side::client ? Party::client : Party::server;
}
size_t idx(Side s) {
  return s == Side::client ? 0 : 1;
}

// The lines of `bytes`, line ends kept (the last one may lack its end).
std::vector<std::string> lines_of(const std::string& bytes) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t nl = bytes.find('\n', pos);
    size_t end = nl == std::string::npos ? bytes.size() : nl + 1;
    lines.push_back(bytes.substr(pos, end - pos));
    pos = end;
  }
  return lines;
}

// The frames of one read are collected in a vector lent by the thread for the read and given back
// after it: its memory is reused by every session of the loop, and an idle session holds none.
// Session::handle is not reentrant, so a thread lends it to one read at a time.
class FramesLease {
 public:
  explicit FramesLease(std::vector<Frame>& frames) : frames_(frames) { frames_.swap(spare()); }
  ~FramesLease() {
    frames_.clear();
    if (frames_.capacity() > spare().capacity()) frames_.swap(spare());
    std::vector<Frame>().swap(frames_);
  }
  FramesLease(const FramesLease&) = delete;
  FramesLease& operator=(const FramesLease&) = delete;

 private:
  static std::vector<Frame>& spare() {
    thread_local std::vector<Frame> frames;
    return frames;
  }
  std::vector<Frame>& frames_;
};

// Events that still matter once the session has failed: the client's handshake, and the ends.
bool tells_the_failing_session(const Event& e) {
  if (const auto* t = std::get_if<TlsEstablished>(&e)) return t->side == Side::client;
  if (const auto* t = std::get_if<TlsFailed>(&e)) return t->side == Side::client;
  return std::holds_alternative<PeerClosed>(e) || std::holds_alternative<TimedOut>(e) ||
         std::holds_alternative<ShutdownRequested>(e);
}

}  // namespace

Session::Session(SessionConfig config, Clock clock, EventSink& sink)
    : config_(std::move(config)),
      clock_(std::move(clock)),
      sink_(sink),
      framing_(make_framing(config_.protocol, config_.limits)),
      rules_(make_protocol_rules(config_.protocol, config_.ehlo_name)) {}

Session::~Session() = default;

std::vector<Command> Session::handle(const Event& event) {
  std::vector<Command> out;
  handle(event, out);
  return out;
}

void Session::handle(const Event& event, std::vector<Command>& out) {
  if (finished_) return;
  out_ = &out;
  if (pending_fatal_ && !tells_the_failing_session(event)) {
    // The session failed and only waits for the client's handshake to say why: nothing else
    // may start (a late greeting must not deliver itself, a late connect must not start TLS).
    const auto* b = std::get_if<BytesReceived>(&event);
    if (b && !stream_broken_[idx(b->side)])
      record_data(party(b->side), Party::mailtap, FrameKind::raw, b->bytes, tls_up(b->side));
  } else {
    std::visit([this](const auto& e) { on(e); }, event);
  }
  out_ = nullptr;
}

// ---- lifecycle ---------------------------------------------------------------------------

void Session::on(const ClientAccepted& e) {
  record(EventType::connect, {{"leg", "client"}, {"peer", e.peer}, {"local", e.local}});
  upstream_ = Upstream::connecting;
  out_->push_back(ConnectUpstream{});
}

void Session::on(const UpstreamConnected& e) {
  record(EventType::connect, {{"leg", "server"}, {"peer", e.peer}});
  if (config_.upstream_tls == TlsMode::implicit) {
    upstream_ = Upstream::tls;
    out_->push_back(StartTls{Side::server, {}});
  } else {
    upstream_ = Upstream::greeting;
  }
}

void Session::on(const UpstreamConnectFailed& e) {
  fail("upstream_unreachable", "cannot reach the upstream server: " + e.reason);
}

void Session::on(const TlsEstablished& e) {
  nlohmann::json fields = tls::to_json(e.info);
  fields["leg"] = std::string(to_string(e.side));
  record(EventType::tls, std::move(fields));
  if (e.side == Side::client) {
    client_tls_up_ = true;
    upstream_cert_.reset();  // the client's leaf is made: nothing mirrors it any more
    if (pending_fatal_) {
      send(Side::client, *pending_fatal_);
      record_data(Party::mailtap, Party::client, FrameKind::line, *pending_fatal_, true);
      close("mailtap ended the session after an error");
      return;
    }
    client_ = Client::relaying;
    return;
  }
  upstream_tls_up_ = true;
  if (e.info.peer_certificate)
    upstream_cert_ = std::make_unique<tls::CertificateInfo>(*e.info.peer_certificate);
  if (config_.upstream_insecure)
    warn("upstream_not_verified",
         "the upstream certificate was not verified (--insecure): anyone on the path could "
         "have impersonated the server");
  if (e.info.version == "TLSv1" || e.info.version == "TLSv1.1" || e.info.version == "SSLv3")
    warn("old_tls_version",
         "the upstream negotiated " + e.info.version + ", which is obsolete (RFC 8996)");
  if (is_weak_cipher(e.info.cipher))
    warn("weak_cipher", "the upstream negotiated " + e.info.cipher +
                            ", a suite without forward secrecy or without an AEAD (accepted "
                            "only because of --allow-legacy-tls)");
  switch (upstream_) {
    case Upstream::tls:
      upstream_ = Upstream::greeting;
      break;
    case Upstream::negotiating_tls:
      upstream_ = Upstream::ready;
      client_ready();
      break;
    case Upstream::upgrading: {
      // Passed-through STARTTLS: the upstream leg is up, now let the client upgrade.
      upstream_ = Upstream::ready;
      std::string reply;
      if (starttls_) reply.swap(starttls_->reply);
      send(Side::client, reply);
      record_data(Party::server, Party::client, FrameKind::line, reply, false);
      upgrade_client();
      break;
    }
    default:
      break;
  }
}

void Session::on(const TlsFailed& e) {
  if (e.side == Side::client) {
    record(EventType::error, {{"code", "client_tls_failed"},
                              {"message", "TLS handshake with the client failed: " + e.reason}});
    close("TLS handshake with the client failed");
    return;
  }
  fail("upstream_tls_failed", "TLS with the upstream failed: " + e.reason);
}

void Session::on(const PeerClosed& e) {
  size_t i = idx(e.side);
  if (eof_[i]) return;
  eof_[i] = true;
  if (e.side == Side::server && !pending_fatal_ && client_left_waiting()) {
    upstream_lost(e);
    return;
  }
  // A partial line the peer sent before closing is still its bytes: record and pass it on. When the
  // server closes with lines of its reply still held, those came first, and the partial line
  // continues a reply that will never be delivered whole: both are recorded as undelivered, the
  // held lines first, whether or not the rest could have been relayed (the session ends then).
  bool can_relay = upstream_ == Upstream::ready && client_ == Client::relaying;
  const bool held_recorded = e.side == Side::server && record_held_server_lines();
  bool relay_rest = can_relay && !held_recorded;
  std::string rest = framing_->take_pending(e.side);
  if (!rest.empty()) {
    record_data(party(e.side), relay_rest ? party(other(e.side)) : Party::mailtap, FrameKind::raw,
                rest, tls_up(e.side));
    if (relay_rest) send(other(e.side), std::move(rest));
  }
  record_leg_close(e);
  if (pending_fatal_ && e.side == Side::server) return;  // the client still hears why, first
  if (e.reset || !can_relay || (eof_[0] && eof_[1])) {
    close(eof_[0] && eof_[1] ? "both sides closed" : std::string(to_string(e.side)) + " closed");
    return;
  }
  out_->push_back(ShutdownWrite{other(e.side)});
}

void Session::record_leg_close(const PeerClosed& e) {
  size_t i = idx(e.side);
  record(
      EventType::close,
      {{"leg", std::string(to_string(e.side))},
       {"by", std::string(to_string(e.side))},
       {"reason", e.reason.empty() ? (e.reset ? "connection reset" : "end of stream") : e.reason},
       {"bytes_in", bytes_in_[i]},
       {"bytes_out", bytes_out_[i]}});
}

void Session::on(const TimedOut& e) {
  fail("timeout", "timed out waiting: " + e.what);
}

void Session::on(const ShutdownRequested& e) {
  if (e.process_stopping) {
    fail("shutdown", "mailtap is shutting down (" + e.reason + ")");
  } else {
    fail("shutdown", "mailtap ends this session: " + e.reason);
  }
}

// ---- bytes ---------------------------------------------------------------------------------

void Session::on(const BytesReceived& e) {
  size_t i = idx(e.side);
  bytes_in_[i] += e.bytes.size();
  if (e.side == Side::client &&
      (client_ == Client::starttls_sent || client_ == Client::starttls_deferred ||
       client_ == Client::upgrading)) {
    // Nothing the client sends between STARTTLS and the handshake may cross into TLS. Never
    // framed, so the stream inside TLS starts afresh.
    record_data(Party::client, Party::mailtap, FrameKind::raw, e.bytes, false);
    warn("starttls_command_injection",
         "the client sent data after STARTTLS before the TLS handshake; it was dropped "
         "(CVE-2011-0411 class)");
    return;
  }
  discard_[i] = false;
  FramesLease lease(frames_);
  std::string_view rest = e.bytes;
  std::optional<FramingError> error;
  bool dropped = false;
  // Client bytes are framed one line at a time: what the session decides about a command (answer
  // it itself, drop what follows) holds before the framing reads any further.
  while (!rest.empty() && !discard_[i] && !error) {
    frames_.clear();
    size_t used = rest.size();
    // Client: one line at a time. Both: after an error, `used` stops where the framing did.
    error = framing_->feed(e.side, rest, frames_, &used);
    rest.remove_prefix(used);
    batch_active_ = true;
    batch_side_ = e.side;
    batch_rest_ = rest;
    for (size_t k = 0; k < frames_.size(); ++k) {
      Frame& frame = frames_[k];
      batch_next_ = k + 1;
      if (discard_[i]) {
        record_dropped(e.side, frame.kind, frame.bytes);
        dropped = true;
        continue;
      }
      if (e.side == Side::client) {
        on_client_frame(frame);
      } else {
        on_server_frame(frame);
      }
      if (finished_ || pending_fatal_) {
        batch_active_ = false;  // what followed was recorded when the session failed
        return;
      }
    }
    batch_active_ = false;
  }
  if (discard_[i]) {
    std::string unread = framing_->take_pending(e.side);
    unread.append(rest);
    if (!unread.empty()) {
      record_dropped(e.side, FrameKind::raw, unread);
      dropped = true;
    }
    if (dropped) on_dropped_after_starttls(e.side);
    if (finished_ || pending_fatal_) return;
  }
  if (error) {
    std::string unread = framing_->take_pending(e.side);
    unread.append(rest);
    record_undelivered();  // held lines came before the line that broke the limit
    record_broken_stream(e.side, std::move(unread));
    fail(error->code, std::string(e.side == Side::client ? "the client" : "the upstream") +
                          " broke a protocol limit: " + error->message);
    return;
  }
  // The upstream's positive STARTTLS reply was the last thing it said: now start TLS with it.
  if (e.side == Side::server && discard_[i]) start_upstream_tls();
  // The replies the client was owed before its STARTTLS are all out, in cleartext: answer it.
  if (e.side == Side::server && client_ == Client::starttls_deferred &&
      framing_->replies_owed() == 0)
    answer_starttls_for_client();
}

void Session::on_client_frame(Frame& frame) {
  if (frame.kind == FrameKind::line && !frame.continuation) {
    ClientCommand cmd = rules_->parse_client_line(frame.bytes);
    bool client_may_upgrade = config_.client_tls == TlsMode::starttls && !client_tls_up_;
    if (cmd.starttls && client_may_upgrade && passthrough_starttls()) {
      record_data(Party::client, Party::server, frame.kind, frame.bytes, false);
      rules_->on_forwarded_client_line(frame.bytes);
      send(Side::server, std::move(frame.bytes));
      starttls().tag = cmd.tag;
      starttls().verb = cmd.verb;
      client_ = Client::starttls_sent;
      record(EventType::starttls,
             {{"leg", "client"}, {"phase", "requested"}, {"handled_by", "server"}});
      drop_rest(Side::client);
      return;
    }
    if (cmd.starttls && client_may_upgrade) {
      record_data(Party::client, Party::mailtap, frame.kind, frame.bytes, false);
      framing_->retract_last_client_command();
      record(EventType::starttls,
             {{"leg", "client"}, {"phase", "requested"}, {"handled_by", "mailtap"}});
      drop_rest(Side::client);
      starttls().tag = cmd.tag;
      client_ = Client::starttls_deferred;
      // Replies to commands the client sent before STARTTLS (EHLO in the same segment) are owed
      // first, in cleartext: were mailtap to answer now, they would arrive inside TLS.
      if (framing_->replies_owed() == 0) answer_starttls_for_client();
      return;
    }
    if (cmd.starttls) {
      record_data(Party::client, Party::mailtap, frame.kind, frame.bytes, client_tls_up_);
      if (framing_->retract_last_client_command()) return fail_unfinished_command();
      answer_client(
          rules_->starttls_refused(cmd.tag, client_tls_up_ ? "TLS is already active"
                                                           : "this listener does not offer TLS"),
          "STARTTLS refused by mailtap");
      return;
    }
    if (cmd.compress) {
      record_data(Party::client, Party::mailtap, frame.kind, frame.bytes, client_tls_up_);
      if (framing_->retract_last_client_command()) return fail_unfinished_command();
      answer_client(rules_->command_refused(cmd.tag,
                                            "COMPRESS is not available through mailtap "
                                            "(the transcript must stay readable)"),
                    "COMPRESS refused by mailtap");
      return;
    }
    if (cmd.credentials && config_.upstream_tls != TlsMode::plain && !upstream_tls_up_) {
      record_data(Party::client, Party::mailtap, frame.kind, frame.bytes, client_tls_up_);
      warn("credentials_blocked",
           "the client sent credentials before TLS to the upstream was up; mailtap did not "
           "forward them (fail closed)");
      if (framing_->retract_last_client_command()) return fail_unfinished_command();
      answer_client(rules_->tls_required(cmd.tag), "mailtap refuses credentials in cleartext");
      return;
    }
    rules_->on_forwarded_client_line(frame.bytes);
  } else if (frame.kind == FrameKind::line && config_.upstream_tls != TlsMode::plain &&
             !upstream_tls_up_ && rules_->parse_client_line(frame.bytes).credentials) {
    // The rest of a command after a literal that reads like a credential command (found by
    // session_fuzz: " {3+}\r\n\r\na1 LOGIN u p\r\n"). A server that rejects the malformed line
    // without reading its literal would take it for a LOGIN, in cleartext: never forward it.
    record_data(Party::client, Party::mailtap, frame.kind, frame.bytes, client_tls_up_);
    warn("credentials_blocked",
         "the client sent what reads as credentials, inside another command, before TLS to the "
         "upstream was up; mailtap did not forward it (fail closed)");
    fail("credentials_blocked",
         "the client sent a credential command inside another command before TLS to the "
         "upstream was up; mailtap ended the session rather than forward it");
    return;
  }
  record_data(Party::client, Party::server, frame.kind, frame.bytes, client_tls_up_);
  send(Side::server, std::move(frame.bytes));
}

void Session::on_server_frame(Frame& frame) {
  switch (upstream_) {
    case Upstream::greeting:
      on_greeting_line(frame);
      return;
    case Upstream::negotiating:
      on_negotiation_line(frame);
      return;
    case Upstream::ready:
      break;
    default:
      // Bytes while a TLS handshake is pending cannot be trusted inside TLS.
      record_data(Party::server, Party::mailtap, frame.kind, frame.bytes, upstream_tls_up_);
      return;
  }
  if (client_ == Client::starttls_sent && frame.kind == FrameKind::line) {
    on_starttls_reply(frame);
    return;
  }
  forward_to_client(frame);
}

void Session::on_greeting_line(Frame& frame) {
  // Held until complete, and recorded once its fate is known: delivered (client_ready), held for
  // the client while mailtap negotiates TLS with the upstream (below), or never delivered
  // (record_undelivered). The transcript never says the client got what it did not get.
  greeting_ += frame.bytes;
  if (greeting_.size() > kMaxHeldReply) return fail_held_reply_too_long("greeting");
  ReplyState state = rules_->greeting_line(frame.bytes);
  if (state == ReplyState::more) return;
  if (state == ReplyState::positive && config_.upstream_tls == TlsMode::starttls) {
    // Passed through or negotiated, STARTTLS must still be possible after this greeting.
    std::string impossible = rules_->starttls_impossible(frame.bytes);
    if (!impossible.empty()) {
      fail("upstream_starttls_unavailable", impossible);
      return;
    }
  }
  bool negotiate = state == ReplyState::positive && config_.upstream_tls == TlsMode::starttls &&
                   !passthrough_starttls();
  if (!negotiate) {
    upstream_ = Upstream::ready;
    client_ready();
    return;
  }
  for (const std::string& line : lines_of(greeting_))
    record_data(Party::server, Party::mailtap, FrameKind::line, line, upstream_tls_up_);
  greeting_held_ = true;
  upstream_ = Upstream::negotiating;
  record(EventType::starttls,
         {{"leg", "server"}, {"phase", "requested"}, {"handled_by", "mailtap"}});
  NegotiationStep step = rules_->negotiation_start(greeting_);
  if (step.action == NegotiationStep::Action::fail) {
    fail("upstream_starttls_unavailable", step.reason);
    return;
  }
  record_data(Party::mailtap, Party::server, FrameKind::line, step.bytes, false);
  send(Side::server, std::move(step.bytes));
}

void Session::on_negotiation_line(Frame& frame) {
  record_data(Party::server, Party::mailtap, frame.kind, frame.bytes, false);
  NegotiationStep step = rules_->negotiation_line(frame.bytes);
  switch (step.action) {
    case NegotiationStep::Action::wait:
      return;
    case NegotiationStep::Action::send:
      record_data(Party::mailtap, Party::server, FrameKind::line, step.bytes, false);
      send(Side::server, std::move(step.bytes));
      return;
    case NegotiationStep::Action::fail:
      fail("upstream_starttls_unavailable", step.reason);
      return;
    case NegotiationStep::Action::start_tls:
      // Started once the rest of this batch is known to hold nothing (see on BytesReceived).
      upstream_ = Upstream::negotiating_tls;
      drop_rest(Side::server);
      return;
  }
}

void Session::on_starttls_reply(Frame& frame) {
  // Where the framing pairs replies with commands (SMTP, POP3), replies to commands pipelined
  // before STARTTLS pass through first, whatever they say; only the reply to STARTTLS decides.
  if (config_.protocol != Protocol::imap && frame.answers != starttls().verb) {
    forward_to_client(frame);
    return;
  }
  if (rules_->is_continuation(frame.bytes)) {
    // Relaying it would leave the client and the server each waiting for the other, with the
    // client's credentials the next thing it may send.
    record_data(Party::server, Party::mailtap, frame.kind, frame.bytes, false);
    fail("upstream_starttls_unavailable", continuation_to_starttls(frame.bytes));
    return;
  }
  ReplyState state = rules_->starttls_reply(frame.bytes, starttls().tag);
  if (state != ReplyState::positive) {
    forward_to_client(frame);
    if (state == ReplyState::negative) {
      client_ = Client::relaying;
      warn("upstream_refused_starttls",
           "the upstream refused STARTTLS; TLS to it is required, so credentials will not be "
           "forwarded in cleartext");
    }
    return;
  }
  record(EventType::starttls, {{"leg", "server"}, {"phase", "accepted"}});
  starttls().reply = std::move(frame.bytes);
  client_ = Client::upgrading;
  upstream_ = Upstream::upgrading;
  drop_rest(Side::server);  // TLS starts once the rest of this batch is known to hold nothing
}

// ---- transitions ---------------------------------------------------------------------------

void Session::client_ready() {
  out_->push_back(StartReading{Side::client});
  if (config_.client_tls == TlsMode::implicit) {
    client_ = Client::tls_handshake;
    out_->push_back(StartTls{Side::client, leaf_spec()});
  } else {
    client_ = Client::relaying;
  }
  // Deliver the greeting now, adjusted for the client leg.
  std::string greeting;
  greeting.swap(greeting_);
  bool held = greeting_held_;  // already recorded as the server's words to mailtap
  greeting_held_ = false;
  for (std::string& line : lines_of(greeting)) {
    Rewrite rewrite = rules_->rewrite_server_line(line, capability_policy(), {});
    if (rewrite.action == Rewrite::Action::replace) {
      if (!held)
        record_data(Party::server, Party::mailtap, FrameKind::line, line, upstream_tls_up_);
      deliver_synthesized(std::move(rewrite.bytes),
                          "the greeting as delivered: mailtap adjusted its capabilities for the "
                          "client leg");
    } else if (held) {
      deliver_synthesized(std::move(line),
                          "the upstream's greeting, held until TLS to the upstream was up");
    } else {
      record_data(Party::server, Party::client, FrameKind::line, line, upstream_tls_up_);
      send(Side::client, std::move(line));
    }
  }
}

void Session::forward_to_client(Frame& frame) {
  if (frame.kind == FrameKind::line) {
    Rewrite rewrite = rules_->rewrite_server_line(frame.bytes, capability_policy(), frame.answers);
    switch (rewrite.action) {
      case Rewrite::Action::hold:
        held_bytes_ += frame.bytes.size();
        held_.push_back(std::move(frame));
        if (held_bytes_ > kMaxHeldReply) fail_held_reply_too_long("reply");
        return;
      case Rewrite::Action::replace:
        for (const Frame& h : held_)
          record_data(Party::server, Party::mailtap, h.kind, h.bytes, upstream_tls_up_);
        held_.clear();
        held_bytes_ = 0;
        record_data(Party::server, Party::mailtap, frame.kind, frame.bytes, upstream_tls_up_);
        if (!rewrite.bytes.empty())
          deliver_synthesized(std::move(rewrite.bytes),
                              "as delivered: mailtap adjusted the advertised capabilities for the "
                              "client leg");
        return;
      case Rewrite::Action::pass:
        break;
    }
  }
  for (Frame& h : held_) relay_to_client(h);
  held_.clear();
  held_bytes_ = 0;
  relay_to_client(frame);
}

void Session::relay_to_client(Frame& frame) {
  if (frame.kind == FrameKind::line && rules_->is_goodbye(frame.bytes)) server_said_goodbye_ = true;
  record_data(Party::server, Party::client, frame.kind, frame.bytes, upstream_tls_up_);
  send(Side::client, std::move(frame.bytes));
}

void Session::answer_client(std::string bytes, std::string_view note) {
  deliver_synthesized(std::move(bytes), note);
}

void Session::deliver_synthesized(std::string bytes, std::string_view note) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t nl = bytes.find('\n', pos);
    size_t end = nl == std::string::npos ? bytes.size() : nl + 1;
    transcript::Event ev =
        transcript::make_data(clock_(), Party::mailtap, Party::client, FrameKind::line,
                              client_tls_up_, bytes.substr(pos, end - pos));
    if (!note.empty()) ev.fields = {{"note", std::string(note)}};
    sink_.record(std::move(ev));
    pos = end;
  }
  send(Side::client, std::move(bytes));
}

void Session::answer_starttls_for_client() {
  answer_client(rules_->starttls_ok(starttls().tag), "mailtap answers STARTTLS for the client leg");
  upgrade_client();
}

void Session::upgrade_client() {
  client_ = Client::tls_handshake;
  record(EventType::starttls, {{"leg", "client"}, {"phase", "handshake"}});
  out_->push_back(StartTls{Side::client, leaf_spec()});
}

void Session::start_upstream_tls() {
  record(EventType::starttls, {{"leg", "server"}, {"phase", "handshake"}});
  out_->push_back(StartTls{Side::server, {}});
}

void Session::drop_rest(Side side) {
  discard_[idx(side)] = true;
}

void Session::record_dropped(Side side, FrameKind kind, const std::string& bytes) {
  // A held positive STARTTLS reply came before what follows it, and will not be delivered now.
  if (side == Side::server && starttls_reply_held()) {
    record_data(Party::server, Party::mailtap, FrameKind::line, starttls_->reply, false);
    starttls_->reply.clear();
  }
  record_data(party(side), Party::mailtap, kind, bytes, tls_up(side));
}

// The line that broke a limit (what was held of it and the rest of the read) is recorded up to a
// cap, so a 10 MB line costs the transcript 1 KiB; how much was left out is said, never hidden.
void Session::record_broken_stream(Side side, std::string unread) {
  stream_broken_[idx(side)] = true;
  size_t dropped =
      unread.size() > kBrokenStreamRecorded ? unread.size() - kBrokenStreamRecorded : 0;
  unread.resize(unread.size() - dropped);
  if (!unread.empty())
    record_data(party(side), Party::mailtap, FrameKind::raw, unread, tls_up(side));
  if (dropped > 0)
    record(EventType::warning,
           {{"code", "bytes_not_recorded"},
            {"message", "the " + std::string(to_string(side)) + " broke a protocol limit; " +
                            std::to_string(dropped) +
                            " more bytes of that read were discarded without being recorded "
                            "(only the first " +
                            std::to_string(kBrokenStreamRecorded) + " are in the transcript)"},
            {"dropped_bytes", dropped}});
}

void Session::fail_held_reply_too_long(std::string_view what) {
  fail("reply_too_long", "the upstream's multi-line " + std::string(what) +
                             ", which mailtap holds until it is complete, grew beyond " +
                             std::to_string(kMaxHeldReply) + " octets");
}

void Session::fail_unfinished_command() {
  fail("unfinished_refused_command",
       "the client announced a literal after a command mailtap refused and sends it without "
       "waiting (LITERAL+); the rest of that command cannot be told from the next one, so "
       "mailtap ended the session rather than forward any of it");
}

void Session::on_dropped_after_starttls(Side side) {
  if (side == Side::client) {
    warn("starttls_command_injection",
         "the client pipelined data after STARTTLS in the same packet; it was dropped, never "
         "carried into TLS (CVE-2011-0411 class)");
    return;
  }
  fail("starttls_response_injection",
       "the upstream sent data after its positive STARTTLS reply; that data cannot be trusted "
       "inside TLS, so mailtap aborted the session (CVE-2021-22947 class)");
}

void Session::fail(std::string_view code, std::string reason) {
  record_undelivered();
  record(EventType::error, {{"code", std::string(code)}, {"message", reason}});
  if (pending_fatal_) {
    // Failed before, still waiting for the client's handshake (a handshake timeout): give up.
    close(std::move(reason));
    return;
  }
  std::string message = rules_->fatal_error(reason);
  switch (client_) {
    case Client::waiting:
      if (config_.client_tls == TlsMode::implicit) {
        // The client expects TLS first: shake hands, then tell it why.
        pending_fatal_ = std::make_unique<std::string>(message);
        out_->push_back(StartReading{Side::client});
        out_->push_back(StartTls{Side::client, leaf_spec()});
        client_ = Client::tls_handshake;
        return;
      }
      out_->push_back(StartReading{Side::client});
      break;
    case Client::tls_handshake:
      pending_fatal_ = std::make_unique<std::string>(message);
      return;
    default:
      break;
  }
  record_data(Party::mailtap, Party::client, FrameKind::line, message, client_tls_up_);
  send(Side::client, std::move(message));
  close(std::move(reason));
}

void Session::close(std::string reason) {
  if (finished_) return;
  record_undelivered();
  record(EventType::close, {{"leg", "both"},
                            {"by", "mailtap"},
                            {"reason", reason},
                            {"client_bytes_in", bytes_in_[0]},
                            {"client_bytes_out", bytes_out_[0]},
                            {"server_bytes_in", bytes_in_[1]},
                            {"server_bytes_out", bytes_out_[1]}});
  out_->push_back(Close{std::move(reason)});
  finished_ = true;
}

// Whatever a peer said that was never delivered is still its words: recorded, addressed to
// mailtap, so the transcript holds every byte received.
void Session::record_undelivered() {
  record_held_server_lines();
  record_unprocessed_batch();
  for (Side side : {Side::client, Side::server}) {
    std::string pending = framing_->take_pending(side);
    if (!pending.empty())
      record_data(party(side), Party::mailtap, FrameKind::raw, pending, tls_up(side));
  }
}

// The frames of the read being acted on that come after the one that ended the session, what the
// framing held of it, and the part it had not read yet: the peer's words, in order, undelivered.
void Session::record_unprocessed_batch() {
  if (!batch_active_) return;
  batch_active_ = false;
  Side side = batch_side_;
  for (size_t k = batch_next_; k < frames_.size(); ++k)
    record_data(party(side), Party::mailtap, frames_[k].kind, frames_[k].bytes, tls_up(side));
  std::string unread = framing_->take_pending(side);
  unread.append(batch_rest_);
  batch_rest_ = {};
  if (!unread.empty())
    record_data(party(side), Party::mailtap, FrameKind::raw, unread, tls_up(side));
}

// Server lines mailtap held (greeting, STARTTLS reply, a reply being rewritten) and will not
// deliver now. Returns whether there were any.
bool Session::record_held_server_lines() {
  bool any = (!greeting_.empty() && !greeting_held_) || starttls_reply_held() || !held_.empty();
  if (!greeting_held_)
    for (const std::string& line : lines_of(greeting_))
      record_data(Party::server, Party::mailtap, FrameKind::line, line, upstream_tls_up_);
  greeting_.clear();
  greeting_held_ = false;
  if (starttls_reply_held()) {
    record_data(Party::server, Party::mailtap, FrameKind::line, starttls_->reply, false);
    starttls_->reply.clear();
  }
  for (const Frame& h : held_)
    record_data(Party::server, Party::mailtap, h.kind, h.bytes, upstream_tls_up_);
  held_.clear();
  held_bytes_ = 0;
  return any;
}

// ---- helpers -------------------------------------------------------------------------------

bool Session::passthrough_starttls() const {
  return config_.client_tls == TlsMode::starttls && config_.upstream_tls == TlsMode::starttls;
}

CapabilityPolicy Session::capability_policy() const {
  CapabilityPolicy p;
  bool client_can_upgrade = config_.client_tls == TlsMode::starttls && !client_tls_up_;
  p.offer_starttls = client_can_upgrade && !passthrough_starttls();
  p.hide_starttls = !client_can_upgrade;
  p.hide_logindisabled = upstream_tls_up_ && !passthrough_starttls();
  return p;
}

tls::LeafSpec Session::leaf_spec() const {
  tls::LeafSpec spec;
  spec.upstream_host = config_.upstream_host;
  if (upstream_cert_) spec.real = *upstream_cert_;
  return spec;
}

Session::StartTlsState& Session::starttls() {
  if (!starttls_) starttls_ = std::make_unique<StartTlsState>();
  return *starttls_;
}

void Session::send(Side side, std::string bytes) {
  if (bytes.empty()) return;
  bytes_out_[idx(side)] += bytes.size();
  out_->push_back(Send{side, std::move(bytes)});
}

void Session::record_data(Party from, Party to, FrameKind kind, std::string_view bytes,
                          bool over_tls) {
  if (!sink_.recording()) return;
  sink_.record(transcript::make_data(clock_(), from, to, kind, over_tls, std::string(bytes)));
}

void Session::record(EventType type, nlohmann::json fields) {
  if (!sink_.recording()) return;
  sink_.record(transcript::make_event(clock_(), type, std::move(fields)));
}

void Session::warn(std::string_view code, std::string message) {
  record(EventType::warning, {{"code", std::string(code)}, {"message", std::move(message)}});
}

}  // namespace mailtap::session
