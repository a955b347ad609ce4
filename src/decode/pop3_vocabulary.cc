#include "mailtap/decode/pop3_vocabulary.h"

#include <algorithm>
#include <initializer_list>

#include "sasl_text.h"

namespace mailtap::decode::pop3 {
namespace {

using nlohmann::json;

std::vector<std::string_view> words_of(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size() && out.size() < 64) {
    while (i < s.size() && s[i] == ' ') ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

bool all_digits(std::string_view s) {
  return !s.empty() && s.size() <= 19 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string safe(std::string_view s, size_t max = 200) { return text::json_safe(s, max); }

std::string message_word(std::string_view n) { return "message " + safe(n, 20); }

}  // namespace

Command parse_command(std::string_view line) {
  Command c;
  size_t sp = line.find(' ');
  c.verb = text::upper(line.substr(0, sp));
  if (sp != std::string_view::npos) {
    c.arg = std::string(line.substr(sp + 1));
    c.arg_offset = sp + 1;
  } else {
    c.arg_offset = line.size();
  }
  return c;
}

bool is_known_command(std::string_view verb) {
  static constexpr std::string_view kVerbs[] = {"USER", "PASS", "APOP", "AUTH", "STAT", "LIST",
                                                "UIDL", "RETR", "TOP",  "DELE", "RSET", "NOOP",
                                                "QUIT", "CAPA", "STLS", "UTF8", "LANG"};
  return std::find(std::begin(kVerbs), std::end(kVerbs), verb) != std::end(kVerbs);
}

Listing listing_opened_by(const Command& c) {
  bool no_arg = text::trim(c.arg).empty();
  if (c.verb == "CAPA") return Listing::capabilities;
  if (c.verb == "LIST" && no_arg) return Listing::scan;
  if (c.verb == "UIDL" && no_arg) return Listing::unique_ids;
  if (c.verb == "RETR" || c.verb == "TOP") return Listing::message;
  if (c.verb == "AUTH" && no_arg) return Listing::mechanisms;
  if (c.verb == "LANG" && no_arg) return Listing::languages;
  return Listing::none;
}

std::string describe_command(const Command& c, bool reveal_secrets) {
  const std::string& v = c.verb;
  std::string arg = safe(c.arg, 120);
  auto words = words_of(c.arg);
  std::string head = safe(v, 40) + ": the client ";
  if (v == "USER") return head + "names the mailbox user \"" + arg + "\" (the password comes next)";
  if (v == "PASS") {
    return head + "sends the password" +
           (reveal_secrets ? " (shown: secrets revealed)" : " (redacted)");
  }
  if (v == "APOP") {
    return head + "logs in as \"" + (words.empty() ? "" : safe(words[0], 100)) +
           "\" with an MD5 digest of the server's timestamp and the password (the password "
           "itself is not sent)";
  }
  if (v == "AUTH") {
    if (words.empty()) return head + "asks which SASL mechanisms the server supports";
    std::string out = head + "authenticates with SASL " + safe(text::upper(words[0]), 64);
    if (words.size() > 1) out += ", sending an initial response";
    return out;
  }
  if (v == "STAT") return head + "asks how many messages the mailbox holds and their total size";
  if (v == "LIST") {
    return words.empty() ? head + "asks for the size of every message"
                         : head + "asks for the size of " + message_word(words[0]);
  }
  if (v == "UIDL") {
    return words.empty() ? head + "asks for the unique id of every message"
                         : head + "asks for the unique id of " + message_word(words[0]);
  }
  if (v == "RETR") {
    return head + "downloads " + (words.empty() ? std::string("a message") : message_word(words[0]));
  }
  if (v == "TOP") {
    if (words.size() < 2) return head + "asks for the headers of a message";
    return head + "asks for the headers and the first " + safe(words[1], 20) + " body lines of " +
           message_word(words[0]);
  }
  if (v == "DELE") {
    return head + "marks " + (words.empty() ? std::string("a message") : message_word(words[0])) +
           " for deletion (removed at QUIT)";
  }
  if (v == "RSET") return head + "unmarks every message marked for deletion";
  if (v == "NOOP") return head + "does nothing (keeps the connection alive)";
  if (v == "QUIT") return head + "ends the session; messages marked for deletion are removed";
  if (v == "CAPA") return head + "asks what the server supports";
  if (v == "STLS") return head + "asks to switch the connection to TLS";
  if (v == "UTF8") return head + "asks for UTF-8 mode (RFC 6856)";
  if (v == "LANG") return head + "asks about response languages (RFC 6856)";
  if (v.empty()) return "an empty client line";
  return head + "sends a command POP3 does not define";
}

Reply parse_reply(std::string_view line) {
  Reply r;
  std::string_view rest;
  if (text::istarts_with(line, "+OK")) {
    r.kind = Reply::Kind::ok;
    rest = line.substr(3);
  } else if (text::istarts_with(line, "-ERR")) {
    r.kind = Reply::Kind::err;
    rest = line.substr(4);
  } else if (!line.empty() && line[0] == '+' && (line.size() == 1 || line[1] == ' ')) {
    r.kind = Reply::Kind::continuation;
    r.text = std::string(line.substr(std::min<size_t>(2, line.size())));
    return r;
  } else {
    r.text = std::string(line);
    return r;
  }
  if (!rest.empty() && rest[0] == ' ') rest.remove_prefix(1);
  if (!rest.empty() && rest[0] == '[') {
    size_t close = rest.find(']');
    if (close != std::string_view::npos) {
      r.code = text::upper(rest.substr(1, close - 1));
      rest.remove_prefix(close + 1);
      if (!rest.empty() && rest[0] == ' ') rest.remove_prefix(1);
    }
  }
  r.text = std::string(rest);
  return r;
}

std::string describe_resp_code(std::string_view code) {
  if (code == "IN-USE") return "the mailbox is locked by another session";
  if (code == "LOGIN-DELAY") return "logging in again this soon is not allowed";
  if (code == "SYS/TEMP") return "a temporary server problem; try again later";
  if (code == "SYS/PERM") return "a permanent server problem; retrying will not help";
  if (code == "AUTH") return "the credentials are wrong (an authentication failure)";
  if (code == "UTF8") return "a UTF-8 problem";
  if (text::istarts_with(code, "SYS/")) return "a server problem";
  return {};
}

std::string describe_reply_detail(std::string_view verb, std::string_view arg, const Reply& r,
                                  json& d) {
  if (r.kind != Reply::Kind::ok) return {};
  auto words = words_of(r.text);
  if (verb == "STAT" && words.size() >= 2 && all_digits(words[0]) && all_digits(words[1])) {
    d["messages"] = std::stoull(std::string(words[0]));
    d["size"] = std::stoull(std::string(words[1]));
    return "; the mailbox holds " + safe(words[0], 20) + " message(s), " + safe(words[1], 20) +
           " bytes";
  }
  if (verb == "LIST" && !text::trim(arg).empty() && words.size() >= 2 && all_digits(words[1])) {
    d["message"] = safe(words[0], 20);
    d["size"] = std::stoull(std::string(words[1]));
    return "; " + message_word(words[0]) + " is " + safe(words[1], 20) + " bytes";
  }
  if (verb == "UIDL" && !text::trim(arg).empty() && words.size() >= 2) {
    d["message"] = safe(words[0], 20);
    d["uid"] = safe(words[1], 80);
    return "; " + message_word(words[0]) + " has unique id " + safe(words[1], 80);
  }
  if (verb == "RETR" || verb == "TOP") {
    // "+OK 918 octets" (RFC 1939 7 shows it for RETR): the size the server announces.
    for (size_t i = 0; i + 1 < words.size(); ++i) {
      if (all_digits(words[i]) && words[i].size() < 19 && text::iequals(words[i + 1], "octets")) {
        d["octets"] = std::stoull(std::string(words[i]));
        return "; the server announces " + safe(words[i], 20) + " bytes";
      }
    }
  }
  if (verb == "PASS" || verb == "APOP" || verb == "AUTH") {
    // "+OK mailbox has 8 messages (61895 octets)": what many servers say after logging in.
    for (size_t i = 0; i + 2 < words.size(); ++i) {
      std::string_view count = words[i], noun = words[i + 1];
      std::string_view octets = words[i + 2];
      if (!octets.empty() && octets.front() == '(') octets.remove_prefix(1);
      if (all_digits(count) && count.size() < 19 && text::istarts_with(noun, "message") &&
          all_digits(octets) && octets.size() < 19 && i + 3 < words.size() &&
          text::istarts_with(words[i + 3], "octets")) {
        d["messages"] = std::stoull(std::string(count));
        d["size"] = std::stoull(std::string(octets));
        return "; the mailbox holds " + safe(count, 20) + " message(s), " + safe(octets, 20) +
               " bytes";
      }
    }
  }
  if (verb == "USER") return "; the server waits for the password";
  if (verb == "DELE") return "; marked for deletion";
  if (verb == "RSET") return "; nothing is marked for deletion any more";
  if (verb == "QUIT") return "; the session is over";
  return {};
}

void describe_listing_line(Listing listing, std::string_view line, json& d, std::string& note) {
  auto words = words_of(line);
  switch (listing) {
    case Listing::scan:
      if (words.size() >= 2 && all_digits(words[1])) {
        d = {{"message", safe(words[0], 20)}, {"size", std::stoull(std::string(words[1]))}};
        note = message_word(words[0]) + ": " + safe(words[1], 20) + " bytes";
        return;
      }
      break;
    case Listing::unique_ids:
      if (words.size() >= 2) {
        d = {{"message", safe(words[0], 20)}, {"uid", safe(words[1], 80)}};
        note = message_word(words[0]) + ": unique id " + safe(words[1], 80);
        return;
      }
      break;
    case Listing::capabilities: {
      std::string name = words.empty() ? "" : text::upper(words[0]);
      std::string args = words.size() > 1 ? safe(line.substr(words[1].data() - line.data()), 200) : "";
      d = {{"capability", safe(name, 60)}};
      if (!args.empty()) d["args"] = args;
      std::string meaning;
      if (name == "TOP") meaning = "TOP: headers and first lines of a message";
      else if (name == "USER") meaning = "USER/PASS login";
      else if (name == "SASL") meaning = "SASL authentication with " + args;
      else if (name == "RESP-CODES") meaning = "bracketed response codes in -ERR replies";
      else if (name == "AUTH-RESP-CODE") meaning = "the [AUTH] response code";
      else if (name == "LOGIN-DELAY") meaning = "minimum seconds between logins: " + args;
      else if (name == "PIPELINING") meaning = "several commands may be sent without waiting";
      else if (name == "EXPIRE") meaning = "messages may be deleted by the server after " + args + " days";
      else if (name == "UIDL") meaning = "unique message ids (UIDL)";
      else if (name == "IMPLEMENTATION") meaning = "the server software: " + args;
      else if (name == "STLS") meaning = "STLS: TLS can be started";
      else if (name == "UTF8") meaning = "UTF-8 mode";
      else if (name == "LANG") meaning = "response languages";
      else meaning = safe(name, 60) + (args.empty() ? "" : " " + args);
      note = "capability " + meaning;
      return;
    }
    case Listing::mechanisms:
      d = {{"mechanism", safe(text::upper(line), 64)}};
      note = "SASL mechanism " + safe(text::upper(line), 64);
      return;
    case Listing::languages:
      d = {{"language", safe(line, 200)}};
      note = "response language " + safe(line, 200);
      return;
    case Listing::none:
    case Listing::message:
      break;
  }
  d = {{"line", safe(line, 300)}};
  note = "a line of the listing";
}

std::string apop_timestamp(std::string_view greeting) {
  size_t open = greeting.find('<');
  if (open == std::string_view::npos) return {};
  size_t close = greeting.find('>', open);
  if (close == std::string_view::npos) return {};
  std::string_view ts = greeting.substr(open, close - open + 1);
  if (ts.find('@') == std::string_view::npos) return {};
  return std::string(ts);
}

std::vector<std::string> sasl_mechanisms(const std::vector<std::string>& capabilities) {
  std::vector<std::string> out;
  for (const auto& c : capabilities) {
    auto words = words_of(c);
    if (words.empty() || text::upper(words[0]) != "SASL") continue;
    for (size_t i = 1; i < words.size(); ++i) out.push_back(safe(text::upper(words[i]), 64));
  }
  return out;
}

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    if (out.size() > 600) {
      out += " ...";
      break;
    }
    out += (out.empty() ? "" : ", ") + w;
  }
  return out;
}

}  // namespace mailtap::decode::pop3
