// The SMTP session decoder: follows one session's events in order and explains them.
//
// Directions: bytes towards a server role (client->server, mailtap->server, client->mailtap) are
// commands; bytes from a server role (server->client, server->mailtap, mailtap->client) are
// replies. Commands relayed to the server wait in a FIFO for the server's replies, which is what
// pairs pipelined commands (RFC 2920) with their replies. Replies mailtap wrote itself are decoded
// but paired with nothing.
#include "mailtap/decode/smtp_decoder.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <deque>
#include <optional>
#include <vector>

#include "json_object.h"
#include "mailtap/decode/message_summary.h"
#include "mailtap/decode/redaction.h"
#include "mailtap/decode/sasl.h"
#include "mailtap/decode/smtp_command.h"
#include "mailtap/decode/smtp_reply.h"
#include "mailtap/decode/smtp_reply_codes.h"
#include "mailtap/transcript/bytes_codec.h"
#include "sasl_text.h"
#include "smtp_annotation.h"

namespace mailtap::decode {
namespace {

using smtp_detail::Annotation;
using transcript::Event;
using transcript::EventType;
using transcript::FrameKind;
using transcript::Party;

constexpr size_t kMaxCommandLine = 512;    // RFC 5321 4.5.3.1.4, CRLF included
constexpr size_t kMaxReplyLine = 512;      // RFC 5321 4.5.3.1.5
constexpr size_t kMaxTextLine = 1000;      // RFC 5321 4.5.3.1.6
constexpr size_t kMaxAuthLine = 12288;     // RFC 4954 4
constexpr size_t kMaxPending = 256;        // commands awaiting replies kept for pairing
constexpr size_t kMaxPartialLine = 16384;  // unframed bytes held while waiting for a LF

struct Pending {
  std::string verb;  // "EHLO", "MAIL", ..., "." for the end of a DATA message
  Microseconds time_us = 0;
  nlohmann::json seq;  // the command event's seq, null when unknown
};

// One answering party (the server, or mailtap itself) and the replies it sends.
struct Conversation {
  std::deque<Pending> pending;
  SmtpReplyAssembler assembler;
  size_t reply_line = 0;  // index of the next line within the reply being assembled
  bool overflow_warned = false;
};

// "mail.example.com ESMTP Postfix (Debian)": the words of a greeting a reader wants spelled out.
std::string explain_greeting(const std::string& text, nlohmann::json& d) {
  static constexpr std::string_view kSoftware[] = {
      "Postfix", "Exim", "Sendmail", "qmail", "OpenSMTPD", "Haraka", "Microsoft", "Courier",
      "Zimbra", "MDaemon", "hMailServer", "Stalwart", "Maddy", "Dovecot"};
  std::vector<std::string_view> words;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) words.push_back(std::string_view(text).substr(start, end - start));
    start = end + 1;
  }
  if (words.empty()) return "";
  std::string out = "the server calls itself " + text::json_safe(words[0], 200);
  d["server_name"] = text::json_safe(words[0], 200);
  bool esmtp = std::any_of(words.begin() + 1, words.end(),
                           [](std::string_view w) { return text::iequals(w, "ESMTP"); });
  d["esmtp"] = esmtp;
  if (esmtp) out += "; \"ESMTP\": it accepts the extended command set, so EHLO is the greeting to use";
  for (size_t i = 1; i < words.size(); ++i) {
    std::string_view w = words[i];
    while (!w.empty() && (w.front() == '(' || w.front() == '[')) w.remove_prefix(1);
    for (std::string_view name : kSoftware) {
      if (text::iequals(w.substr(0, name.size()), name) &&
          (w.size() == name.size() || !std::isalnum(static_cast<unsigned char>(w[name.size()])))) {
        d["software"] = std::string(name);
        return out + "; software: " + std::string(name);
      }
    }
  }
  return out;
}

// "Ok: queued as 941731C4" (Postfix), "OK id=1abc-..." (Exim): the id the server gave the message.
std::string queue_id_of(const std::string& text) {
  for (std::string_view marker : {"queued as ", "id="}) {
    size_t at = text.find(marker);
    if (at == std::string::npos) continue;
    size_t start = at + marker.size();
    size_t end = start;
    while (end < text.size() && text[end] != ' ' && text[end] != ')' && text[end] != ',') ++end;
    if (end > start) return text::json_safe(std::string_view(text).substr(start, end - start), 100);
  }
  return "";
}

std::string join_words(const nlohmann::json& array) {
  std::string out;
  for (const auto& item : array) {
    if (!item.is_string()) continue;
    out += (out.empty() ? "" : " ") + item.get<std::string>();
  }
  return out;
}

class SmtpDecoder final : public SessionDecoder {
 public:
  explicit SmtpDecoder(const DecodeOptions& options) : options_(options) {}

  void annotate(const Event& event, nlohmann::json& out) override {
    Annotation a;
    try {
      switch (event.type) {
        case EventType::data:
          on_data(event, out, a);
          break;
        case EventType::close:
          on_close(a);
          break;
        default:
          break;
      }
    } catch (const std::exception& e) {
      a.warn("decode_error", std::string("SMTP decoder: ") + e.what());
    } catch (...) {
      a.warn("decode_error", "SMTP decoder: unknown error");
    }
    try {
      a.apply(event, out);
    } catch (...) {
      // Last resort: leave the raw record as it was.
    }
  }

 private:
  // ---- dispatch ----

  void on_data(const Event& event, const nlohmann::json& out, Annotation& a) {
    bool towards_server = event.to == Party::server ||
                          (event.from == Party::client && event.to == Party::mailtap);
    nlohmann::json seq = out.contains("seq") ? out["seq"] : nlohmann::json();
    if (towards_server) {
      switch (event.frame) {
        case FrameKind::body: {
          uint64_t offset = message_ ? message_->wire_size() : 0;
          on_message_body(event.bytes, a);
          a.add(json_object("content", json_object("offset", offset, "length", event.bytes.size())),
                "message content sent after DATA, as on the wire (lines starting with \".\" "
                "carry an extra dot); the final \".\" line sums it up");
          return;
        }
        case FrameKind::chunk:
          on_bdat_chunk(event.bytes, a);
          return;
        case FrameKind::literal:
          return;  // not an SMTP framing
        case FrameKind::line:
        case FrameKind::raw:
          for_each_line(
              event, client_partial_, a,
              [&](std::string_view line, std::ptrdiff_t offset) {
                on_command_line(event, seq, line, offset, a);
              },
              [&](std::string_view held, size_t offset, size_t length) {
                redact_held_client_bytes(held, offset, length, a);
              });
          return;
      }
    } else {
      if (event.frame != FrameKind::line && event.frame != FrameKind::raw) return;
      for_each_line(
          event, server_partial_, a,
          [&](std::string_view line, std::ptrdiff_t) { on_reply_line(event, line, a); },
          [](std::string_view, size_t, size_t) {});
    }
  }

  // Lines of a line/raw frame, each with the offset of its first byte in this event's bytes
  // (negative when it began in an earlier unframed event). A `line` frame is complete even without
  // a final LF (e.g. the last bytes before a close); unframed bytes keep their unfinished last line
  // for the next event, and `on_held` sees the part of it that this event carries.
  template <typename F, typename H>
  void for_each_line(const Event& event, std::string& partial, Annotation& a, F&& handle,
                     H&& on_held) {
    std::string_view bytes = event.bytes;
    auto emit = [&](std::string_view piece, size_t start) {
      if (partial.empty()) {
        handle(piece, static_cast<std::ptrdiff_t>(start));
      } else {
        std::ptrdiff_t line_start =
            static_cast<std::ptrdiff_t>(start) - static_cast<std::ptrdiff_t>(partial.size());
        partial.append(piece);
        handle(std::string_view(partial), line_start);
        partial.clear();
      }
    };
    size_t start = 0;
    while (start < bytes.size()) {
      size_t lf = bytes.find('\n', start);
      if (lf == std::string_view::npos) break;
      emit(bytes.substr(start, lf + 1 - start), start);
      start = lf + 1;
    }
    if (start >= bytes.size()) return;
    std::string_view rest = bytes.substr(start);
    if (event.frame == FrameKind::line) {
      emit(rest, start);
      return;
    }
    partial.append(rest);
    on_held(std::string_view(partial), start, rest.size());
    if (partial.size() > kMaxPartialLine) {
      a.warn("smtp_line_too_long", "unframed bytes without a line end (over " +
                                       std::to_string(kMaxPartialLine) + " bytes)");
      std::ptrdiff_t line_start = static_cast<std::ptrdiff_t>(bytes.size()) -
                                  static_cast<std::ptrdiff_t>(partial.size());
      handle(std::string_view(partial), line_start);
      partial.clear();
    }
  }

  // An unfinished client line in unframed bytes may be (part of) a secret: an AUTH command's
  // initial response or a SASL response. Its bytes are written before the line is complete, so
  // they are redacted as they come unless secrets are revealed.
  void redact_held_client_bytes(std::string_view held, size_t offset, size_t length,
                                Annotation& a) {
    if (options_.reveal_secrets || in_data_) return;
    constexpr std::string_view kAuth = "AUTH ";
    bool auth_line = text::istarts_with(held, kAuth) ||
                     text::istarts_with(kAuth, held.substr(0, kAuth.size()));
    if (!(sasl_ && sasl_awaiting_response_) && !auth_line) return;
    std::string_view piece = held.substr(held.size() - length);
    a.replace(static_cast<std::ptrdiff_t>(offset), length, redact(piece, options_));
  }

  // ---- client side ----

  void on_command_line(const Event& event, const nlohmann::json& seq, std::string_view line,
                       std::ptrdiff_t offset, Annotation& a) {
    std::string_view content = text::strip_eol(line);
    bool relayed = event.to == Party::server;
    if (in_data_) {
      if (content == ".") {
        end_of_data_message(a);
        if (relayed) push_pending(server_, {".", event.time_us, seq}, a);
      } else {
        on_message_body(line, a);  // content framed as lines: still message text
      }
      return;
    }
    if (sasl_ && sasl_awaiting_response_ && relayed) {
      on_sasl_response(event, content, offset, a);
      return;
    }
    SmtpCommand cmd = parse_smtp_command(content);
    if (!greeting_seen_ && relayed && !pregreet_warned_) {
      pregreet_warned_ = true;
      a.warn("smtp_pregreet",
             "client sent a command before the server's greeting (RFC 5321 3.1: it must wait)");
    }
    nlohmann::json decoded = json_object("command", cmd.verb, "args", std::move(cmd.args));
    std::string note = std::move(cmd.note);
    a.add_warnings(cmd.warnings);
    size_t limit = cmd.verb == "AUTH" ? kMaxAuthLine : kMaxCommandLine;
    if (line.size() > limit) {
      a.warn("smtp_line_too_long", "command line of " + std::to_string(line.size()) +
                                       " octets exceeds the " + std::to_string(limit) +
                                       " RFC 5321/4954 allow");
    }
    if (cmd.verb == "AUTH" && !cmd.auth_mechanism.empty()) {
      decoded["args"]["about"] = describe_mechanism(cmd.auth_mechanism);
      SaslExchange exchange(cmd.auth_mechanism, options_);
      if (cmd.auth_initial_response) {
        SaslStep step = exchange.client_response(*cmd.auth_initial_response, true);
        decoded["sasl"] = step.decoded;
        note += ": " + step.note;
        a.add_warnings(step.warnings);
        if (step.redacted()) {
          a.replace(offset + static_cast<std::ptrdiff_t>(cmd.auth_initial_response_offset),
                    cmd.auth_initial_response->size(), step.wire_replacement);
        }
        if (step.carries_secret) warn_credentials_before_tls(event, exchange.mechanism(), a);
      }
      if (relayed) {
        sasl_.emplace(std::move(exchange));
        sasl_awaiting_response_ = false;
      }
    } else if (cmd.verb == "BDAT" && cmd.bdat_size) {
      if (!bdat_message_) bdat_message_.emplace(/*dot_stuffed=*/false);
      bdat_remaining_ = *cmd.bdat_size;
      bdat_last_ = cmd.bdat_last;
      if (bdat_remaining_ == 0 && bdat_last_) {
        decoded["message"] = bdat_message_->summary();
        note += "; end of message: " + bdat_message_->describe();
        bdat_message_.reset();
      }
    } else if (cmd.verb == "RSET") {
      bdat_message_.reset();
      bdat_remaining_ = 0;
    }
    if (!relayed) {
      decoded["relayed"] = false;
      note += " (not relayed to the server: mailtap kept or dropped it)";
    } else if (greeting_seen_ && !server_.pending.empty()) {
      // RFC 2920: sent while an earlier command still waits for its reply.
      decoded["pipelined"] = true;
      const std::string& before = server_.pending.back().verb;
      note += " (pipelined: sent before the reply to " +
              (before == "." ? std::string("the end of the message") : before) + ")";
    }
    a.add(std::move(decoded), std::move(note));
    if (relayed) push_pending(server_, {cmd.verb, event.time_us, seq}, a);
  }

  void on_sasl_response(const Event& event, std::string_view content, std::ptrdiff_t offset,
                        Annotation& a) {
    sasl_awaiting_response_ = false;
    SaslStep step = sasl_->client_response(content);
    a.add_warnings(step.warnings);
    if (step.redacted()) a.replace(offset, content.size(), step.wire_replacement);
    if (content.size() + 2 > kMaxAuthLine) {
      a.warn("smtp_line_too_long", "AUTH response line exceeds the 12288 octets RFC 4954 allows");
    }
    if (step.carries_secret) warn_credentials_before_tls(event, sasl_->mechanism(), a);
    // The next reply answers this response: measure its latency from here.
    if (!server_.pending.empty() && server_.pending.front().verb == "AUTH") {
      server_.pending.front().time_us = event.time_us;
    }
    a.add(json_object("sasl", std::move(step.decoded)), std::move(step.note));
  }

  void warn_credentials_before_tls(const Event& event, const std::string& mechanism,
                                   Annotation& a) {
    if (event.over_tls) return;
    a.warn("credentials_before_tls",
           "AUTH " + mechanism + " credentials sent without TLS" +
               (mechanism_exposes_secret(mechanism)
                    ? ": anyone on the path can read and reuse them"
                    : ": the exchange can be attacked offline by anyone on the path"));
  }

  void on_message_body(std::string_view bytes, Annotation& a) {
    if (!message_) {
      message_.emplace(/*dot_stuffed=*/true);
      in_data_ = true;
      body_line_length_ = 0;
      long_line_warned_ = false;
    }
    message_->feed(bytes);
    track_text_lines(bytes, a);
  }

  void track_text_lines(std::string_view bytes, Annotation& a) {
    size_t start = 0;
    while (start < bytes.size()) {
      const void* nl = std::memchr(bytes.data() + start, '\n', bytes.size() - start);
      size_t end = nl ? static_cast<size_t>(static_cast<const char*>(nl) - bytes.data()) + 1
                      : bytes.size();
      body_line_length_ += end - start;
      if (body_line_length_ > kMaxTextLine && !long_line_warned_) {
        long_line_warned_ = true;
        a.warn("smtp_line_too_long",
               "message line longer than the 1000 octets RFC 5321 4.5.3.1.6 allows");
      }
      if (nl) body_line_length_ = 0;
      start = end;
    }
  }

  void end_of_data_message(Annotation& a) {
    if (!message_) message_.emplace(/*dot_stuffed=*/true);
    std::string note = "End of message: " + message_->describe();
    if (message_->wire_size() != message_->size()) {
      note += " (" + std::to_string(message_->wire_size()) +
              " bytes on the wire: lines starting with \".\" were sent with an extra dot)";
    }
    a.add(json_object("end_of_message", true, "message", message_->summary()), std::move(note));
    message_.reset();
    in_data_ = false;
  }

  void on_bdat_chunk(std::string_view bytes, Annotation& a) {
    if (!bdat_message_) bdat_message_.emplace(/*dot_stuffed=*/false);
    bdat_message_->feed(bytes);
    bdat_remaining_ -= std::min<uint64_t>(bdat_remaining_, bytes.size());
    if (bdat_remaining_ == 0 && bdat_last_) {
      a.add(json_object("end_of_message", true, "message", bdat_message_->summary()),
            "End of message (last BDAT chunk): " + bdat_message_->describe());
      bdat_message_.reset();
      bdat_last_ = false;
    }
  }

  void push_pending(Conversation& c, Pending p, Annotation& a) {
    if (c.pending.size() >= kMaxPending) {
      c.pending.pop_front();
      if (!c.overflow_warned) {
        c.overflow_warned = true;
        a.warn("smtp_pipeline_overflow",
               "more than " + std::to_string(kMaxPending) +
                   " commands without replies; pairing of later replies may be off");
      }
    }
    c.pending.push_back(std::move(p));
  }

  // ---- server side ----

  void on_reply_line(const Event& event, std::string_view line, Annotation& a) {
    if (line.size() > kMaxReplyLine) {
      a.warn("smtp_line_too_long", "reply line of " + std::to_string(line.size()) +
                                       " octets exceeds the 512 RFC 5321 4.5.3.1.5 allows");
    }
    bool from_server = event.from == Party::server;
    Conversation& c = from_server ? server_ : mailtap_;
    if (!c.assembler.in_progress()) c.reply_line = 0;
    const size_t index = c.reply_line++;
    std::optional<SmtpReply> reply = c.assembler.feed(text::strip_eol(line));
    if (!reply) {
      int code = c.assembler.pending_code();
      bool ehlo = from_server && !server_.pending.empty() && code == 250 &&
                  (server_.pending.front().verb == "EHLO" || server_.pending.front().verb == "LHLO");
      a.add(json_object("code", code, "continued", true),
            ehlo ? explain_ehlo_line(text::strip_eol(line), index)
                 : std::to_string(code) + "-: one line of a multi-line reply; the line with \"" +
                       std::to_string(code) + " \" (a space after the code) ends it");
      return;
    }
    on_reply(event, *reply, from_server, a);
  }

  void on_reply(const Event& event, const SmtpReply& reply, bool from_server, Annotation& a) {
    nlohmann::json d = json_object("code", reply.code, "lines", reply.lines);
    if (reply.line_count > reply.lines.size()) {
      d["lines_not_kept"] = reply.line_count - reply.lines.size();
    }
    if (reply.enhanced) d["enhanced"] = describe_enhanced_code(*reply.enhanced);
    if (reply.malformed) {
      a.warn("smtp_malformed_reply",
             "reply line without a 3-digit code (2xx-5xx) followed by ' ' or '-'");
    }
    if (reply.mixed_codes) {
      a.warn("smtp_malformed_reply", "lines of one multi-line reply carry different codes");
    }
    std::string note = basic_reply_note(reply);
    if (!from_server) {
      d["answers"] = nullptr;
      d["synthesised"] = true;
      a.add(std::move(d), "mailtap's own reply: " + note);
      return;
    }
    bool looks_like_greeting =
        server_.pending.empty() ||
        ((reply.code == 220 || reply.code == 554) && server_.pending.front().verb != "STARTTLS");
    if (!greeting_seen_ && looks_like_greeting) {
      // The first reply of a session is the greeting (RFC 5321 3.1), even when the client has
      // already spoken (that was warned about on the command).
      greeting_seen_ = true;
      d["answers"] = "greeting";
      if (reply.code == 220) {
        std::string explained = explain_greeting(first_line(reply), d);
        note += " (greeting: " + first_line(reply) + ")" +
                (explained.empty() ? "" : ": " + explained);
      } else {
        note += " (greeting refuses service: " + first_line(reply) + ")";
      }
      a.add(std::move(d), std::move(note));
      return;
    }
    if (server_.pending.empty()) {
      d["answers"] = nullptr;
      if (reply.code != 421) a.warn("smtp_unexpected_reply", "reply with no command waiting for it");
      a.add(std::move(d), "Unsolicited reply " + note);
      return;
    }
    greeting_seen_ = true;  // a transcript may start after the greeting
    Pending& front = server_.pending.front();
    d["answers"] = json_object("command", front.verb, "seq", front.seq);
    d["latency_us"] = event.time_us - front.time_us;
    std::string verb = front.verb;
    if (reply.code == 334 && verb == "AUTH" && sasl_) {
      // A challenge: the AUTH command stays open until its final reply.
      std::string_view challenge;
      if (!reply.lines.empty()) challenge = reply.lines[0];
      SaslStep step = sasl_->server_challenge(challenge);
      sasl_awaiting_response_ = true;
      d["sasl"] = step.decoded;
      a.add_warnings(step.warnings);
      a.add(std::move(d), "334 " + step.note);
      return;
    }
    server_.pending.pop_front();
    if (verb == "EHLO" || verb == "LHLO") {
      note = on_ehlo_reply(event, reply, d, a, note);
    } else if (verb == "DATA" && reply.code == 354) {
      message_.emplace(/*dot_stuffed=*/true);
      in_data_ = true;
      body_line_length_ = 0;
      long_line_warned_ = false;
    } else if (verb == "AUTH" && sasl_) {
      bool success = reply.code == 235 || (reply.code >= 200 && reply.code < 300);
      SaslStep step = sasl_->finish({success, std::to_string(reply.code), first_line(reply)});
      d["sasl"] = step.decoded;
      a.add_warnings(step.warnings);
      note += "; " + step.note;
      sasl_.reset();
      sasl_awaiting_response_ = false;
    } else if (verb == "STARTTLS" && reply.code == 220) {
      note += "; the TLS handshake follows, after which the client must send EHLO again";
      capabilities_ = nlohmann::json();  // RFC 3207 4.2: forget what was learnt in cleartext
      if (!server_.pending.empty()) {
        a.warn("starttls_pipelined_commands_relayed",
               std::to_string(server_.pending.size()) +
                   " command(s) sent after STARTTLS reached the server before TLS started");
      }
    } else if (verb == ".") {
      note += reply.code < 300 ? "; the message is accepted: " + first_line(reply)
                               : "; the message is refused: " + first_line(reply);
      if (std::string id = queue_id_of(first_line(reply)); reply.code < 300 && !id.empty()) {
        d["queue_id"] = id;
        note += " (the server now owns the message and has queued it for delivery under the id " +
                id + ", which its logs use)";
      }
    }
    if (verb != "." && reply.code >= 400) note += " (server says \"" + first_line(reply) + "\")";
    a.add(std::move(d), note + " (reply to " + (verb == "." ? "the end of the message" : verb) + ")");
  }

  std::string on_ehlo_reply(const Event& event, const SmtpReply& reply, nlohmann::json& d,
                            Annotation& a, const std::string& base_note) {
    if (reply.code != 250) return base_note;
    nlohmann::json parsed = parse_ehlo_capabilities(reply);
    capabilities_ = std::move(parsed["capabilities"]);
    d["capabilities"] = capabilities_;
    if (parsed.contains("domain")) d["domain"] = parsed["domain"];
    const nlohmann::json& caps = d["capabilities"];
    std::string listed;
    for (const auto& keyword : parsed["keywords"]) {
      std::string k = keyword.get<std::string>();
      auto found = caps.find(k);
      if (found == caps.end()) continue;
      std::string item = k;
      const nlohmann::json& v = *found;
      if (v.is_array()) item += " " + join_words(v);
      if (v.is_number()) item += " " + std::to_string(v.get<uint64_t>());
      if (v.is_string()) item += " " + v.get<std::string>();
      listed += (listed.empty() ? "" : ", ") + item;
    }
    std::string note = "250: " + parsed.value("domain", std::string("the server")) +
                       " lists its extensions: " + (listed.empty() ? "none" : listed);
    if (!event.over_tls) {
      bool auth = caps.contains("AUTH") || caps.contains("AUTH=");
      if (auth) {
        std::string mechanisms = caps.contains("AUTH") ? join_words(caps["AUTH"])
                                                       : join_words(caps["AUTH="]);
        a.warn("auth_offered_cleartext",
               "server offers AUTH (" + mechanisms +
                   ") on a connection without TLS: a client may send its password in cleartext");
      }
      if (!caps.contains("STARTTLS")) {
        a.warn("starttls_not_offered",
               "server does not offer STARTTLS on this cleartext connection: mail and "
               "credentials cannot be protected");
      }
    }
    return note;
  }

  // One line of an EHLO reply before its last: the server's name, or an extension explained.
  static std::string explain_ehlo_line(std::string_view line, size_t index) {
    std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view();
    if (index == 0) {
      std::string_view name = text.substr(0, text.find(' '));
      return "250-" + text::json_safe(name, 200) +
             ": the server's name; its extensions follow, one per line";
    }
    std::string_view keyword = text::trim(text);
    keyword = keyword.substr(0, keyword.find(' '));
    if (size_t eq = keyword.find('='); eq != std::string_view::npos) keyword = keyword.substr(0, eq + 1);
    std::string meaning = describe_capability(keyword);
    std::string shown = text::json_safe(text::trim(text), 200);
    return "extension " + shown + ": " +
           (meaning.empty() ? "an extension mailtap has no description for" : meaning);
  }

  static const std::string& first_line(const SmtpReply& reply) {
    static const std::string kNone;
    return reply.lines.empty() ? kNone : reply.lines[0];
  }

  static std::string basic_reply_note(const SmtpReply& reply) {
    if (reply.code < 0) return "Malformed reply";
    std::string note = std::to_string(reply.code);
    note += ": " + smtp_reply_meaning(reply.code);
    // x.0.0 and x.y.0 only say "other ...": not worth the words in a note (nor the lookup).
    if (reply.enhanced && reply.enhanced->size() >= 2 &&
        reply.enhanced->compare(reply.enhanced->size() - 2, 2, ".0") != 0) {
      nlohmann::json e = describe_enhanced_code(*reply.enhanced);
      note += " (" + *reply.enhanced + ": " + e.value("meaning", std::string("unregistered")) + ")";
    }
    return note;
  }

  // ---- session end ----

  void on_close(Annotation& a) {
    if (close_seen_) return;
    close_seen_ = true;
    if (message_ && in_data_) {
      a.warn("smtp_incomplete_message",
             "connection closed in the middle of a DATA message (" +
                 std::to_string(message_->size()) + " bytes received, no final \".\")");
    }
    if (sasl_ && !sasl_->finished()) {
      a.warn("sasl_incomplete", "connection closed during AUTH " + sasl_->mechanism());
    }
  }

  DecodeOptions options_;
  Conversation server_;   // commands relayed to the server, and its replies
  Conversation mailtap_;  // replies mailtap wrote itself
  std::string client_partial_, server_partial_;
  bool greeting_seen_ = false;
  bool pregreet_warned_ = false;
  bool close_seen_ = false;
  nlohmann::json capabilities_;  // from the last EHLO reply
  std::optional<SaslExchange> sasl_;
  bool sasl_awaiting_response_ = false;
  bool in_data_ = false;
  std::optional<MessageSummarizer> message_;
  uint64_t body_line_length_ = 0;
  bool long_line_warned_ = false;
  std::optional<MessageSummarizer> bdat_message_;
  uint64_t bdat_remaining_ = 0;
  bool bdat_last_ = false;
};

}  // namespace

std::unique_ptr<SessionDecoder> make_smtp_decoder(const DecodeOptions& options) {
  return std::make_unique<SmtpDecoder>(options);
}

}  // namespace mailtap::decode
