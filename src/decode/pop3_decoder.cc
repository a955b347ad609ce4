// The POP3 session decoder (RFC 1939, RFC 2449 CAPA and RESP-CODES, RFC 2595 STLS, RFC 5034 AUTH):
// pairs each reply with its command (in order, as PIPELINING allows), decides from the command
// whether a +OK opens a multi-line reply, summarises message bodies (dot-unstuffed size, SHA-256,
// headers) on their terminating "." line, decodes listings and CAPA, runs SASL exchanges, and
// redacts passwords in the raw text.
#include "mailtap/decode/pop3_decoder.h"

#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "imap_annotation.h"
#include "mailtap/decode/message_summary.h"
#include "mailtap/decode/pop3_stream.h"
#include "mailtap/decode/pop3_vocabulary.h"
#include "mailtap/decode/redaction.h"
#include "mailtap/decode/sasl.h"
#include "json_object.h"
#include "sasl_text.h"

namespace mailtap::decode {
namespace {

using nlohmann::json;
using pop3::Listing;
using transcript::Event;
using transcript::EventType;
using transcript::FrameKind;
using transcript::Party;
using Annotation = imap::Annotation;

// A command waiting for its reply.
struct Pending {
  std::string verb;  // upper-case; "" for the greeting
  std::string arg;
  Microseconds sent_us = 0;
  Listing listing = Listing::none;  // what a +OK opens
  std::string user;
};

std::string describe_latency(int64_t us) {
  char buf[48];
  if (us < 0) return "an unknown time";
  if (us < 1000) {
    std::snprintf(buf, sizeof buf, "%lld us", static_cast<long long>(us));
  } else if (us < 1000000) {
    std::snprintf(buf, sizeof buf, "%.1f ms", static_cast<double>(us) / 1000.0);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f s", static_cast<double>(us) / 1e6);
  }
  return buf;
}

class Pop3Decoder final : public SessionDecoder {
 public:
  explicit Pop3Decoder(const DecodeOptions& options) : options_(options) {
    pending_.push_back({});  // the greeting
  }

  void annotate(const Event& event, json& out) override {
    Annotation a;
    try {
      dispatch(event, a);
    } catch (const std::exception& ex) {
      a.warn("decode_error", std::string("the POP3 decoder failed on this event: ") + ex.what());
    } catch (...) {
      a.warn("decode_error", "the POP3 decoder failed on this event");
    }
    try {
      a.apply(event, out);
    } catch (...) {
      // The raw event is still written.
    }
  }

 private:
  enum class Mode { status, listing, body };

  void dispatch(const Event& e, Annotation& a);
  void on_data(const Event& e, Annotation& a);
  void client_bytes(pop3::LineReader& reader, const Event& e, Annotation& a, bool live);
  bool partial_may_hold_secret(std::string_view partial, bool live) const;
  void client_line(const Event& e, const pop3::LineReader::Line& line, Annotation& a, bool live);
  void credential_warning(const Event& e, const std::string& what, Annotation& a);

  void server_bytes(const Event& e, Annotation& a);
  void status_line(const Event& e, const pop3::LineReader::Line& line, Annotation& a);
  void reply(const Event& e, const pop3::Reply& r, Annotation& a);
  void reply_effects(const Event& e, const pop3::Reply& r, Pending& c, json& d,
                     std::string& note, Annotation& a);
  void listing_line(const pop3::LineReader::Line& line, Annotation& a);
  void listing_end(const Event& e, Annotation& a);
  void body_end(const Event& e, Annotation& a);
  void capability_warnings(const Event& e, Annotation& a);
  void synthesized_bytes(const Event& e, Annotation& a);

  DecodeOptions options_;
  pop3::LineReader client_lines_;
  pop3::LineReader dropped_lines_;
  pop3::LineReader server_lines_;
  pop3::LineReader synthesized_lines_;
  pop3::BodyReader body_;
  std::unique_ptr<MessageSummarizer> summarizer_;

  std::deque<Pending> pending_;
  std::optional<Pending> open_;  // the command whose multi-line reply is being read
  Mode mode_ = Mode::status;
  Microseconds reply_started_us_ = 0;
  uint64_t listed_ = 0;
  uint64_t listed_size_ = 0;
  std::vector<std::string> listed_names_;  // CAPA lines or AUTH mechanisms (bounded)

  std::vector<std::string> capabilities_;
  bool capabilities_known_ = false;
  std::string apop_timestamp_;
  std::string user_;
  bool greeted_ = false;
  bool authenticated_ = false;
  std::optional<bool> server_tls_;
  bool warned_starttls_missing_ = false;
  bool warned_auth_cleartext_ = false;
  std::optional<SaslExchange> sasl_;
  bool sasl_awaiting_client_ = false;
};

void Pop3Decoder::dispatch(const Event& e, Annotation& a) {
  if (e.type == EventType::data) {
    on_data(e, a);
  } else if (e.type == EventType::tls) {
    std::string leg = e.fields.is_object() ? e.fields.value("leg", "") : "";
    if (leg == "server") {
      server_tls_ = true;
      server_lines_.reset();
      capabilities_.clear();  // RFC 2595 4: capabilities may change after STLS
      capabilities_known_ = false;
    } else if (leg == "client") {
      client_lines_.reset();
      dropped_lines_.reset();
    }
  }
}

void Pop3Decoder::on_data(const Event& e, Annotation& a) {
  if (e.to == Party::server) {
    if (e.from == Party::mailtap) a.prefix("mailtap -> server: ");
    client_bytes(client_lines_, e, a, true);
  } else if (e.from == Party::server) {
    // Latched: the cleartext +OK to STLS is recorded after the server leg's handshake event.
    server_tls_ = server_tls_.value_or(false) || e.over_tls;
    if (e.to == Party::mailtap) a.prefix("dropped by mailtap (not relayed to the client): ");
    server_bytes(e, a);
  } else if (e.from == Party::client && e.to == Party::mailtap) {
    a.prefix("dropped by mailtap (never reached the server): ");
    client_bytes(dropped_lines_, e, a, false);
  } else if (e.from == Party::mailtap && e.to == Party::client) {
    a.prefix("from mailtap itself, not the server: ");
    synthesized_bytes(e, a);
  }
}

// ---- client side ---------------------------------------------------------------------------

bool Pop3Decoder::partial_may_hold_secret(std::string_view partial, bool live) const {
  if (live && sasl_awaiting_client_) return true;
  std::string head = text::upper(partial.substr(0, 5));
  for (std::string_view verb : {"PASS", "APOP", "AUTH"}) {
    size_t n = std::min(head.size(), verb.size());
    if (head.compare(0, n, verb.substr(0, n)) == 0) return true;
  }
  return false;
}

void Pop3Decoder::client_bytes(pop3::LineReader& reader, const Event& e, Annotation& a,
                               bool live) {
  std::string_view bytes(e.bytes);
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t begin = pos;
    auto line = reader.read(bytes, pos);
    if (line) {
      client_line(e, *line, a, live);
      continue;
    }
    if (!options_.reveal_secrets && partial_may_hold_secret(reader.pending(), live)) {
      a.edit(begin, pos, redact(bytes.substr(begin, pos - begin), options_));
      a.add(json{{"partial_line", true}},
            "the start of a client line that may carry a credential (redacted)");
    } else {
      a.add(json{{"partial_line", true}}, "the start of a client line (decoded when complete)");
    }
  }
}

void Pop3Decoder::credential_warning(const Event& e, const std::string& what, Annotation& a) {
  bool client_clear = e.from == Party::client && !e.over_tls;
  bool server_clear = server_tls_.has_value() && !*server_tls_;
  if (!client_clear && !server_clear) return;
  std::string where = client_clear && server_clear ? "on both legs (client and server)"
                      : client_clear ? "from the client (its connection to mailtap has no TLS)"
                                     : "to the server (mailtap's connection to it has no TLS)";
  a.warn("credentials_before_tls",
         what + " sends credentials" +
             (user_.empty() ? std::string() : " for " + text::json_safe(user_, 100)) +
             " in cleartext " + where);
}

void Pop3Decoder::client_line(const Event& e, const pop3::LineReader::Line& line, Annotation& a,
                              bool live) {
  const std::string& t = line.text;
  auto redact_range = [&](size_t begin, size_t end, std::string replacement) {
    a.edit_line_range(begin, end, line.event_begin, line.offset, std::move(replacement));
  };
  if (live && sasl_ && sasl_awaiting_client_) {
    SaslStep step = sasl_->client_response(t);
    sasl_awaiting_client_ = false;
    if (step.redacted()) redact_range(0, t.size(), step.wire_replacement);
    a.warn_all(step.warnings);
    a.add(json{{"sasl", step.decoded}}, "AUTH " + sasl_->mechanism() + ", client: " + step.note);
    return;
  }
  pop3::Command cmd = pop3::parse_command(t);
  json d = json_object("command", text::json_safe(cmd.verb, 40));
  if (!cmd.arg.empty() && cmd.verb != "PASS") d["args"] = text::json_safe(cmd.arg, 300);
  std::string note = pop3::describe_command(cmd, options_.reveal_secrets);
  Pending p;
  p.verb = cmd.verb;
  p.arg = cmd.arg;
  p.sent_us = e.time_us;
  p.listing = pop3::listing_opened_by(cmd);

  if (cmd.verb.empty()) {
    a.warn("pop3_syntax", "an empty client line");
  } else if (cmd.verb == "USER") {
    d["user"] = text::json_safe(cmd.arg, 200);
    if (live) user_ = cmd.arg;
  } else if (cmd.verb == "PASS") {
    d["password"] = show_secret(cmd.arg, options_);
    if (!options_.reveal_secrets && cmd.arg_offset < t.size()) {
      redact_range(cmd.arg_offset, t.size(), redact(cmd.arg, options_));
    }
    if (live) credential_warning(e, "PASS", a);
    p.user = user_;
  } else if (cmd.verb == "APOP") {
    size_t sp = cmd.arg.rfind(' ');
    std::string name = sp == std::string::npos ? cmd.arg : cmd.arg.substr(0, sp);
    std::string digest = sp == std::string::npos ? "" : cmd.arg.substr(sp + 1);
    d["user"] = text::json_safe(name, 200);
    d["digest"] = show_secret(digest, options_);
    if (!apop_timestamp_.empty()) d["timestamp"] = text::json_safe(apop_timestamp_, 200);
    if (!options_.reveal_secrets && !digest.empty()) {
      redact_range(cmd.arg_offset + sp + 1, t.size(), redact(digest, options_));
    }
    if (live) {
      user_ = name;
      if (apop_timestamp_.empty()) {
        a.warn("pop3_apop_without_timestamp", "APOP although the greeting carried no <timestamp>");
      }
    }
    p.user = name;
  } else if (cmd.verb == "AUTH" && !cmd.arg.empty()) {
    size_t sp = cmd.arg.find(' ');
    std::string mech = text::upper(cmd.arg.substr(0, sp));
    d["mechanism"] = text::json_safe(mech, 64);
    if (live) {
      sasl_.emplace(mech, options_);
      sasl_awaiting_client_ = false;
      if (sp != std::string::npos) {
        std::string ir = cmd.arg.substr(sp + 1);
        SaslStep step = sasl_->client_response(ir, true);
        d["sasl"] = step.decoded;
        note += "; " + step.note;
        a.warn_all(step.warnings);
        if (step.redacted()) {
          redact_range(cmd.arg_offset + sp + 1, t.size(), step.wire_replacement);
        }
        d.erase("args");
        d["args"] = text::json_safe(mech, 64);
      }
      if (!sasl_->user().empty()) user_ = sasl_->user();
      if (mechanism_exposes_secret(mech)) credential_warning(e, "AUTH " + mech, a);
    } else if (sp != std::string::npos && !options_.reveal_secrets) {
      redact_range(cmd.arg_offset + sp + 1, t.size(),
                   redact(std::string_view(cmd.arg).substr(sp + 1), options_));
      d["args"] = text::json_safe(mech, 64);
    }
  } else if (!pop3::is_known_command(cmd.verb)) {
    a.warn("pop3_syntax", "a command POP3 does not define: " + text::json_safe(cmd.verb, 40));
  }
  if (line.truncated) d["truncated"] = true;
  if (live) pending_.push_back(std::move(p));
  if (pending_.size() > 1000) pending_.pop_front();  // bounded, whatever the client sends
  a.add(d, note);
}

// ---- server side ---------------------------------------------------------------------------

void Pop3Decoder::server_bytes(const Event& e, Annotation& a) {
  std::string_view bytes(e.bytes);
  size_t pos = 0;
  while (pos < bytes.size()) {
    if (mode_ == Mode::body) {
      uint64_t before = body_.wire_size();
      auto r = body_.read(bytes, pos, summarizer_.get());
      uint64_t got = body_.wire_size() - before;
      if (got > 0) {
        std::string what = open_ ? open_->verb + " " + open_->arg : std::string("message");
        a.add(json_object("body", json_object("offset", before, "length", got), "for",
                          text::json_safe(what, 100)),
              "message content for " + text::json_safe(what, 100) + ", bytes " +
                  std::to_string(before) + "-" + std::to_string(before + got));
      }
      if (r.terminated) body_end(e, a);
      continue;
    }
    auto line = server_lines_.read(bytes, pos);
    if (!line) {
      a.add(json{{"partial_line", true}}, "the start of a server line (decoded when complete)");
      break;
    }
    if (mode_ == Mode::listing) {
      if (line->text == ".") {
        listing_end(e, a);
      } else {
        listing_line(*line, a);
      }
    } else {
      status_line(e, *line, a);
    }
  }
}

void Pop3Decoder::status_line(const Event& e, const pop3::LineReader::Line& line, Annotation& a) {
  pop3::Reply r = pop3::parse_reply(line.text);
  if (r.kind == pop3::Reply::Kind::continuation) {
    if (sasl_) {
      SaslStep step = sasl_->server_challenge(r.text);
      sasl_awaiting_client_ = true;
      if (step.redacted()) {
        size_t begin = line.text.size() - r.text.size();
        a.edit_line_range(begin, line.text.size(), line.event_begin, line.offset,
                          step.wire_replacement);
      }
      a.warn_all(step.warnings);
      a.add(json{{"status", "+"}, {"sasl", step.decoded}},
            "+ (AUTH " + sasl_->mechanism() + "): " + step.note);
    } else {
      a.warn("pop3_malformed_reply", "a \"+\" continuation outside an AUTH exchange");
      a.add(json{{"status", "+"}}, "+: a continuation, but no AUTH is in progress");
    }
    return;
  }
  if (r.kind == pop3::Reply::Kind::other) {
    a.warn("pop3_malformed_reply",
           "a server line that is neither +OK nor -ERR: " + text::json_safe(line.text, 120));
    a.add(json{{"unparsed", true}}, "not a POP3 reply");
    return;
  }
  reply(e, r, a);
}

void Pop3Decoder::reply(const Event& e, const pop3::Reply& r, Annotation& a) {
  bool ok = r.kind == pop3::Reply::Kind::ok;
  json d = json_object("status", ok ? "+OK" : "-ERR", "text", text::json_safe(r.text, 500));
  if (!r.code.empty()) {
    d["code"] = text::json_safe(r.code, 60);
    std::string meaning = pop3::describe_resp_code(r.code);
    if (!meaning.empty()) d["code_meaning"] = meaning;
  }
  if (pending_.empty()) {
    a.warn("pop3_unexpected_reply", "a reply although no command is waiting for one");
    a.add(d, std::string(ok ? "+OK" : "-ERR") + ": a reply to no command mailtap saw");
    return;
  }
  Pending c = std::move(pending_.front());
  pending_.pop_front();
  std::string note;
  reply_effects(e, r, c, d, note, a);
  a.add(d, note);
}

void Pop3Decoder::reply_effects(const Event& e, const pop3::Reply& r, Pending& c, json& d,
                                std::string& note, Annotation& a) {
  bool ok = r.kind == pop3::Reply::Kind::ok;
  std::string status = ok ? "+OK" : "-ERR";
  std::string code_note =
      r.code.empty() ? "" : "; [" + r.code + "] " + pop3::describe_resp_code(r.code);
  std::string human = r.text.empty() ? "" : " (" + text::json_safe(r.text, 200) + ")";
  if (!greeted_ && c.verb.empty()) {
    greeted_ = true;
    d["greeting"] = true;
    apop_timestamp_ = pop3::apop_timestamp(r.text);
    if (!apop_timestamp_.empty()) d["apop_timestamp"] = text::json_safe(apop_timestamp_, 200);
    note = ok ? status + ": the server greets the client and waits for it to log in" + human
              : status + ": the server refuses the session" + code_note + human;
    if (!apop_timestamp_.empty()) note += "; its timestamp allows APOP";
    if (!ok) a.warn("server_refused", "the server refused the session: " + r.text);
    return;
  }
  int64_t latency = e.time_us - c.sent_us;
  std::string what = c.verb + (c.arg.empty() || c.verb == "PASS" ? "" : " " + c.arg);
  what = text::json_safe(what, 100);
  d["command"] = text::json_safe(c.verb, 40);
  d["latency_us"] = latency;
  note = status + ": " + what + (ok ? " succeeded" : " failed") + " in " +
         describe_latency(latency) + code_note + human;
  note += pop3::describe_reply_detail(c.verb, c.arg, r, d);
  if (c.verb == "PASS" || c.verb == "APOP") {
    if (!c.user.empty()) d["user"] = text::json_safe(c.user, 200);
    if (ok) {
      authenticated_ = true;
      note += "; logged in" + (c.user.empty() ? "" : " as " + text::json_safe(c.user, 100));
    }
  } else if (c.verb == "AUTH" && !c.arg.empty() && sasl_) {
    SaslStep step = sasl_->finish({ok, status, r.text});
    if (!sasl_->user().empty()) d["user"] = text::json_safe(sasl_->user(), 200);
    d["sasl"] = step.decoded;
    a.warn_all(step.warnings);
    if (ok) {
      authenticated_ = true;
      if (!sasl_->user().empty()) note += "; logged in as " + text::json_safe(sasl_->user(), 100);
    }
    sasl_.reset();
    sasl_awaiting_client_ = false;
  } else if (c.verb == "STLS" && ok) {
    capabilities_.clear();
    capabilities_known_ = false;
    note += "; TLS starts now";
  }
  if (ok && c.listing != Listing::none) {
    d["multiline"] = true;
    reply_started_us_ = e.time_us;
    listed_ = 0;
    listed_size_ = 0;
    listed_names_.clear();
    if (c.listing == Listing::message) {
      mode_ = Mode::body;
      body_.reset();
      summarizer_ = std::make_unique<MessageSummarizer>(true);
      note += "; the message follows";
    } else {
      mode_ = Mode::listing;
      note += "; the list follows";
    }
    open_ = std::move(c);
  }
}

void Pop3Decoder::listing_line(const pop3::LineReader::Line& line, Annotation& a) {
  std::string_view t = line.text;
  if (!t.empty() && t[0] == '.') t.remove_prefix(1);  // dot-stuffing (RFC 1939 3)
  ++listed_;
  Listing kind = open_ ? open_->listing : Listing::none;
  json d;
  std::string note;
  pop3::describe_listing_line(kind, t, d, note);
  if (d.contains("size") && d["size"].is_number_unsigned()) listed_size_ += d["size"].get<uint64_t>();
  if ((kind == Listing::capabilities || kind == Listing::mechanisms) && listed_names_.size() < 200) {
    listed_names_.emplace_back(t.substr(0, 200));
  }
  a.add(d, note);
}

void Pop3Decoder::listing_end(const Event& e, Annotation& a) {
  mode_ = Mode::status;
  Listing kind = open_ ? open_->listing : Listing::none;
  std::string what = open_ ? open_->verb : "list";
  json d = {{"end_of", text::json_safe(what, 40)}, {"count", listed_}};
  d["latency_us"] = open_ ? e.time_us - open_->sent_us : 0;
  std::string note = ".: end of the " + what + " reply, " + std::to_string(listed_) +
                     (listed_ == 1 ? " line" : " lines");
  if (kind == Listing::scan) {
    d["total_size"] = listed_size_;
    note = ".: end of the LIST reply: " + std::to_string(listed_) +
           (listed_ == 1 ? " message, " : " messages, ") + std::to_string(listed_size_) + " bytes";
  } else if (kind == Listing::capabilities) {
    capabilities_ = listed_names_;
    capabilities_known_ = true;
    json caps = json::array();
    for (const auto& c : capabilities_) caps.push_back(text::json_safe(c, 200));
    d["capabilities"] = caps;
    json mechs = json::array();
    for (const auto& m : pop3::sasl_mechanisms(capabilities_)) mechs.push_back(m);
    if (!mechs.empty()) d["auth_mechanisms"] = mechs;
    note = ".: end of CAPA: the server supports " + text::json_safe(pop3::join(capabilities_), 600);
    capability_warnings(e, a);
  } else if (kind == Listing::mechanisms) {
    json mechs = json::array();
    for (const auto& m : listed_names_) mechs.push_back(text::json_safe(m, 64));
    d["auth_mechanisms"] = mechs;
    note = ".: end of the AUTH list: mechanisms " + text::json_safe(pop3::join(listed_names_), 400);
  }
  open_.reset();
  a.add(d, note);
}

void Pop3Decoder::body_end(const Event& e, Annotation& a) {
  mode_ = Mode::status;
  json d = {{"end_of", open_ ? text::json_safe(open_->verb, 40) : "RETR"}};
  std::string what = open_ ? text::json_safe(open_->verb + " " + open_->arg, 100) : "message";
  if (summarizer_) d["message"] = summarizer_->summary();
  if (open_) {
    d["latency_us"] = e.time_us - open_->sent_us;
    d["transfer_us"] = e.time_us - reply_started_us_;
  }
  std::string note = ".: end of the message (" + what + ")";
  if (summarizer_) note += ": " + summarizer_->describe();
  summarizer_.reset();
  open_.reset();
  a.add(d, note);
}

void Pop3Decoder::capability_warnings(const Event& e, Annotation& a) {
  if (e.over_tls || authenticated_) return;
  bool stls = false;
  bool user = false;
  for (const auto& c : capabilities_) {
    std::string u = text::upper(c);
    if (u == "STLS") stls = true;
    if (u == "USER") user = true;
  }
  if (!stls && !warned_starttls_missing_) {
    warned_starttls_missing_ = true;
    a.warn("starttls_not_offered",
           "the server does not offer STLS on this cleartext connection: everything, "
           "credentials included, travels unencrypted");
  }
  auto mechs = pop3::sasl_mechanisms(capabilities_);
  if ((user || !mechs.empty()) && !warned_auth_cleartext_) {
    warned_auth_cleartext_ = true;
    std::string list = user ? "USER/PASS" : "";
    for (const auto& m : mechs) list += (list.empty() ? "" : ", ") + std::string("SASL ") + m;
    a.warn("auth_offered_cleartext", "the server offers authentication (" + list + ") before TLS");
  }
}

void Pop3Decoder::synthesized_bytes(const Event& e, Annotation& a) {
  std::string_view bytes(e.bytes);
  size_t pos = 0;
  while (pos < bytes.size()) {
    auto line = synthesized_lines_.read(bytes, pos);
    if (!line) break;
    pop3::Reply r = pop3::parse_reply(line->text);
    std::string status = r.kind == pop3::Reply::Kind::ok    ? "+OK"
                         : r.kind == pop3::Reply::Kind::err ? "-ERR"
                                                            : "";
    a.add(json{{"status", status}, {"text", text::json_safe(r.text, 300)}},
          status.empty() ? "a line" : status + " (" + text::json_safe(r.text, 200) + ")");
  }
}

}  // namespace

std::unique_ptr<SessionDecoder> make_pop3_decoder(const DecodeOptions& options) {
  return std::make_unique<Pop3Decoder>(options);
}

}  // namespace mailtap::decode
