#include "mailtap/decode/imap_response.h"

#include <algorithm>
#include <utility>

#include "mailtap/decode/imap_command.h"
#include "sasl_text.h"

namespace mailtap::decode::imap {
namespace {

using nlohmann::json;

constexpr size_t kMaxListedNumbers = 1000;  // SEARCH results kept in decoded

std::string in_quotes(std::string_view s) { return "\"" + text::json_safe(s, 100) + "\""; }

std::vector<std::string> split_words(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

std::string join(const std::vector<std::string>& words, size_t max_words = 40) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i == max_words) {
      out += " ... (" + std::to_string(words.size()) + " in all)";
      break;
    }
    if (i > 0) out += ' ';
    out += text::json_safe(words[i], 80);
  }
  return out;
}

json string_list(const std::vector<std::string>& words) {
  json arr = json::array();
  for (const auto& w : words) arr.push_back(text::json_safe(w, 200));
  return arr;
}

std::string plural(uint64_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

std::string list_text(const Value& v) {
  if (v.kind != Value::Kind::list) return to_text(v);
  std::string out;
  for (const Value& item : v.items) {
    if (!out.empty()) out += ' ';
    out += to_text(item, 60);
    if (out.size() > 200) break;
  }
  return out;
}

json address_list(const Value& v) {
  if (v.kind != Value::Kind::list) return nullptr;
  json arr = json::array();
  for (const Value& addr : v.items) {
    if (addr.kind != Value::Kind::list || addr.items.size() < 4) continue;
    std::string name = addr.items[0].is_nil() ? "" : addr.items[0].str();
    std::string mailbox = addr.items[2].is_nil() ? "" : addr.items[2].str();
    std::string host = addr.items[3].is_nil() ? "" : addr.items[3].str();
    std::string email = host.empty() ? mailbox : mailbox + "@" + host;
    arr.push_back(text::json_safe(name.empty() ? email : name + " <" + email + ">", 200));
  }
  return arr;
}

// ENVELOPE (RFC 3501 7.4.2): date, subject, from, sender, reply-to, to, cc, bcc, in-reply-to,
// message-id.
json envelope_json(const Value& v) {
  if (v.kind != Value::Kind::list || v.items.size() < 10) return nullptr;
  auto str = [](const Value& x) -> json {
    return x.is_nil() ? json(nullptr) : json(text::json_safe(x.str(), 300));
  };
  return {{"date", str(v.items[0])},     {"subject", str(v.items[1])},
          {"from", address_list(v.items[2])}, {"sender", address_list(v.items[3])},
          {"reply_to", address_list(v.items[4])}, {"to", address_list(v.items[5])},
          {"cc", address_list(v.items[6])},   {"bcc", address_list(v.items[7])},
          {"in_reply_to", str(v.items[8])}, {"message_id", str(v.items[9])}};
}

bool is_message_part(std::string_view upper_name) {
  return upper_name.rfind("BODY[", 0) == 0 || upper_name.rfind("BODY.PEEK[", 0) == 0 ||
         upper_name.rfind("BINARY[", 0) == 0 || upper_name.rfind("BINARY.PEEK[", 0) == 0 ||
         upper_name == "RFC822" || upper_name == "RFC822.HEADER" || upper_name == "RFC822.TEXT";
}

void describe_fetch(Response& r, const LogicalLine& line) {
  uint64_t msg = r.number.value_or(0);
  r.decoded["message"] = msg;
  json items = json::object();
  std::vector<std::string> parts;
  if (r.values.empty() || r.values[0].kind != Value::Kind::list) {
    r.note = "* " + std::to_string(msg) + " FETCH: data for message " + std::to_string(msg) +
             " (not a list)";
    return;
  }
  const auto& list = r.values[0].items;
  for (size_t i = 0; i + 1 < list.size(); i += 2) {
    std::string name = text::upper(list[i].str());
    std::string key = text::json_safe(list[i].str(), 120);
    const Value& v = list[i + 1];
    if (name == "FLAGS") {
      items[key] = to_json(v, line);
      parts.push_back("flags (" + list_text(v) + ")");
    } else if (name == "UID" || name == "RFC822.SIZE") {
      auto n = v.number();
      items[key] = n ? json(*n) : to_json(v, line);
      parts.push_back((name == "UID" ? "UID " : "size ") + to_text(v));
    } else if (name == "MODSEQ" && v.kind == Value::Kind::list && !v.items.empty()) {
      auto n = v.items[0].number();
      items[key] = n ? json(*n) : to_json(v, line);
      parts.push_back("mod-sequence " + to_text(v.items[0]));
    } else if (name == "INTERNALDATE") {
      items[key] = text::json_safe(v.str());
      parts.push_back("received " + text::json_safe(v.str()));
    } else if (name == "ENVELOPE") {
      json env = envelope_json(v);
      items[key] = env.is_null() ? to_json(v, line) : env;
      if (env.is_object() && env["subject"].is_string()) {
        parts.push_back("envelope (Subject: " + env["subject"].get<std::string>() + ")");
      } else {
        parts.push_back("envelope");
      }
    } else if (is_message_part(name)) {
      if (v.kind == Value::Kind::literal && v.literal < line.literals.size()) {
        const Literal& lit = line.literals[v.literal];
        json summary = lit.summarizer ? lit.summarizer->summary() : json{{"size", lit.received}};
        summary["literal"] = lit.marker.size;
        if (lit.marker.kind == LiteralKind::binary) summary["binary"] = true;
        if (!lit.complete()) summary["received"] = lit.received;
        items[key] = summary;
        parts.push_back(key + " (" +
                        (lit.summarizer ? lit.summarizer->describe()
                                        : std::to_string(lit.received) + " bytes") +
                        ")");
      } else if (v.is_nil()) {
        items[key] = nullptr;
        parts.push_back(key + " (NIL)");
      } else {
        items[key] = {{"size", v.str().size()}, {"text", text::json_safe(v.str(), 200)}};
        parts.push_back(key + " (" + plural(v.str().size(), "byte", "bytes") + ")");
      }
    } else {
      items[key] = to_json(v, line);
      parts.push_back(key);
    }
  }
  r.decoded["items"] = items;
  std::string joined;
  for (const auto& p : parts) joined += (joined.empty() ? "" : ", ") + p;
  r.note = "* " + std::to_string(msg) + " FETCH: message " + std::to_string(msg) + ": " +
           (joined.empty() ? "no items" : joined);
}

void describe_list_data(Response& r, const LogicalLine& line) {
  if (r.values.size() < 3) {
    r.note = "* " + r.type + ": mailbox entry (incomplete)";
    return;
  }
  std::string name = decode_mailbox_name(r.values[2].str());
  std::string delimiter = r.values[1].is_nil() ? "" : r.values[1].str();
  r.decoded["flags"] = to_json(r.values[0], line);
  r.decoded["delimiter"] = r.values[1].is_nil() ? json(nullptr) : json(text::json_safe(delimiter));
  r.decoded["mailbox"] = text::json_safe(name, 300);
  if (r.values.size() >= 4) r.decoded["extended"] = to_json(r.values[3], line);
  std::string flags = list_text(r.values[0]);
  r.note = "* " + r.type + ": mailbox " + in_quotes(name);
  std::string detail;
  if (!flags.empty()) detail = flags;
  if (!delimiter.empty()) {
    detail += std::string(detail.empty() ? "" : "; ") + "hierarchy delimiter " + in_quotes(delimiter);
  }
  if (!detail.empty()) r.note += " (" + detail + ")";
  if (r.values[0].kind == Value::Kind::list) {
    for (const Value& f : r.values[0].items) {
      std::string u = text::upper(f.str());
      if (u == "\\NOSELECT" || u == "\\NONEXISTENT") r.note += ", cannot be opened";
      const char* use = u == "\\SENT"      ? "sent messages"
                        : u == "\\TRASH"   ? "deleted messages"
                        : u == "\\DRAFTS"  ? "drafts"
                        : u == "\\JUNK"    ? "junk mail"
                        : u == "\\ARCHIVE" ? "archived messages"
                        : u == "\\ALL"     ? "all messages"
                        : u == "\\FLAGGED" ? "flagged messages"
                                           : nullptr;
      if (use != nullptr) r.note += std::string(", used for ") + use;
    }
  }
}

void describe_status_data(Response& r, const LogicalLine& line) {
  if (r.values.size() < 2 || r.values[1].kind != Value::Kind::list) {
    r.note = "* STATUS: mailbox status (incomplete)";
    return;
  }
  std::string name = decode_mailbox_name(r.values[0].str());
  r.decoded["mailbox"] = text::json_safe(name, 300);
  json items = json::object();
  std::vector<std::string> parts;
  const auto& list = r.values[1].items;
  for (size_t i = 0; i + 1 < list.size(); i += 2) {
    std::string key = text::upper(list[i].str());
    auto n = list[i + 1].number();
    items[text::json_safe(key, 60)] = n ? json(*n) : to_json(list[i + 1], line);
    std::string v = to_text(list[i + 1]);
    if (key == "MESSAGES") parts.push_back(v + " messages");
    else if (key == "RECENT") parts.push_back(v + " recent");
    else if (key == "UNSEEN") parts.push_back(v + " unseen");
    else if (key == "UIDNEXT") parts.push_back("next UID " + v);
    else if (key == "UIDVALIDITY") parts.push_back("UID validity " + v);
    else if (key == "HIGHESTMODSEQ") parts.push_back("highest mod-sequence " + v);
    else if (key == "SIZE") parts.push_back(v + " bytes");
    else if (key == "DELETED") parts.push_back(v + " marked deleted");
    else parts.push_back(text::json_safe(key, 60) + " " + v);
  }
  r.decoded["items"] = items;
  std::string joined;
  for (const auto& p : parts) joined += (joined.empty() ? "" : ", ") + p;
  r.note = "* STATUS: " + in_quotes(name) + " has " + (joined.empty() ? "no items" : joined);
}

void describe_search(Response& r) {
  json numbers = json::array();
  std::string shown;
  uint64_t count = 0;
  for (const Value& v : r.values) {
    if (v.kind == Value::Kind::list) {  // (MODSEQ n), RFC 7162
      if (v.items.size() >= 2) r.decoded["modseq"] = text::json_safe(v.items[1].str());
      continue;
    }
    ++count;
    if (numbers.size() < kMaxListedNumbers) {
      auto n = v.number();
      numbers.push_back(n ? json(*n) : json(text::json_safe(v.str(), 40)));
    }
    if (shown.size() < 120) shown += " " + text::json_safe(v.str(), 40);
  }
  r.decoded["numbers"] = numbers;
  r.decoded["count"] = count;
  if (count > numbers.size()) r.decoded["numbers_truncated"] = true;
  if (count == 0) {
    r.note = "* " + r.type + ": no message matches";
  } else {
    r.note = "* " + r.type + ": " + plural(count, "message matches", "messages match") + ":" + shown +
             (shown.size() >= 120 ? " ..." : "");
  }
}

// ESEARCH (RFC 4731): (TAG "a1") [UID] MIN n MAX n COUNT n ALL set
void describe_esearch(Response& r) {
  size_t i = 0;
  if (i < r.values.size() && r.values[i].kind == Value::Kind::list &&
      r.values[i].items.size() >= 2 && r.values[i].items[0].is_atom("TAG")) {
    r.decoded["search_tag"] = text::json_safe(r.values[i].items[1].str(), 100);
    ++i;
  }
  if (i < r.values.size() && r.values[i].is_atom("UID")) {
    r.decoded["uid"] = true;
    ++i;
  }
  json results = json::object();
  std::vector<std::string> parts;
  for (; i + 1 < r.values.size(); i += 2) {
    std::string key = text::upper(r.values[i].str());
    auto n = r.values[i + 1].number();
    results[text::json_safe(key, 60)] =
        n ? json(*n) : json(text::json_safe(to_text(r.values[i + 1], 300), 300));
    std::string v = to_text(r.values[i + 1], 100);
    if (key == "COUNT") parts.push_back(v + " match");
    else if (key == "MIN") parts.push_back("lowest " + v);
    else if (key == "MAX") parts.push_back("highest " + v);
    else if (key == "ALL") parts.push_back("all: " + v);
    else parts.push_back(text::json_safe(key, 60) + " " + v);
  }
  r.decoded["results"] = results;
  std::string joined;
  for (const auto& p : parts) joined += (joined.empty() ? "" : ", ") + p;
  r.note = "* ESEARCH: " + (joined.empty() ? std::string("no message matches") : joined);
}

void describe_namespace(Response& r) {
  static const char* kNames[] = {"personal", "other_users", "shared"};
  std::vector<std::string> parts;
  for (size_t i = 0; i < 3 && i < r.values.size(); ++i) {
    json entries = json::array();
    if (r.values[i].kind == Value::Kind::list) {
      for (const Value& ns : r.values[i].items) {
        if (ns.kind != Value::Kind::list || ns.items.size() < 2) continue;
        std::string prefix = ns.items[0].str();
        entries.push_back({{"prefix", text::json_safe(prefix, 200)},
                           {"delimiter", ns.items[1].is_nil()
                                             ? json(nullptr)
                                             : json(text::json_safe(ns.items[1].str(), 8))}});
        parts.push_back(std::string(kNames[i]) + " " + in_quotes(prefix));
      }
    }
    r.decoded[kNames[i]] = r.values[i].is_nil() ? json(nullptr) : entries;
  }
  std::string joined;
  for (const auto& p : parts) joined += (joined.empty() ? "" : ", ") + p;
  r.note = "* NAMESPACE: " + (joined.empty() ? std::string("no namespaces") : joined);
}

void describe_id_data(Response& r) {
  if (r.values.empty() || r.values[0].kind != Value::Kind::list) {
    r.decoded["parameters"] = nullptr;
    r.note = "* ID: the server does not identify itself";
    return;
  }
  json params = json::object();
  std::string shown;
  const auto& items = r.values[0].items;
  for (size_t i = 0; i + 1 < items.size(); i += 2) {
    std::string key = text::json_safe(items[i].str(), 64);
    params[key] = items[i + 1].is_nil() ? json(nullptr)
                                        : json(text::json_safe(items[i + 1].str(), 200));
    if (shown.size() < 200) {
      shown += (shown.empty() ? "" : ", ") + key + "=" + text::json_safe(items[i + 1].str(), 80);
    }
  }
  r.decoded["parameters"] = params;
  r.note = "* ID: the server identifies itself: " + shown;
}

std::string describe_capabilities(Response& r) {
  std::vector<std::string> auth;
  for (const auto& c : r.capabilities) {
    if (text::istarts_with(c, "AUTH=")) auth.push_back(text::upper(c.substr(5)));
  }
  r.decoded["capabilities"] = string_list(r.capabilities);
  if (!auth.empty()) r.decoded["auth_mechanisms"] = string_list(auth);
  return "the server supports " + join(r.capabilities);
}

void describe_status_response(Response& r) {
  const std::string tag = r.kind == Response::Kind::tagged ? text::json_safe(r.tag, 40) : "*";
  std::string_view meaning;
  if (r.status == "OK") {
    meaning = r.kind == Response::Kind::tagged ? "the command succeeded" : "information";
  } else if (r.status == "NO") {
    meaning = r.kind == Response::Kind::tagged ? "the command failed" : "a warning";
  } else if (r.status == "BAD") {
    meaning = r.kind == Response::Kind::tagged ? "the server rejected the command as invalid"
                                               : "the server reports a protocol error";
  } else if (r.status == "PREAUTH") {
    meaning = "the connection is already authenticated";
  } else if (r.status == "BYE") {
    meaning = "the server is closing the connection";
  }
  if (!r.code.empty()) {
    if (r.code == "CAPABILITY") {
      r.code_note = describe_capabilities(r);
    } else {
      r.code_note = describe_response_code(r.code, r.code_args);
      if (r.code_note.empty()) {
        r.code_note = "[" + text::json_safe(r.code, 60) +
                      (r.code_args.empty() ? "" : " " + text::json_safe(r.code_args, 100)) + "]";
      }
    }
  }
  const std::string text = r.text.empty() ? std::string() : text::json_safe(r.text, 200);
  const std::string_view paren = text.empty() ? "" : " (";
  const std::string_view close = text.empty() ? "" : ")";
  if (r.code_note.empty() || r.status != "OK" || r.kind == Response::Kind::tagged) {
    r.note = text::concat(tag, " ", r.status, ": ", meaning, r.code_note.empty() ? "" : "; ",
                          r.code_note, paren, text, close);
  } else {
    r.note = text::concat(tag, " ", r.status, ": ", r.code_note, paren, text, close);
  }
}

}  // namespace

std::string describe_response_code(std::string_view code, std::string_view args) {
  std::string a = text::json_safe(args, 200);
  if (code == "ALERT") return "an alert the client must show to the user";
  if (code == "PARSE") return "the server could not parse a message's headers";
  if (code == "READ-ONLY") return "the mailbox is open read-only";
  if (code == "READ-WRITE") return "the mailbox is open for reading and writing";
  if (code == "TRYCREATE") return "the target mailbox does not exist; create it first";
  if (code == "UIDVALIDITY") return "UID validity " + a + " (UIDs stay valid while it is unchanged)";
  if (code == "UIDNEXT") return "the next message will get UID " + a;
  if (code == "UNSEEN") return "message " + a + " is the first unseen one";
  if (code == "PERMANENTFLAGS") {
    return args == "()" ? "no flag changes can be saved permanently"
                        : "flags that can be saved permanently: " + a;
  }
  if (code == "HIGHESTMODSEQ") return "highest mod-sequence " + a + " (CONDSTORE)";
  if (code == "NOMODSEQ") return "the mailbox does not keep mod-sequences";
  if (code == "CLOSED") return "the previously selected mailbox is now closed";
  if (code == "BADCHARSET") return "the search charset is not supported" + (a.empty() ? "" : ": " + a);
  if (code == "APPENDUID" || code == "COPYUID") {
    // RFC 4315: APPENDUID <uidvalidity> <uids>, COPYUID <uidvalidity> <source uids> <new uids>.
    auto w = split_words(args);
    if (code == "APPENDUID" && w.size() == 2) {
      return "the message got UID " + text::json_safe(w[1], 60) + " (UID validity " +
             text::json_safe(w[0], 20) + ")";
    }
    if (code == "COPYUID" && w.size() == 3) {
      return "UIDs " + text::json_safe(w[1], 60) + " became " + text::json_safe(w[2], 60) +
             " in the target (UID validity " + text::json_safe(w[0], 20) + ")";
    }
    return "[" + std::string(code) + " " + a + "]";
  }
  if (code == "UIDNOTSTICKY") return "UIDs in this mailbox may change between sessions";
  if (code == "AUTHENTICATIONFAILED") return "wrong user name or password";
  if (code == "AUTHORIZATIONFAILED") return "authenticated, but not allowed to act as that user";
  if (code == "EXPIRED") return "the password or account has expired";
  if (code == "PRIVACYREQUIRED") return "the operation needs an encrypted (TLS) connection";
  if (code == "CONTACTADMIN") return "the user should contact the administrator";
  if (code == "NOPERM") return "no permission for this operation";
  if (code == "INUSE") return "the resource is in use by another session";
  if (code == "EXPUNGEISSUED") return "some messages were expunged by another session";
  if (code == "CORRUPTION") return "the server found corrupted data";
  if (code == "SERVERBUG") return "a server bug";
  if (code == "CLIENTBUG") return "the server thinks the client has a bug";
  if (code == "CANNOT") return "the operation can never succeed";
  if (code == "LIMIT") return "a server limit was hit";
  if (code == "OVERQUOTA") return "over quota";
  if (code == "ALREADYEXISTS") return "the mailbox already exists";
  if (code == "NONEXISTENT") return "the mailbox does not exist";
  if (code == "UNAVAILABLE") return "temporarily unavailable; try again later";
  if (code == "REFERRAL") return "go to another server: " + a;
  if (code == "COMPRESSIONACTIVE") return "compression is already active";
  if (code == "NOTSAVED") return "the search result was not saved";
  if (code == "HASCHILDREN") return "the mailbox has children";
  if (code == "MODIFIED") return "messages changed since the given mod-sequence: " + a;
  if (code == "UNKNOWN-CTE") return "the server cannot decode the content transfer encoding";
  if (code == "CAPABILITY") return "the server supports " + a;
  return {};
}

std::optional<Response> parse_response(const LogicalLine& line) {
  if (line.segments.empty()) return std::nullopt;
  Response r;
  const std::string& first = line.segments[0];
  if (!first.empty() && first[0] == '+') {
    r.kind = Response::Kind::continuation;
    r.type = "+";
    r.text = first.substr(std::min<size_t>(first.size(), first.size() > 1 && first[1] == ' ' ? 2 : 1));
    r.decoded = {{"kind", "continuation"}, {"text", text::json_safe(r.text, 400)}};
    return r;
  }
  Reader reader(line);
  auto tag = reader.read_word();
  if (!tag || !reader.skip_spaces()) return std::nullopt;
  r.kind = *tag == "*" ? Response::Kind::untagged : Response::Kind::tagged;
  if (r.kind == Response::Kind::tagged) r.tag = *tag;
  auto word = reader.read_word();
  if (!word) return std::nullopt;
  if (r.kind == Response::Kind::untagged && !word->empty() &&
      std::all_of(word->begin(), word->end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (word->size() <= 19) r.number = std::stoull(*word);
    reader.skip_spaces();
    word = reader.read_word();
    if (!word) return std::nullopt;
  }
  r.type = text::upper(*word);
  bool is_status = r.type == "OK" || r.type == "NO" || r.type == "BAD" || r.type == "PREAUTH" ||
                   r.type == "BYE";
  if (r.kind == Response::Kind::tagged && !is_status) {
    r.syntax_error = "a tagged response must be OK, NO or BAD";
  }
  if (is_status && !r.number) {
    r.status = r.type;
    reader.skip_spaces();
    if (auto code = reader.read_bracketed()) {
      size_t sp = code->find(' ');
      r.code = text::upper(code->substr(0, sp));
      if (sp != std::string::npos) r.code_args = code->substr(sp + 1);
      if (r.code == "CAPABILITY") r.capabilities = split_words(r.code_args);
      reader.skip_spaces();
    }
    r.text = reader.read_rest_of_segment();
  } else if (r.type == "CAPABILITY") {
    r.capabilities = split_words(reader.read_rest_of_segment());
  } else {
    for (;;) {
      reader.skip_spaces();
      if (reader.at_end()) break;
      auto v = reader.read_value();
      if (!v) break;
      r.values.push_back(std::move(*v));
    }
  }
  if (r.syntax_error.empty()) r.syntax_error = reader.error();
  return r;
}

void describe_response(Response& r, const LogicalLine& line) {
  if (r.kind == Response::Kind::continuation) {
    r.note = "+: the server invites the client to go on" +
             (r.text.empty() ? std::string() : " (" + text::json_safe(r.text, 200) + ")");
    return;
  }
  r.decoded = json::object();
  r.decoded["kind"] = r.kind == Response::Kind::tagged ? "tagged" : "untagged";
  if (r.kind == Response::Kind::tagged) r.decoded["tag"] = text::json_safe(r.tag, 100);
  if (r.number) r.decoded["number"] = *r.number;
  if (!r.status.empty()) {
    r.decoded["status"] = r.status;
    if (!r.code.empty()) {
      r.decoded["code"] = text::json_safe(r.code, 60);
      if (!r.code_args.empty()) r.decoded["code_args"] = text::json_safe(r.code_args, 1000);
    }
    r.decoded["text"] = text::json_safe(r.text, 1000);
    describe_status_response(r);
  } else {
    r.decoded["type"] = text::json_safe(r.type, 60);
    const std::string& t = r.type;
    std::string n = r.number ? std::to_string(*r.number) : "?";
    if (t == "CAPABILITY") {
      r.note = "* CAPABILITY: " + describe_capabilities(r);
    } else if (t == "LIST" || t == "LSUB" || t == "XLIST") {
      describe_list_data(r, line);
    } else if (t == "STATUS") {
      describe_status_data(r, line);
    } else if (t == "SEARCH" || t == "SORT") {
      describe_search(r);
    } else if (t == "ESEARCH") {
      describe_esearch(r);
    } else if (t == "FLAGS") {
      r.decoded["flags"] = r.values.empty() ? json::array() : to_json(r.values[0], line);
      r.note = "* FLAGS: flags used in this mailbox: " +
               (r.values.empty() ? std::string() : list_text(r.values[0]));
    } else if (t == "EXISTS") {
      r.note = "* " + n + " EXISTS: the mailbox holds " + plural(r.number.value_or(0), "message", "messages");
    } else if (t == "RECENT") {
      r.note = "* " + n + " RECENT: " + plural(r.number.value_or(0), "message is", "messages are") +
               " new since the last session";
    } else if (t == "EXPUNGE") {
      r.note = "* " + n + " EXPUNGE: message " + n + " was removed (later messages move down by one)";
    } else if (t == "FETCH") {
      describe_fetch(r, line);
    } else if (t == "VANISHED") {
      std::string set = r.values.empty() ? "" : to_text(r.values.back(), 120);
      bool earlier = !r.values.empty() && r.values[0].kind == Value::Kind::list;
      r.note = "* VANISHED: UIDs " + set + (earlier ? " were removed before this session resynchronized"
                                                    : " were removed");
    } else if (t == "ENABLED") {
      json exts = json::array();
      std::string list;
      for (const Value& v : r.values) {
        exts.push_back(text::json_safe(v.str(), 64));
        list += (list.empty() ? "" : " ") + text::json_safe(v.str(), 64);
      }
      r.decoded["extensions"] = exts;
      r.note = "* ENABLED: the server turned on " + (list.empty() ? "nothing" : list);
    } else if (t == "NAMESPACE") {
      describe_namespace(r);
    } else if (t == "ID") {
      describe_id_data(r);
    } else if (t == "QUOTA" || t == "QUOTAROOT" || t == "ACL" || t == "MYRIGHTS" ||
               t == "LISTRIGHTS" || t == "METADATA" || t == "THREAD") {
      json vals = json::array();
      for (const Value& v : r.values) vals.push_back(to_json(v, line));
      r.decoded["values"] = vals;
      std::string shown;
      for (const Value& v : r.values) shown += " " + to_text(v, 100);
      r.note = "* " + t + ":" + text::json_safe(shown, 240);
    } else {
      json vals = json::array();
      for (const Value& v : r.values) vals.push_back(to_json(v, line));
      r.decoded["values"] = vals;
      r.note = "* " + (r.number ? n + " " : "") + text::json_safe(t, 60) +
               ": untagged data mailtap does not know";
    }
  }
  if (!r.syntax_error.empty()) r.decoded["syntax_error"] = text::json_safe(r.syntax_error, 200);
}

std::string fetch_item_before_literal(std::string_view line) {
  auto marker = literal_marker(line);
  if (!marker) return {};
  std::string_view before = line.substr(0, marker->offset);
  while (!before.empty() && before.back() == ' ') before.remove_suffix(1);
  // The item name is the last atom; a section may hold spaces, so walk back over brackets.
  size_t i = before.size();
  int brackets = 0;
  while (i > 0) {
    char c = before[i - 1];
    if (c == ']') ++brackets;
    if (c == '[') --brackets;
    if (brackets == 0 && (c == ' ' || c == '(')) break;
    --i;
  }
  std::string name(before.substr(i));
  std::string upper = text::upper(name);
  size_t angle = upper.rfind('<');
  std::string bare = angle != std::string::npos && upper.back() == '>' ? upper.substr(0, angle) : upper;
  return is_message_part(bare) ? text::json_safe(name, 120) : std::string();
}

}  // namespace mailtap::decode::imap
