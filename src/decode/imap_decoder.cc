// The IMAP session decoder: routes each data event to the stream of its direction, parses what
// completes in it, and adds to the event what it means in the session: which command a response
// answers, how long the command took, what a SELECT found, how an AUTHENTICATE went, and the
// warnings an administrator wants (credentials in cleartext, LOGINDISABLED ignored, ...).
#include "mailtap/decode/imap_decoder.h"

#include <algorithm>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "imap_annotation.h"
#include "json_object.h"
#include "mailtap/decode/imap_command.h"
#include "mailtap/decode/imap_response.h"
#include "mailtap/decode/imap_session_state.h"
#include "mailtap/decode/imap_stream.h"
#include "mailtap/decode/redaction.h"
#include "mailtap/decode/sasl.h"
#include "sasl_text.h"

namespace mailtap::decode {
namespace {

using nlohmann::json;
using transcript::Event;
using transcript::EventType;
using transcript::FrameKind;
using transcript::Party;
using Piece = imap::Stream::Piece;

// Which conversation a data event belongs to.
enum class Channel {
  to_server,    // client (or mailtap) -> server: commands the server acts on
  from_server,  // server -> client (or mailtap): responses
  dropped,      // client -> mailtap: bytes the proxy swallowed (never reached the server)
  synthesized,  // mailtap -> client: the proxy's own words
  none,
};

Channel channel_of(const Event& e) {
  if (e.to == Party::server) return Channel::to_server;
  if (e.from == Party::server) return Channel::from_server;
  if (e.from == Party::client && e.to == Party::mailtap) return Channel::dropped;
  if (e.from == Party::mailtap && e.to == Party::client) return Channel::synthesized;
  return Channel::none;
}

// A stream and what the decoder knows about the literal it is reading.
struct ClientSide {
  imap::Stream stream;
  imap::LiteralRole literal_role = imap::LiteralRole::value;
  std::string literal_owner;  // "a1 LOGIN"
};

struct ServerSide {
  imap::Stream stream;
  std::string literal_item;   // "BODY[]"
  std::string literal_owner;  // "* 1 FETCH"
};

template <typename Side>
Side& lazily(std::unique_ptr<Side>& side) {
  if (!side) side = std::make_unique<Side>();
  return *side;
}

std::string literal_range(const Piece& p, uint64_t size) {
  uint64_t len = p.event_end - p.event_begin;
  if (p.offset == 0 && len == size) return std::to_string(size) + " bytes";
  return "bytes " + std::to_string(p.offset) + "-" + std::to_string(p.offset + len) + " of " +
         std::to_string(size);
}

// Replaces a value of the line just completed (in segment coordinates) in the event's text.
void edit_span(imap::Annotation& a, const imap::Span& span, const Piece& p,
               std::string replacement) {
  if (span.segment != p.segment) return;  // a value of an earlier line, in an earlier event
  a.edit_line_range(span.begin, span.end, p.event_begin, p.offset, std::move(replacement));
}

// LOGIN passwords and other secrets of the line just completed, unless secrets are revealed.
void edit_secrets(imap::Annotation& a, const std::vector<imap::Secret>& secrets, const Piece& p,
                  const DecodeOptions& options) {
  if (options.reveal_secrets) return;
  for (const imap::Secret& s : secrets) {
    if (!s.is_literal) edit_span(a, s.span, p, redact(s.value, options));
  }
}

json literal_json(const Piece& p, uint64_t size) {
  return json_object("index", p.segment, "offset", p.offset, "length", p.event_end - p.event_begin,
                     "size", size, "complete", p.literal_complete);
}

class ImapDecoder final : public SessionDecoder {
 public:
  explicit ImapDecoder(const DecodeOptions& options) : options_(options) {}

  void annotate(const Event& event, json& out) override {
    imap::Annotation a;
    try {
      dispatch(event, a);
    } catch (const std::exception& ex) {
      a.warn("decode_error", std::string("the IMAP decoder failed on this event: ") + ex.what());
    } catch (...) {
      a.warn("decode_error", "the IMAP decoder failed on this event");
    }
    try {
      a.apply(event, out);
    } catch (...) {
      // Never let decoding break the transcript: the raw event is still written.
    }
  }

 private:
  void dispatch(const Event& e, imap::Annotation& a);
  void on_data(const Event& e, imap::Annotation& a);
  void on_tls(const Event& e);
  void on_close(imap::Annotation& a);

  void client_piece(ClientSide& side, const Event& e, const Piece& p, imap::Annotation& a,
                    bool live);
  void client_line_before_literal(ClientSide& side, const Event& e, const Piece& p,
                                  imap::Annotation& a, bool live);
  void client_logical_line(ClientSide& side, const Event& e, const Piece& p, imap::Annotation& a,
                           bool live);
  bool client_partial_may_hold_secret(const ClientSide& side, bool live) const;
  void command_effects(imap::Command& cmd, const Event& e, const Piece& p, json& d,
                       std::string& note, imap::Annotation& a);
  void sasl_response(const Event& e, const Piece& p, const imap::LogicalLine& line, json& d,
                     std::string& note, imap::Annotation& a);
  void credential_warning(const Event& e, const std::string& what, const std::string& user,
                          imap::Annotation& a);

  void server_piece(ServerSide& side, const Event& e, const Piece& p, imap::Annotation& a,
                    bool live);
  void server_logical_line(ServerSide& side, const Event& e, const Piece& p, imap::Annotation& a,
                           bool live);
  void response_effects(imap::Response& r, const Event& e, const Piece& p, json& d,
                        std::string& note, imap::Annotation& a);
  void status_or_data_effects(imap::Response& r, bool greeting, const Event& e, json& d,
                              std::string& note, imap::Annotation& a);
  void continuation_effects(imap::Response& r, const Piece& p, json& d, std::string& note,
                            imap::Annotation& a);
  void completion_effects(imap::Response& r, const Event& e, json& d, std::string& note,
                          imap::Annotation& a);
  void capability_warnings(const Event& e, imap::Annotation& a);

  DecodeOptions options_;
  ClientSide client_;  // client/mailtap -> server
  ServerSide server_;  // server -> client/mailtap
  // Rare directions, allocated when first seen (an idle session's decoder stays small).
  std::unique_ptr<ClientSide> dropped_;      // client -> mailtap
  std::unique_ptr<ServerSide> synthesized_;  // mailtap -> client

  imap::PendingCommands pending_;
  imap::Capabilities caps_;
  std::optional<bool> server_tls_;   // the server leg, from its events' over_tls and tls events
  bool untagged_explained_ = false;  // the first untagged data line says what "*" means
  bool greeted_ = false;
  bool authenticated_ = false;
  bool compressed_ = false;
  bool warned_starttls_missing_ = false;
  bool warned_auth_cleartext_ = false;
  bool warned_pending_overflow_ = false;
  bool reported_unanswered_ = false;
  std::optional<std::string> idle_tag_;
  bool idle_acknowledged_ = false;
  std::unique_ptr<SaslExchange> sasl_;  // during an AUTHENTICATE exchange only
  std::string sasl_tag_;
  bool sasl_awaiting_client_ = false;
};

void ImapDecoder::dispatch(const Event& e, imap::Annotation& a) {
  switch (e.type) {
    case EventType::data:
      on_data(e, a);
      break;
    case EventType::tls:
      on_tls(e);
      break;
    case EventType::close:
      on_close(a);
      break;
    default:
      break;
  }
}

void ImapDecoder::on_tls(const Event& e) {
  std::string leg = e.fields.is_object() ? e.fields.value("leg", "") : "";
  if (leg == "server") {
    server_tls_ = true;
    server_.stream.reset();
    // RFC 3501 6.2.1: what the server said before TLS is forgotten once TLS is up.
    caps_.clear();
  } else if (leg == "client") {
    client_.stream.reset();
    if (dropped_) dropped_->stream.reset();
  }
}

void ImapDecoder::on_close(imap::Annotation& a) {
  if (reported_unanswered_ || pending_.empty()) return;
  reported_unanswered_ = true;
  json tags = json::array();
  std::string list;
  for (const auto& c : pending_.all()) {
    tags.push_back(text::json_safe(c.tag, 100));
    if (list.size() < 200) list += (list.empty() ? "" : ", ") + c.tag + " " + c.name;
  }
  a.add({{"unanswered", tags}},
        std::to_string(tags.size()) + " command(s) never completed: " + text::json_safe(list, 240));
}

void ImapDecoder::on_data(const Event& e, imap::Annotation& a) {
  Channel ch = channel_of(e);
  if (ch == Channel::none) return;
  if (e.frame == FrameKind::body || e.frame == FrameKind::chunk) return;  // not IMAP framing
  if (compressed_ && (ch == Channel::to_server || ch == Channel::from_server)) {
    a.add(json{{"compressed", true}},
          "compressed with DEFLATE (COMPRESS): mailtap does not decode it");
    return;
  }
  // Once the server leg is encrypted it stays so; the reply to STARTTLS, read in cleartext, is
  // often recorded just after the handshake event and must not make the leg look clear again.
  if (ch == Channel::from_server) server_tls_ = server_tls_.value_or(false) || e.over_tls;
  if (e.from == Party::mailtap && e.to == Party::server) a.prefix("mailtap -> server: ");
  if (e.from == Party::server && e.to == Party::mailtap) {
    a.prefix("dropped by mailtap (not relayed to the client): ");
  }
  if (ch == Channel::dropped) a.prefix("dropped by mailtap (never reached the server): ");
  if (ch == Channel::synthesized) a.prefix("from mailtap itself, not the server: ");

  std::string_view bytes(e.bytes);
  switch (ch) {
    case Channel::to_server:
    case Channel::dropped: {
      ClientSide& side = ch == Channel::to_server ? client_ : lazily(dropped_);
      bool live = ch == Channel::to_server;
      side.stream.feed(bytes, [&](const Piece& p) { client_piece(side, e, p, a, live); });
      break;
    }
    case Channel::from_server:
    case Channel::synthesized: {
      ServerSide& side = ch == Channel::from_server ? server_ : lazily(synthesized_);
      bool live = ch == Channel::from_server;
      side.stream.feed(bytes, [&](const Piece& p) { server_piece(side, e, p, a, live); });
      break;
    }
    case Channel::none:
      break;
  }
}

// ---- client side ---------------------------------------------------------------------------

bool ImapDecoder::client_partial_may_hold_secret(const ClientSide& side, bool live) const {
  if (live && sasl_awaiting_client_) return true;  // a SASL response line
  if (side.stream.mid_logical_line()) {
    auto cmd = imap::parse_command(side.stream.current());
    return !cmd || cmd->name == "LOGIN" || cmd->name == "AUTHENTICATE";
  }
  // "tag SP command ...": held back unless the command is known not to carry a secret.
  std::string_view s = side.stream.partial();
  size_t sp = s.find(' ');
  if (sp == std::string_view::npos) return true;
  std::string_view rest = s.substr(sp + 1);
  size_t sp2 = rest.find(' ');
  std::string name = text::upper(rest.substr(0, sp2));
  if (sp2 == std::string_view::npos) {
    return std::string_view("LOGIN").substr(0, name.size()) == name ||
           std::string_view("AUTHENTICATE").substr(0, name.size()) == name;
  }
  return name == "LOGIN" || name == "AUTHENTICATE";
}

void ImapDecoder::client_piece(ClientSide& side, const Event& e, const Piece& p,
                               imap::Annotation& a, bool live) {
  std::string_view bytes(e.bytes);
  switch (p.kind) {
    case Piece::Kind::partial_line:
      if (!options_.reveal_secrets && client_partial_may_hold_secret(side, live)) {
        a.edit(p.event_begin, p.event_end,
               redact(bytes.substr(p.event_begin, p.event_end - p.event_begin), options_));
        a.add(json{{"partial_line", true}},
              "the start of a client line that may carry a credential (redacted)");
      } else {
        a.add(json{{"partial_line", true}}, "the start of a client line (decoded when complete)");
      }
      return;
    case Piece::Kind::literal: {
      const auto& lits = side.stream.current().literals;
      uint64_t size = p.stored && p.segment < lits.size() ? lits[p.segment].marker.size : 0;
      json d = json_object("literal", literal_json(p, size));
      if (!side.literal_owner.empty()) d["for"] = text::json_safe(side.literal_owner, 100);
      std::string note = "literal data for " + side.literal_owner + ": " + literal_range(p, size);
      if (side.literal_role == imap::LiteralRole::secret) {
        note = side.literal_owner + ": the password as a literal (" + std::to_string(size) +
               " bytes" + (options_.reveal_secrets ? ")" : ", redacted)");
        if (!options_.reveal_secrets) {
          a.edit(p.event_begin, p.event_end,
                 redact(bytes.substr(p.event_begin, p.event_end - p.event_begin), options_));
        }
      } else if (side.literal_role == imap::LiteralRole::message) {
        note = side.literal_owner + ": the message being uploaded, " + literal_range(p, size);
      }
      if (p.literal_complete && p.offset > 0) note += " (end of literal)";
      a.add(std::move(d), std::move(note));
      return;
    }
    case Piece::Kind::line:
      if (!p.marker_error.empty()) a.warn("imap_absurd_literal", p.marker_error);
      if (!p.stored) {
        a.add(json{{"not_decoded", true}}, "a line beyond the decoder's limits (not decoded)");
        return;
      }
      if (p.logical_line_complete) {
        client_logical_line(side, e, p, a, live);
      } else {
        client_line_before_literal(side, e, p, a, live);
      }
      return;
  }
}

void ImapDecoder::client_line_before_literal(ClientSide& side, const Event& e, const Piece& p,
                                             imap::Annotation& a, bool live) {
  const imap::LogicalLine& line = side.stream.current();
  const imap::Literal& lit = line.literals.back();
  auto cmd = imap::parse_command(line);
  side.literal_role = imap::LiteralRole::value;
  side.literal_owner = "the command";
  std::string note;
  json d;
  if (cmd) {
    imap::describe_command(*cmd, line, options_);
    side.literal_role = imap::client_literal_role(*cmd, p.segment);
    side.literal_owner = cmd->tag + " " + cmd->name;
    edit_secrets(a, cmd->secrets, p, options_);
    d = {{"tag", std::move(cmd->decoded["tag"])}, {"command", std::move(cmd->decoded["command"])}};
    note = cmd->note;
  } else {
    note = "a client line";
  }
  d["literal_follows"] = lit.marker.size;
  d["continued"] = true;
  std::string what = side.literal_role == imap::LiteralRole::secret    ? " (the password)"
                     : side.literal_role == imap::LiteralRole::message ? " (the message)"
                                                                       : "";
  note += "; a " + std::to_string(lit.marker.size) + "-byte literal follows" + what;
  if (lit.marker.synchronizing) {
    note += ", sent once the server says go ahead (+)";
    if (live && cmd) {
      // Remember that the command waits, so a refusal (NO/BAD instead of "+") ends it.
      if (imap::PendingCommand* c = pending_.find(cmd->tag)) {
        c->waits_for_literal_go_ahead = true;
      } else {
        imap::PendingCommand pc;
        pc.tag = cmd->tag;
        pc.name = cmd->name;
        pc.sent_us = e.time_us;
        pc.waits_for_literal_go_ahead = true;
        pending_.add(std::move(pc));
      }
    }
  } else {
    note += " without waiting (LITERAL+)";
  }
  a.add(std::move(d), std::move(note));
}

void ImapDecoder::client_logical_line(ClientSide& side, const Event& e, const Piece& p,
                                      imap::Annotation& a, bool live) {
  const imap::LogicalLine& line = side.stream.current();
  side.literal_owner.clear();
  json d;
  std::string note;
  if (live && sasl_ && sasl_awaiting_client_) {
    sasl_response(e, p, line, d, note, a);
    a.add(std::move(d), std::move(note));
    return;
  }
  if (live && idle_tag_ && line.segments.size() == 1 &&
      text::iequals(text::trim(line.segments[0]), "DONE")) {
    a.add(json{{"command", "DONE"}, {"in_response_to", text::json_safe(*idle_tag_, 100)}},
          "DONE: the client ends IDLE (" + text::json_safe(*idle_tag_, 40) + ")");
    return;
  }
  auto cmd = imap::parse_command(line);
  if (!cmd) {
    std::string shown = line.segments.empty() ? "" : line.segments[0];
    a.warn("imap_syntax",
           "a client line that is not an IMAP command: " + text::json_safe(shown, 120));
    a.add(json{{"unparsed", true}}, "not an IMAP command");
    return;
  }
  imap::describe_command(*cmd, line, options_);
  edit_secrets(a, cmd->secrets, p, options_);
  d = std::move(cmd->decoded);
  note = std::move(cmd->note);
  if (live) command_effects(*cmd, e, p, d, note, a);
  a.add(std::move(d), std::move(note));
}

void ImapDecoder::credential_warning(const Event& e, const std::string& what,
                                     const std::string& user, imap::Annotation& a) {
  bool client_clear = e.from == Party::client && !e.over_tls;
  bool server_clear = server_tls_.has_value() && !*server_tls_;
  if (!client_clear && !server_clear) return;
  std::string where = client_clear && server_clear ? "on both legs (client and server)"
                      : client_clear ? "from the client (its connection to mailtap has no TLS)"
                                     : "to the server (mailtap's connection to it has no TLS)";
  a.warn("credentials_before_tls",
         what + " sends credentials" +
             (user.empty() ? std::string() : " for " + text::json_safe(user, 100)) +
             " in cleartext " + where);
}

void ImapDecoder::command_effects(imap::Command& cmd, const Event& e, const Piece& p, json& d,
                                  std::string& note, imap::Annotation& a) {
  imap::PendingCommand pc;
  pc.tag = cmd.tag;
  pc.name = cmd.name;
  pc.sent_us = e.time_us;
  if (d.contains("mailbox") && d["mailbox"].is_string()) pc.mailbox = d["mailbox"];
  std::string who = cmd.tag + " " + cmd.name;

  if (cmd.name == "LOGIN") {
    pc.user = d.value("user", "");
    if (caps_.has("LOGINDISABLED")) {
      a.warn("logindisabled_ignored",
             who + ": the client sends LOGIN although the server announced LOGINDISABLED");
    }
    credential_warning(e, who, pc.user, a);
  } else if (cmd.name == "AUTHENTICATE" && !cmd.args.empty()) {
    std::string mech = text::upper(cmd.args[0].str());
    sasl_ = std::make_unique<SaslExchange>(mech, options_);
    sasl_tag_ = cmd.tag;
    sasl_awaiting_client_ = false;
    if (cmd.args.size() >= 2 && cmd.args[1].kind != imap::Value::Kind::list) {
      SaslStep step = sasl_->client_response(cmd.args[1].str(), true);
      d["sasl"] = step.decoded;
      note += "; " + step.note;
      a.warn_all(step.warnings);
      if (step.redacted()) edit_span(a, cmd.args[1].span, p, step.wire_replacement);
      if (!caps_.has("SASL-IR") && caps_.known()) {
        a.warn("imap_sasl_ir_unannounced",
               who + ": an initial response (SASL-IR) although the server did not announce it");
      }
    }
    if (!sasl_->user().empty()) pc.user = sasl_->user();
    if (mechanism_exposes_secret(mech)) credential_warning(e, who + " " + mech, pc.user, a);
  } else if (cmd.name == "IDLE") {
    idle_tag_ = cmd.tag;
    idle_acknowledged_ = false;
  }
  if (imap::PendingCommand* existing = pending_.find(cmd.tag)) {
    if (existing->waits_for_literal_go_ahead || existing->name == cmd.name) {
      // The same command, announced earlier by its first line: now complete.
      pending_.take(cmd.tag);
    } else {
      a.warn("imap_duplicate_tag",
             who + ": tag already used by a command still in progress (" + existing->name + ")");
    }
  }
  if (!pending_.add(std::move(pc)) && !warned_pending_overflow_) {
    warned_pending_overflow_ = true;
    a.warn("imap_pending_overflow",
           "more than 1000 commands in progress: the oldest are no longer paired");
  }
}

void ImapDecoder::sasl_response(const Event& e, const Piece& p, const imap::LogicalLine& line,
                                json& d, std::string& note, imap::Annotation& a) {
  (void)e;
  const std::string& wire = line.segments.empty() ? std::string() : line.segments[0];
  SaslStep step = sasl_->client_response(wire);
  sasl_awaiting_client_ = false;
  d = {{"sasl", step.decoded}, {"in_response_to", text::json_safe(sasl_tag_, 100)}};
  note = sasl_tag_ + " AUTHENTICATE, client: " + step.note;
  a.warn_all(step.warnings);
  if (step.redacted())
    a.edit_line_range(0, wire.size(), p.event_begin, p.offset, step.wire_replacement);
}

// ---- server side ---------------------------------------------------------------------------

void ImapDecoder::server_piece(ServerSide& side, const Event& e, const Piece& p,
                               imap::Annotation& a, bool live) {
  switch (p.kind) {
    case Piece::Kind::partial_line:
      a.add(json_object("partial_line", true),
            "the start of a server line (decoded when complete)");
      return;
    case Piece::Kind::literal: {
      const auto& lits = side.stream.current().literals;
      uint64_t size = p.stored && p.segment < lits.size() ? lits[p.segment].marker.size : 0;
      json d = json_object("literal", literal_json(p, size));
      if (!side.literal_owner.empty()) d["for"] = text::json_safe(side.literal_owner, 100);
      std::string what = side.literal_item.empty() ? "literal data" : side.literal_item;
      std::string note = side.literal_owner + ": " + what + ", " + literal_range(p, size);
      if (p.literal_complete && p.offset > 0) note += " (end of literal)";
      a.add(std::move(d), std::move(note));
      return;
    }
    case Piece::Kind::line:
      if (!p.marker_error.empty()) a.warn("imap_absurd_literal", p.marker_error);
      if (!p.stored) {
        a.add(json{{"not_decoded", true}}, "a line beyond the decoder's limits (not decoded)");
        return;
      }
      if (p.logical_line_complete) {
        server_logical_line(side, e, p, a, live);
        return;
      }
      {
        const imap::LogicalLine& line = side.stream.current();
        const std::string& seg = line.segments[p.segment];
        auto r = imap::parse_response(line);
        side.literal_item = imap::fetch_item_before_literal(seg);
        side.literal_owner = "server";
        if (r) {
          side.literal_owner = r->kind == imap::Response::Kind::tagged ? r->tag : "*";
          if (r->number) side.literal_owner += " " + std::to_string(*r->number);
          side.literal_owner += " " + r->type;
        }
        uint64_t size = line.literals.back().marker.size;
        json d = json_object("continued", true, "literal_follows", size);
        if (r) d["type"] = text::json_safe(r->type, 60);
        if (!side.literal_item.empty()) d["item"] = side.literal_item;
        a.add(std::move(d),
              side.literal_owner + ": " +
                  (side.literal_item.empty() ? std::string("a ") : side.literal_item + " as a ") +
                  std::to_string(size) + "-byte literal follows");
      }
      return;
  }
}

void ImapDecoder::server_logical_line(ServerSide& side, const Event& e, const Piece& p,
                                      imap::Annotation& a, bool live) {
  const imap::LogicalLine& line = side.stream.current();
  side.literal_owner.clear();
  side.literal_item.clear();
  auto r = imap::parse_response(line);
  if (!r) {
    std::string shown = line.segments.empty() ? "" : line.segments[0];
    a.warn("imap_malformed_response",
           "a server line that is not an IMAP response: " + text::json_safe(shown, 120));
    a.add(json{{"unparsed", true}}, "not an IMAP response");
    return;
  }
  imap::describe_response(*r, line);
  json d = std::move(r->decoded);
  std::string note = std::move(r->note);
  if (!r->syntax_error.empty() && r->kind == imap::Response::Kind::tagged && r->status.empty()) {
    a.warn("imap_malformed_response", "tagged response is not OK, NO or BAD: " + r->syntax_error);
  }
  if (live) response_effects(*r, e, p, d, note, a);
  a.add(std::move(d), std::move(note));
}

void ImapDecoder::capability_warnings(const Event& e, imap::Annotation& a) {
  if (e.over_tls) return;
  if (!caps_.has("STARTTLS") && !warned_starttls_missing_) {
    warned_starttls_missing_ = true;
    a.warn("starttls_not_offered",
           "the server does not offer STARTTLS on this cleartext connection: everything, "
           "credentials included, travels unencrypted");
  }
  auto mechs = caps_.auth_mechanisms();
  if (!mechs.empty() && !warned_auth_cleartext_) {
    warned_auth_cleartext_ = true;
    std::string list;
    for (const auto& m : mechs) list += (list.empty() ? "" : " ") + text::json_safe(m, 40);
    a.warn("auth_offered_cleartext", "the server offers authentication (AUTH=" + list +
                                         ") before TLS" +
                                         (caps_.has("LOGINDISABLED") ? "" : " and allows LOGIN"));
  }
}

void ImapDecoder::response_effects(imap::Response& r, const Event& e, const Piece& p, json& d,
                                   std::string& note, imap::Annotation& a) {
  if (r.kind == imap::Response::Kind::continuation) {
    continuation_effects(r, p, d, note, a);
    return;
  }
  bool greeting = !greeted_ && r.kind == imap::Response::Kind::untagged && !r.status.empty();
  greeted_ = true;
  if (!r.capabilities.empty()) caps_.set(r.capabilities);
  // Capabilities sent with a LOGIN/AUTHENTICATE are those of the logged-in session, which no
  // longer offer STARTTLS or AUTH=: not a reason to warn.
  bool post_login = authenticated_;
  if (r.kind == imap::Response::Kind::tagged) {
    if (const imap::PendingCommand* c = pending_.find(r.tag)) {
      post_login |= c->name == "LOGIN" || c->name == "AUTHENTICATE";
    }
  } else if (const imap::PendingCommand* c = pending_.attribute(r)) {
    post_login |= c->name == "LOGIN" || c->name == "AUTHENTICATE";
  }
  status_or_data_effects(r, greeting, e, d, note, a);
  if (!r.capabilities.empty()) {
    if (caps_.has("COMPRESS=DEFLATE")) {
      note += " (COMPRESS=DEFLATE offered: a compressed session cannot be decoded)";
    }
    if (!post_login) capability_warnings(e, a);
  }
}

void ImapDecoder::status_or_data_effects(imap::Response& r, bool greeting, const Event& e, json& d,
                                         std::string& note, imap::Annotation& a) {
  if (greeting) {
    d["greeting"] = true;
    if (r.status == "PREAUTH") authenticated_ = true;
    note = "* " + r.status + ": " +
           (r.status == "OK"        ? "the server greets the client and waits for it to log in"
            : r.status == "PREAUTH" ? "the server greets the client, already logged in"
                                    : "the server refuses the connection") +
           (r.code_note.empty() ? "" : "; " + r.code_note) +
           (r.text.empty() ? "" : " (" + text::json_safe(r.text, 200) + ")");
    if (r.status == "BYE")
      a.warn("server_refused", "the server refused the session: " + text::json_safe(r.text, 200));
    return;
  }
  if (r.kind == imap::Response::Kind::tagged) {
    completion_effects(r, e, d, note, a);
    return;
  }
  imap::PendingCommand* c = pending_.attribute(r);
  if (c == nullptr) {
    d["unsolicited"] = true;
    return;
  }
  d["in_response_to"] = text::json_safe(c->tag, 100);
  ++c->untagged;
  if (!untagged_explained_) {
    // Said once per session (seed 001 explains it by hand): tags pair a command with its end.
    untagged_explained_ = true;
    std::string tag = text::json_safe(c->tag, 100);
    note += " (untagged \"*\": data for " + tag + " " + c->name +
            ", not its completion; the line tagged " + tag + " ends it)";
  }
  if (r.type == "FETCH") ++c->fetched;
  if (r.type == "LIST" || r.type == "LSUB" || r.type == "XLIST") ++c->listed;
  if (r.type == "SEARCH" || r.type == "SORT") c->matches += d.value("count", uint64_t{0});
  if (r.type == "ESEARCH" && d.contains("results") && d["results"].contains("COUNT") &&
      d["results"]["COUNT"].is_number_unsigned()) {
    c->matches += d["results"]["COUNT"].get<uint64_t>();
  }
  if (c->name == "SELECT" || c->name == "EXAMINE") imap::absorb_mailbox_state(r, c->mailbox_state);
}

void ImapDecoder::continuation_effects(imap::Response& r, const Piece& p, json& d,
                                       std::string& note, imap::Annotation& a) {
  if (sasl_ && pending_.find(sasl_tag_) != nullptr) {
    SaslStep step = sasl_->server_challenge(r.text);
    sasl_awaiting_client_ = true;
    d["sasl"] = step.decoded;
    d["in_response_to"] = text::json_safe(sasl_tag_, 100);
    note = "+ (" + sasl_tag_ + " AUTHENTICATE): " + step.note;
    a.warn_all(step.warnings);
    const auto& segments = server_.stream.current().segments;
    if (step.redacted() && !segments.empty()) {
      size_t end = segments[0].size();
      size_t begin = end >= r.text.size() ? end - r.text.size() : 0;
      a.edit_line_range(begin, end, p.event_begin, p.offset, step.wire_replacement);
    }
    return;
  }
  if (idle_tag_ && !idle_acknowledged_ && pending_.find(*idle_tag_) != nullptr) {
    idle_acknowledged_ = true;
    d["in_response_to"] = text::json_safe(*idle_tag_, 100);
    note = "+: the server is idling for " + *idle_tag_ +
           ": it reports changes as they happen until the client sends DONE";
    return;
  }
  for (auto& c : pending_.all()) {
    if (!c.waits_for_literal_go_ahead) continue;
    c.waits_for_literal_go_ahead = false;
    d["in_response_to"] = text::json_safe(c.tag, 100);
    note = "+: the server is ready for the literal of " + c.tag + " " + c.name +
           (r.text.empty() ? std::string() : " (" + text::json_safe(r.text, 120) + ")");
    return;
  }
}

void ImapDecoder::completion_effects(imap::Response& r, const Event& e, json& d, std::string& note,
                                     imap::Annotation& a) {
  auto c = pending_.take(r.tag);
  if (!c) {
    a.warn("imap_unknown_tag",
           r.tag + " " + r.status + " answers no command mailtap saw the client send");
    return;
  }
  if (c->waits_for_literal_go_ahead) {
    // Refused before the literal was invited: the client will not send it (RFC 3501 7.5).
    client_.stream.cancel_literal();
  }
  int64_t latency = e.time_us - c->sent_us;
  d["command"] = text::json_safe(c->name, 60);
  d["latency_us"] = latency;
  std::string_view outcome = r.status == "OK"   ? "completed"
                             : r.status == "NO" ? "failed"
                                                : "was rejected as invalid";
  bool select_access = (c->name == "SELECT" || c->name == "EXAMINE") &&
                       (r.code == "READ-ONLY" || r.code == "READ-WRITE");
  const std::string text = r.text.empty() ? std::string() : text::json_safe(r.text, 200);
  const bool code_note = !r.code_note.empty() && !select_access;
  note.clear();
  text::append(note, r.tag, " ", r.status, ": ", c->name, " ", outcome, " in ",
               imap::describe_latency(latency), text.empty() ? "" : " (", text,
               text.empty() ? "" : ")", code_note ? "; " : "",
               code_note ? std::string_view(r.code_note) : std::string_view());
  bool ok = r.status == "OK";
  const std::string_view n = c->name;  // compared with many names: length first
  if ((n == "SELECT" || n == "EXAMINE") && ok) {
    json state = std::move(c->mailbox_state);
    imap::absorb_mailbox_state(r, state);
    state["name"] = text::json_safe(c->mailbox, 300);
    d["mailbox"] = state;
    note += "; " + imap::describe_mailbox_state(c->mailbox, state);
  } else if ((n == "LIST" || n == "LSUB" || n == "XLIST") && ok) {
    d["results"] = c->listed;
    note += "; " + std::to_string(c->listed) + (c->listed == 1 ? " mailbox" : " mailboxes");
  } else if ((n == "FETCH" || n == "UID FETCH") && ok) {
    d["results"] = c->fetched;
    note += "; " + std::to_string(c->fetched) + (c->fetched == 1 ? " message" : " messages");
  } else if ((n == "SEARCH" || n == "UID SEARCH" || n == "SORT" || n == "UID SORT") && ok) {
    d["results"] = c->matches;
    note += "; " + std::to_string(c->matches) + (c->matches == 1 ? " match" : " matches");
  } else if (n == "LOGIN") {
    if (ok) {
      authenticated_ = true;
      note += "; logged in as " + text::json_safe(c->user, 100);
    }
    d["user"] = text::json_safe(c->user, 200);
  } else if (n == "AUTHENTICATE" && sasl_ && sasl_tag_ == r.tag) {
    SaslStep step = sasl_->finish({ok, r.status, r.text});
    if (!sasl_->user().empty()) d["user"] = text::json_safe(sasl_->user(), 200);
    d["sasl"] = step.decoded;
    a.warn_all(step.warnings);
    if (ok) {
      authenticated_ = true;
      if (!sasl_->user().empty()) note += "; logged in as " + text::json_safe(sasl_->user(), 100);
    }
    sasl_.reset();
    sasl_awaiting_client_ = false;
  } else if (n == "STARTTLS" && ok) {
    caps_.clear();
    note += "; TLS starts now, and the client must ask for the capabilities again";
  } else if (n == "COMPRESS" && ok) {
    compressed_ = true;
    note += "; from here on the session is compressed (DEFLATE) and mailtap cannot decode it";
  } else if (n == "LOGOUT") {
    note += "; the session is over";
  }
  if (idle_tag_ && *idle_tag_ == r.tag) idle_tag_.reset();
  if (sasl_tag_ == r.tag) {
    sasl_.reset();
    sasl_awaiting_client_ = false;
  }
}

}  // namespace

std::unique_ptr<SessionDecoder> make_imap_decoder(const DecodeOptions& options) {
  return std::make_unique<ImapDecoder>(options);
}

}  // namespace mailtap::decode
