#include "mailtap/run/transcript_import.h"

#include <regex>
#include <set>
#include <sstream>

#include "mailtap/decode/redaction.h"
#include "mailtap/decode/sasl.h"
#include "mailtap/run/template.h"
#include "mailtap/transcript/bytes_codec.h"
#include "mailtap/transcript/transcript_writer.h"
#include "run/run_text.h"
#include "run/script_text.h"

namespace mailtap::run {
namespace {

using nlohmann::json;

bool supported_mechanism(const std::string& m) {
  for (const char* s : {"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "XOAUTH2",
                        "OAUTHBEARER", "EXTERNAL", "ANONYMOUS"})
    if (m == s) return true;
  return false;
}

// Replaces every "<redacted len=N h=XXXXXXXX>" token in `text`.
bool replace_redactions(std::string& text, const std::string& replacement) {
  bool any = false;
  size_t pos = 0;
  while ((pos = text.find("<redacted len=", pos)) != std::string::npos) {
    size_t end = text.find('>', pos);
    if (end == std::string::npos) break;
    text.replace(pos, end - pos + 1, replacement);
    pos += replacement.size();
    any = true;
  }
  return any;
}

bool is_continuation(Protocol p, std::string_view line) {
  if (p == Protocol::smtp) return starts_with(line, "334");
  return line == "+" || starts_with(line, "+ ");
}

std::string regex_replace_all(const std::string& in, const std::regex& re, const char* with) {
  return std::regex_replace(in, re, with);
}

class Importer {
 public:
  Importer(const transcript::Transcript& capture, const ImportOptions& options)
      : capture_(capture), options_(options) {}

  Script run() {
    const json& h = capture_.header;
    auto protocol = parse_protocol(h.value("protocol", ""));
    SourceLocation where{capture_.path.string(), 1};
    if (!protocol) throw ScriptError(where, "the transcript header names no known protocol");
    protocol_ = *protocol;
    script_.source = capture_.path.string();
    script_.protocol = protocol_;
    if (h.contains("listener") && h["listener"].is_object()) {
      const json& l = h["listener"];
      script_.target = l.value("upstream", "");
      if (auto tls = parse_tls_mode(l.value("upstream_tls", ""))) script_.tls = tls;
    }
    script_.notes.push_back("converted from " + capture_.path.string() + " (session " +
                            h.value("session", "?") + ", " + h.value("started", "?") + ")");
    for (size_t k = 0; k < capture_.events.size(); ++k) {
      line_ = k + 2;  // the header is line 1
      event(capture_.events[k]);
    }
    flush_server();
    flush_client(true);
    finish_credentials();
    return std::move(script_);
  }

 private:
  void event(const json& e) {
    std::string type = e.value("type", "");
    if (type == "starttls" && e.value("leg", "") == "server" &&
        e.value("phase", "") == "requested" && e.value("handled_by", "") == "mailtap")
      negotiating_ = true;
    if (type == "tls" && e.value("leg", "") == "server") negotiating_ = false;
    if (type != "data") return;
    std::string from = e.value("from", ""), to = e.value("to", ""), frame = e.value("frame", "");
    std::string bytes = transcript::decode_bytes(e);
    note_user(e);
    if (from == "client" && to == "server") {
      flush_server();
      if (frame == "body") {
        body_ += bytes;
        emit_body_lines(false);
        return;
      }
      flush_body();
      client_ += bytes;
      flush_client(false);
    } else if (from == "server" &&
               (to == "client" || (to == "mailtap" && !negotiating_ && frame != "raw"))) {
      flush_body();
      flush_client(true);
      if (server_.empty()) server_line_ = line_;
      server_ += bytes;
    }
  }

  void note_user(const json& e) {
    if (!user_.empty() || !e.contains("decoded") || !e["decoded"].is_object()) return;
    const json& d = e["decoded"];
    auto take = [&](const json& obj, const char* key) {
      if (user_.empty() && obj.is_object() && obj.contains(key) && obj[key].is_string() &&
          !decode::is_redaction_token(obj[key].get<std::string>()))
        user_ = obj[key].get<std::string>();
    };
    if (d.contains("sasl") && d["sasl"].is_object() && d["sasl"].contains("fields")) {
      for (const char* key : {"authcid", "username", "user"}) take(d["sasl"]["fields"], key);
    }
    take(d, "user");
  }

  // ---- client side ------------------------------------------------------------------------------

  void emit_body_lines(bool all) {
    size_t pos = 0;
    while (true) {
      size_t nl = body_.find('\n', pos);
      if (nl == std::string::npos) break;
      std::string line = body_.substr(pos, nl + 1 - pos);
      pos = nl + 1;
      std::string_view text = without_line_end(line);
      bool crlf = line.size() >= 2 && line[line.size() - 2] == '\r';
      if (!crlf || !transcript::is_transcript_text(text) || text == "..") {
        add_raw(line);  // bare LF, binary, or a content line "." (which C: would end the message)
        continue;
      }
      std::string unstuffed(text.substr(!text.empty() && text[0] == '.' ? 1 : 0));
      add_send(escape_template(unstuffed));
    }
    body_.erase(0, pos);
    if (all && !body_.empty()) {
      add_raw(body_);
      body_.clear();
    }
  }

  void flush_body() { emit_body_lines(true); }

  void flush_client(bool all) {
    size_t pos = 0;
    while (true) {
      size_t nl = client_.find('\n', pos);
      if (nl == std::string::npos) break;
      client_line(client_.substr(pos, nl + 1 - pos));
      pos = nl + 1;
    }
    client_.erase(0, pos);
    if (all && !client_.empty()) {
      add_raw(client_);  // a literal or line without its end when the server spoke
      client_.clear();
    }
  }

  void client_line(const std::string& line) {
    std::string text(without_line_end(line));
    bool crlf = line.size() >= 2 && line[line.size() - 2] == '\r';
    if (sasl_active_ && sasl_client_turn_) {
      sasl_client_turn_ = false;
      if (sasl_template_ && text != "*") {
        password_from_sasl(text);
        return add_send("${sasl}");
      }
    } else if (auto mechanism = auth_mechanism(text)) {
      sasl_active_ = true;
      sasl_client_turn_ = false;
      sasl_mechanism_ = *mechanism;
      sasl_template_ = supported_mechanism(*mechanism);
      if (!sasl_template_)
        script_.notes.push_back(
            "the " + *mechanism +
            " exchange is replayed byte for byte: the runner cannot recompute it");
      std::string ir = word_at(text, protocol_ == Protocol::imap ? 3 : 2);
      if (sasl_template_ && !ir.empty()) {
        password_from_sasl(ir);
        size_t at = text.rfind(ir);
        return add_send(escape_template(text.substr(0, at)) + "${sasl}");
      }
      if (sasl_template_) return add_send(escape_template(text));
    }
    if (protocol_ == Protocol::imap && !sasl_active_) {
      std::string tag = word_at(text, 0);
      if (!tag.empty() && tag != "*" && tag != "+") tags_.insert(tag);
    }
    if (!crlf || !transcript::is_transcript_text(text)) return add_raw(line);
    std::string out = escape_template(text);
    bool apop = protocol_ == Protocol::pop3 && detail_upper(word_at(text, 0)) == "APOP";
    if (replace_redactions(out, apop ? "${apop}" : "${pass}")) needs_password_ = true;
    add_send(out);
  }

  std::optional<std::string> auth_mechanism(const std::string& text) const {
    if (protocol_ == Protocol::imap) {
      if (detail_upper(word_at(text, 1)) != "AUTHENTICATE") return std::nullopt;
      return detail_upper(word_at(text, 2));
    }
    if (detail_upper(word_at(text, 0)) != "AUTH" || word_at(text, 1).empty()) return std::nullopt;
    return detail_upper(word_at(text, 1));
  }

  // A client SASL message captured in clear names the user (CRAM-MD5, SCRAM); PLAIN and LOGIN in
  // clear (--reveal-secrets) even give the password away: keep it, so the script replays without
  // --var.
  void password_from_sasl(const std::string& wire) {
    needs_password_ = true;
    if (decode::is_redaction_token(wire) || wire.find("<redacted") != std::string::npos) return;
    auto raw = decode::base64_decode(wire);
    if (!raw) return;
    if (sasl_mechanism_ == "PLAIN") {
      size_t a = raw->find('\0');
      size_t b = a == std::string::npos ? a : raw->find('\0', a + 1);
      if (b != std::string::npos) {
        if (user_.empty()) user_ = raw->substr(a + 1, b - a - 1);
        password_ = raw->substr(b + 1);
      }
    } else if (sasl_mechanism_ == "LOGIN") {
      if (++login_messages_ == 1 && user_.empty()) user_ = *raw;
      if (login_messages_ == 2) password_ = *raw;
    } else if (sasl_mechanism_ == "CRAM-MD5" && user_.empty()) {
      user_ = raw->substr(0, raw->rfind(' '));
    } else if (starts_with(sasl_mechanism_, "SCRAM-") && user_.empty()) {
      size_t n = raw->find(",n=");
      if (n != std::string::npos) user_ = raw->substr(n + 3, raw->find(',', n + 3) - n - 3);
    }
  }

  // ---- server side
  // --------------------------------------------------------------------------------

  void flush_server() {
    if (server_.empty()) return;
    for (const std::string& line : split_lines(server_)) {
      bool in_sasl = sasl_active_ && is_continuation(protocol_, line);
      if (sasl_active_) {
        if (in_sasl)
          sasl_client_turn_ = true;
        else
          sasl_active_ = false;
      }
      ServerLineContext context;
      context.sasl_challenge = in_sasl;
      context.sasl_mechanism = sasl_mechanism_;
      context.tagged_completion = protocol_ == Protocol::imap && tags_.count(word_at(line, 0));
      // A challenge is fresh every time: even an exact script cannot expect the captured one.
      std::string text = options_.generalise || in_sasl
                             ? generalise_server_line(protocol_, line, context)
                             : escape_expectation(line);
      ScriptItem item;
      item.kind = ScriptItem::Kind::expect;
      item.where = {capture_.path.string(), server_line_};
      item.text = std::move(text);
      script_.items.push_back(std::move(item));
    }
    server_.clear();
  }

  void add_send(std::string text) {
    ScriptItem item;
    item.kind = ScriptItem::Kind::send;
    item.where = {capture_.path.string(), line_};
    item.text = std::move(text);
    script_.items.push_back(std::move(item));
  }

  void add_raw(std::string bytes) {
    ScriptItem item;
    item.kind = ScriptItem::Kind::send;
    item.where = {capture_.path.string(), line_};
    item.raw = true;
    if (replace_redactions(bytes, ""))
      script_.notes.push_back("a redacted secret inside exact bytes was dropped");
    item.text = std::move(bytes);
    script_.items.push_back(std::move(item));
  }

  void finish_credentials() {
    std::vector<ScriptItem> sets;
    auto set = [&](const char* name, const std::string& value) {
      ScriptItem item;
      item.kind = ScriptItem::Kind::set;
      item.where = {capture_.path.string(), 1};
      item.name = name;
      item.text = escape_template(value);
      sets.push_back(std::move(item));
    };
    if (needs_password_ && !user_.empty()) set("user", user_);
    if (needs_password_ && !password_.empty()) set("pass", password_);
    if (needs_password_ && password_.empty())
      script_.notes.push_back(
          "the capture's secrets were redacted: give the password with "
          "--var pass=... (and the user with --var user=... if it differs)");
    script_.items.insert(script_.items.begin(), sets.begin(), sets.end());
  }

  const transcript::Transcript& capture_;
  const ImportOptions& options_;
  Script script_;
  Protocol protocol_ = Protocol::smtp;
  size_t line_ = 0, server_line_ = 0;
  std::string client_, server_, body_;
  bool negotiating_ = false;
  bool sasl_active_ = false, sasl_client_turn_ = false, sasl_template_ = false;
  std::string sasl_mechanism_;
  int login_messages_ = 0;
  std::string user_, password_;
  bool needs_password_ = false;
  std::set<std::string> tags_;
};

}  // namespace

std::string generalise_server_line(Protocol protocol, const std::string& line,
                                   const ServerLineContext& context) {
  static const std::regex date(
      R"(((Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?\d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}(:\d{2})?( ?([+-]\d{4}|[A-Z]{1,5}))?( \([A-Za-z +-]+\))?)");
  static const std::regex imap_date(
      R"(\d{1,2}-(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)-\d{4} \d{2}:\d{2}:\d{2} [+-]\d{4})");
  static const std::regex iso_time(
      R"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?)");
  static const std::regex queue_id(R"(queued as [A-Za-z0-9]+)");
  static const std::regex message_id(R"(<[^<>@\s]+@[^<>\s]+>)");
  static const std::regex imap_counter(R"(^\* \d+ (EXISTS|RECENT)$)");
  static const std::regex imap_code(R"(\[(UIDVALIDITY|UIDNEXT|HIGHESTMODSEQ|UNSEEN) \d+\])");
  static const std::regex fetch_line(R"(^\* \d+ FETCH \()");
  static const std::regex fetch_flags(R"(FLAGS \([^)]*\) ?)");
  static const std::regex fetch_modseq(R"(MODSEQ \(\d+\))");
  static const std::regex imap_tagged(R"(^([^*+\s]\S*) (OK|NO|BAD)( \[[^\]]*\])?( .*)?$)",
                                      std::regex::icase);
  static const std::regex pop3_counts(R"(^\+OK \d+ messages?\b.*$)");
  static const std::regex pop3_stat(R"(^\+OK \d+ \d+$)");

  if (context.sasl_challenge) {
    if (context.sasl_mechanism == "LOGIN" || context.sasl_mechanism == "PLAIN")
      return escape_expectation(line);
    return protocol == Protocol::smtp ? "334 *" : "+ *";
  }
  std::string out = line;
  out = regex_replace_all(out, date, "\x01");
  out = regex_replace_all(out, imap_date, "\x01");
  out = regex_replace_all(out, iso_time, "\x01");
  switch (protocol) {
    case Protocol::smtp:
      out = regex_replace_all(out, queue_id, "queued as \x01");
      out = regex_replace_all(out, message_id, "<\x01>");
      break;
    case Protocol::imap:
      out = regex_replace_all(out, imap_counter, "* \x01 $1");
      if (std::regex_search(out, fetch_line)) {
        // FLAGS in a FETCH come and go with the message's state (\Seen set by the first fetch).
        out = regex_replace_all(out, fetch_flags, "\x01");
        out = regex_replace_all(out, fetch_modseq, "MODSEQ (\x01)");
      }
      out = regex_replace_all(out, imap_code, "[$1 \x01]");
      if (context.tagged_completion) out = regex_replace_all(out, imap_tagged, "$1 $2$3 \x01");
      break;
    case Protocol::pop3:
      if (starts_with(out, "+OK ")) out = regex_replace_all(out, message_id, "<\x01>");
      out = regex_replace_all(out, pop3_counts, "+OK \x01");
      out = regex_replace_all(out, pop3_stat, "+OK \x01 \x01");
      break;
  }
  // \x01 marks the wildcards; everything else must read back as literal text.
  std::string escaped = escape_expectation(out);
  for (char& c : escaped)
    if (c == '\x01') c = '*';
  return escaped;
}

std::string format_script(const Script& script) {
  std::ostringstream out;
  out << "# mailtap runner script (docs/runner-script-format.md)\n";
  for (const std::string& note : script.notes) out << "# " << note << "\n";
  if (script.protocol) out << "!proto " << to_string(*script.protocol) << "\n";
  if (script.tls) out << "!tls " << to_string(*script.tls) << "\n";
  if (!script.target.empty()) out << "!target " << script.target << "\n";
  if (script.timeout_seconds) out << "!timeout " << *script.timeout_seconds << "\n";
  // A blank line before each client turn, like the seeds' C:/S: exchanges.
  ScriptItem::Kind previous = ScriptItem::Kind::set;
  for (const ScriptItem& item : script.items) {
    if (item.kind == ScriptItem::Kind::send && previous != ScriptItem::Kind::send) out << "\n";
    out << format_item(item) << "\n";
    previous = item.kind;
  }
  return out.str();
}

Script import_transcript(const transcript::Transcript& capture, const ImportOptions& options) {
  return Importer(capture, options).run();
}

}  // namespace mailtap::run
