// SMTP command syntax: RFC 5321 4.1.1 (commands) and 4.1.2 (paths), with the parameters of
// SIZE (RFC 1870), 8BITMIME/BODY (RFC 6152, RFC 3030), SMTPUTF8 (RFC 6531), AUTH (RFC 4954 5),
// DSN RET/ENVID/NOTIFY/ORCPT (RFC 3461), REQUIRETLS (RFC 8689), CHUNKING BDAT (RFC 3030),
// ETRN (RFC 1985), STARTTLS (RFC 3207).
#include "mailtap/decode/smtp_command.h"

#include <algorithm>
#include <vector>

#include "json_object.h"
#include "sasl_text.h"

namespace mailtap::decode {
namespace {

using text::json_safe;

void warn(SmtpCommand& c, std::string code, std::string message) {
  c.warnings.push_back(json_object("code", std::move(code), "message", std::move(message)));
}

std::string in_quotes(std::string_view s) { return "\"" + json_safe(s, 200) + "\""; }

std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size() && out.size() < 64) {
    while (i < s.size() && s[i] == ' ') ++i;
    size_t start = i;
    while (i < s.size() && s[i] != ' ') ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

bool all_digits(std::string_view s) {
  return !s.empty() && s.size() <= 19 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

struct Path {
  std::string address;  // without <> and source route
  bool bracketed = false;
  bool ok = true;
  std::string_view rest;  // what follows the path (parameters)
};

// "FROM:<a@b> SIZE=1" after the verb: the keyword, the path, the parameters.
Path parse_path(std::string_view after_keyword) {
  Path p;
  std::string_view s = after_keyword;
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);  // "FROM: <a>" is common
  if (!s.empty() && s.front() == '<') {
    p.bracketed = true;
    bool quoted = false;
    size_t close = std::string_view::npos;
    for (size_t i = 1; i < s.size(); ++i) {
      if (s[i] == '"' && s[i - 1] != '\\') quoted = !quoted;
      if (s[i] == '>' && !quoted) {
        close = i;
        break;
      }
    }
    if (close == std::string_view::npos) {
      p.ok = false;
      p.address = std::string(s.substr(1));
      return p;
    }
    std::string_view inner = s.substr(1, close - 1);
    if (!inner.empty() && inner.front() == '@') {  // obsolete source route "@a,@b:user@c"
      size_t colon = inner.find(':');
      if (colon != std::string_view::npos) inner.remove_prefix(colon + 1);
    }
    p.address = std::string(inner);
    p.rest = s.substr(close + 1);
  } else {
    size_t space = s.find(' ');
    p.address = std::string(s.substr(0, space));
    p.rest = space == std::string_view::npos ? std::string_view() : s.substr(space);
    p.ok = !p.address.empty();
  }
  return p;
}

// Parameters "KEY=value KEY2": a JSON object (keys upper-case) and words for the note.
nlohmann::json parse_params(std::string_view s, std::vector<std::string>& explained) {
  nlohmann::json params = nlohmann::json::object();
  for (std::string_view word : words(s)) {
    size_t eq = word.find('=');
    std::string key = text::upper(json_safe(word.substr(0, eq), 64));
    std::string_view raw = eq == std::string_view::npos ? std::string_view() : word.substr(eq + 1);
    std::string value = json_safe(raw, 512);
    if (eq == std::string_view::npos) {
      params[key] = true;
    } else if (key == "SIZE" && all_digits(raw)) {
      params[key] = std::stoull(std::string(raw));
    } else {
      params[key] = value;
    }
    if (key == "SIZE") {
      explained.push_back("announces " + value + " bytes");
    } else if (key == "BODY") {
      std::string v = text::upper(value);
      explained.push_back(v == "8BITMIME"     ? "8-bit content (BODY=8BITMIME)"
                          : v == "BINARYMIME" ? "binary content (BODY=BINARYMIME)"
                          : v == "7BIT"       ? "7-bit content"
                                              : "body type " + value);
    } else if (key == "SMTPUTF8") {
      explained.push_back("UTF-8 addresses and headers (SMTPUTF8)");
    } else if (key == "AUTH") {
      std::string who = xtext_decode(raw);
      params["AUTH_decoded"] = json_safe(who, 512);
      explained.push_back(who == "<>" ? "AUTH=<> (not sent by an authenticated user)"
                                      : "submitted on behalf of " + json_safe(who, 200));
    } else if (key == "RET") {
      explained.push_back(text::upper(value) == "HDRS" ? "bounces return headers only"
                                                       : "bounces return the full message");
    } else if (key == "ENVID") {
      params["ENVID_decoded"] = json_safe(xtext_decode(raw), 512);
      explained.push_back("envelope id " + in_quotes(xtext_decode(raw)));
    } else if (key == "NOTIFY") {
      explained.push_back(text::upper(value) == "NEVER" ? "no delivery status notifications"
                                                        : "notify on " + value);
    } else if (key == "ORCPT") {
      params["ORCPT_decoded"] = json_safe(xtext_decode(raw), 512);
      explained.push_back("original recipient " + json_safe(xtext_decode(raw), 200));
    } else if (key == "REQUIRETLS") {
      explained.push_back("TLS required on every hop (REQUIRETLS)");
    } else {
      explained.push_back("parameter " + key);
    }
  }
  return params;
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

void parse_mail_or_rcpt(SmtpCommand& c, std::string_view rest, bool mail) {
  std::string_view keyword = mail ? "FROM:" : "TO:";
  if (!text::istarts_with(rest, keyword)) {
    warn(c, "smtp_syntax", std::string(mail ? "MAIL" : "RCPT") + " without \"" +
                               std::string(keyword) + "\"");
    c.args["text"] = json_safe(rest);
    c.note = mail ? "MAIL without FROM: (a syntax error)" : "RCPT without TO: (a syntax error)";
    return;
  }
  Path path = parse_path(rest.substr(keyword.size()));
  std::vector<std::string> explained;
  c.args[mail ? "from" : "to"] = json_safe(path.address, 512);
  c.args["bracketed"] = path.bracketed;
  nlohmann::json params = parse_params(path.rest, explained);
  if (!params.empty()) c.args["params"] = params;
  if (!path.ok) warn(c, "smtp_syntax", "address path is not closed with '>'");
  std::string note;
  if (mail) {
    note = path.address.empty() && path.bracketed
               ? "Null sender <> (a bounce or automatic reply)"
               : "Sender (envelope from) " + json_safe(path.address, 200) +
                     ": bounces go back to it (the receiving server records it as Return-Path)";
  } else {
    note = "Recipient " + json_safe(path.address, 200) +
           " (envelope to: the message is delivered here, whatever its To: header says)";
  }
  if (!path.bracketed) note += " (without the <> RFC 5321 asks for)";
  if (!explained.empty()) note += "; " + join(explained);
  c.note = note;
}

}  // namespace

std::string xtext_decode(std::string_view xtext) {
  auto hex = [](char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < xtext.size(); ++i) {
    if (xtext[i] == '+' && i + 2 < xtext.size() && hex(xtext[i + 1]) >= 0 &&
        hex(xtext[i + 2]) >= 0) {
      out += static_cast<char>(hex(xtext[i + 1]) * 16 + hex(xtext[i + 2]));
      i += 2;
    } else {
      out += xtext[i];
    }
  }
  return out;
}

SmtpCommand parse_smtp_command(std::string_view line) {
  SmtpCommand c;
  std::string_view s = line;
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  size_t space = s.find(' ');
  c.verb = text::upper(json_safe(s.substr(0, space), 32));
  std::string_view rest;
  if (space != std::string_view::npos) {
    rest = s.substr(space + 1);
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  }
  if ((c.verb == "MAIL:" || c.verb == "RCPT:")) {
    // "RCPT: someone@example.com" (seen in walkthroughs): the keyword is missing, say so.
    c.verb.pop_back();
    warn(c, "smtp_syntax", c.verb + " followed by ':' without " + (c.verb == "MAIL" ? "FROM" : "TO"));
  }
  const std::string& v = c.verb;
  if (v.empty()) {
    c.note = "Empty line";
    warn(c, "smtp_syntax", "empty command line");
  } else if (v == "EHLO" || v == "HELO" || v == "LHLO") {
    c.args["domain"] = json_safe(rest, 256);
    std::string who = rest.empty() ? "(no name)" : json_safe(rest, 200);
    if (rest.empty()) warn(c, "smtp_syntax", v + " without a domain or address literal");
    c.note = v == "HELO" ? "Client introduces itself as " + who + " (plain SMTP, no extensions)"
             : v == "EHLO"
                 ? "Client introduces itself as " + who + " and asks for the extended command set"
                 : "LMTP client introduces itself as " + who;
  } else if (v == "MAIL") {
    parse_mail_or_rcpt(c, rest, true);
  } else if (v == "RCPT") {
    parse_mail_or_rcpt(c, rest, false);
  } else if (v == "DATA") {
    c.note = "Client asks to send the message content";
  } else if (v == "BDAT") {
    std::vector<std::string_view> w = words(rest);
    if (!w.empty() && all_digits(w[0])) {
      c.bdat_size = std::stoull(std::string(w[0]));
      c.args["size"] = *c.bdat_size;
    } else {
      warn(c, "smtp_syntax", "BDAT without a chunk size");
    }
    c.bdat_last = w.size() >= 2 && text::iequals(w[1], "LAST");
    c.args["last"] = c.bdat_last;
    c.note = "Client sends a chunk of " + (c.bdat_size ? std::to_string(*c.bdat_size) : "?") +
             " bytes (BDAT)" + (c.bdat_last ? ", the last of the message" : "");
  } else if (v == "AUTH") {
    std::vector<std::string_view> w = words(rest);
    if (w.empty()) {
      warn(c, "smtp_syntax", "AUTH without a mechanism");
      c.note = "AUTH without a mechanism";
    } else {
      c.auth_mechanism = text::upper(json_safe(w[0], 64));
      c.args["mechanism"] = c.auth_mechanism;
      if (w.size() >= 2) {
        c.auth_initial_response = std::string(w[1]);
        c.auth_initial_response_offset = static_cast<size_t>(w[1].data() - line.data());
      }
      c.args["initial_response"] = c.auth_initial_response.has_value();
      c.note = "Client starts " + c.auth_mechanism + " authentication" +
               (c.auth_initial_response ? " with an initial response" : "");
    }
  } else if (v == "STARTTLS") {
    c.note = "Client asks to switch this connection to TLS (STARTTLS)";
    if (!rest.empty()) warn(c, "smtp_syntax", "STARTTLS takes no argument");
  } else if (v == "RSET") {
    c.note = "Client aborts the current mail transaction (RSET)";
  } else if (v == "NOOP") {
    c.note = "No operation: the client checks the connection is alive";
  } else if (v == "QUIT") {
    c.note = "Client ends the session";
  } else if (v == "VRFY") {
    c.args["string"] = json_safe(rest, 512);
    c.note = "Client asks whether " + in_quotes(rest) + " is a valid user or mailbox";
  } else if (v == "EXPN") {
    c.args["list"] = json_safe(rest, 512);
    c.note = "Client asks to expand the mailing list " + in_quotes(rest);
  } else if (v == "HELP") {
    if (!rest.empty()) c.args["topic"] = json_safe(rest, 256);
    c.note = rest.empty() ? "Client asks for help" : "Client asks for help on " + in_quotes(rest);
  } else if (v == "ETRN") {
    c.args["node"] = json_safe(rest, 256);
    c.note = "Client asks the server to start delivering mail queued for " + in_quotes(rest);
  } else {
    if (!rest.empty()) c.args["text"] = json_safe(rest, 512);
    c.note = "Command " + v + ", which mailtap does not decode";
  }
  return c;
}

}  // namespace mailtap::decode
