#include "mailtap/decode/imap_command.h"

#include <algorithm>

#include "mailtap/decode/redaction.h"
#include "sasl_text.h"

namespace mailtap::decode::imap {
namespace {

using nlohmann::json;

std::string in_quotes(std::string_view s) { return "\"" + text::json_safe(s, 100) + "\""; }

std::string mailbox_of(const Value& v) { return text::json_safe(decode_mailbox_name(v.str()), 200); }

// Arguments as JSON, with the secrets replaced as the transcript shows them.
json args_json(const Command& cmd, const LogicalLine& line, const DecodeOptions& options) {
  json arr = json::array();
  for (const Value& v : cmd.args) {
    bool secret = std::any_of(cmd.secrets.begin(), cmd.secrets.end(), [&](const Secret& s) {
      return s.is_literal ? v.kind == Value::Kind::literal && v.literal == s.literal
                          : v.kind != Value::Kind::literal && s.span.segment == v.span.segment &&
                                s.span.begin == v.span.begin;
    });
    arr.push_back(secret ? json(show_secret(v.str(), options)) : to_json(v, line));
  }
  return arr;
}

Secret secret_of(const Value& v) {
  Secret s;
  s.is_literal = v.kind == Value::Kind::literal;
  s.literal = v.literal;
  s.span = v.span;
  s.value = v.str();
  return s;
}

// FETCH items: a macro (ALL, FAST, FULL), one item, or a list.
std::string items_text(const Value& v) {
  if (v.kind == Value::Kind::list) {
    std::string out;
    for (const Value& item : v.items) {
      if (!out.empty()) out += ' ';
      out += to_text(item, 60);
      if (out.size() > 160) {
        out += " ...";
        break;
      }
    }
    return out;
  }
  std::string name = text::upper(v.str());
  if (name == "ALL") return "ALL (flags, internal date, size, envelope)";
  if (name == "FAST") return "FAST (flags, internal date, size)";
  if (name == "FULL") return "FULL (flags, internal date, size, envelope, body structure)";
  return to_text(v, 160);
}

std::string flags_text(const std::vector<Value>& args, size_t from) {
  std::string out;
  auto add = [&](const Value& v) { out += (out.empty() ? "" : " ") + to_text(v, 60); };
  for (size_t i = from; i < args.size() && out.size() < 200; ++i) {
    if (args[i].kind == Value::Kind::list) {
      for (const Value& flag : args[i].items) add(flag);
    } else {
      add(args[i]);
    }
  }
  return out.empty() ? "no flags" : out;
}

void describe_store(Command& cmd, const std::string& who, bool uid) {
  if (cmd.args.size() < 3) {
    cmd.note = who + "changes flags (arguments incomplete)";
    return;
  }
  std::string action = text::upper(cmd.args[1].str());
  size_t flags_at = 2;
  if (cmd.args[1].kind == Value::Kind::list && cmd.args.size() >= 4) {  // (UNCHANGEDSINCE n)
    cmd.decoded["modifiers"] = to_text(cmd.args[1]);
    action = text::upper(cmd.args[2].str());
    flags_at = 3;
  }
  bool silent = action.find(".SILENT") != std::string::npos;
  std::string flags = flags_text(cmd.args, flags_at);
  std::string set = describe_sequence_set(cmd.args[0].str(), uid);
  cmd.decoded["sequence_set"] = text::json_safe(cmd.args[0].str());
  cmd.decoded["action"] = text::json_safe(action);
  cmd.decoded["flags"] = text::json_safe(flags);
  if (action.rfind("+FLAGS", 0) == 0) {
    cmd.note = who + "adds " + flags + " to " + set;
  } else if (action.rfind("-FLAGS", 0) == 0) {
    cmd.note = who + "removes " + flags + " from " + set;
  } else {
    cmd.note = who + "sets the flags of " + set + " to " + flags;
  }
  if (silent) cmd.note += " (silently: no FETCH replies)";
}

void describe_list(Command& cmd, const std::string& who, const LogicalLine& line) {
  size_t i = 0;
  std::string selection;
  if (!cmd.args.empty() && cmd.args[0].kind == Value::Kind::list) {  // LIST-EXTENDED (RFC 5258)
    selection = to_text(cmd.args[0]);
    cmd.decoded["selection_options"] = to_json(cmd.args[0], line);
    i = 1;
  }
  if (cmd.args.size() < i + 2) {
    cmd.note = who + "lists mailboxes (arguments incomplete)";
    return;
  }
  std::string reference = mailbox_of(cmd.args[i]);
  std::string pattern = cmd.args[i + 1].kind == Value::Kind::list ? to_text(cmd.args[i + 1])
                                                                   : mailbox_of(cmd.args[i + 1]);
  cmd.decoded["reference"] = reference;
  cmd.decoded["pattern"] = pattern;
  bool lsub = cmd.name == "LSUB";
  if (pattern.empty()) {
    cmd.note = who + "asks for the hierarchy delimiter" +
               (reference.empty() ? std::string() : " under " + in_quotes(reference));
  } else {
    cmd.note = who + (lsub ? "lists subscribed mailboxes matching " : "lists mailboxes matching ") +
               in_quotes(pattern) + (reference.empty() ? std::string() : " under " + in_quotes(reference));
  }
  if (!selection.empty()) cmd.note += ", selecting " + selection;
  if (cmd.args.size() > i + 3 && cmd.args[i + 2].is_atom("RETURN")) {
    cmd.decoded["return"] = to_json(cmd.args[i + 3], line);
    cmd.note += ", returning " + to_text(cmd.args[i + 3]);
  }
}

void describe_append(Command& cmd, const std::string& who, const LogicalLine& line) {
  if (cmd.args.empty()) {
    cmd.note = who + "uploads a message (arguments incomplete)";
    return;
  }
  std::string mailbox = mailbox_of(cmd.args[0]);
  cmd.decoded["mailbox"] = mailbox;
  json messages = json::array();
  std::string described;
  for (size_t i = 1; i < cmd.args.size(); ++i) {
    const Value& v = cmd.args[i];
    if (v.kind == Value::Kind::list && messages.empty() && !cmd.decoded.contains("flags")) {
      cmd.decoded["flags"] = to_json(v, line);
    } else if (v.kind == Value::Kind::quoted && !cmd.decoded.contains("date")) {
      cmd.decoded["date"] = text::json_safe(v.str());
    } else if (v.kind == Value::Kind::literal && v.literal < line.literals.size()) {
      const Literal& lit = line.literals[v.literal];
      json m = lit.summarizer ? lit.summarizer->summary() : json{{"size", lit.received}};
      m["literal"] = lit.marker.size;
      if (!lit.complete()) m["received"] = lit.received;
      messages.push_back(m);
      // Until its bytes have arrived there is nothing to say about the message.
      if (described.empty() && lit.summarizer && lit.complete()) {
        described = lit.summarizer->describe();
      }
    }
  }
  if (!messages.empty()) cmd.decoded["message"] = messages[0];
  if (messages.size() > 1) cmd.decoded["messages"] = messages;
  cmd.note = who + "uploads " +
             (messages.size() > 1 ? std::to_string(messages.size()) + " messages" : "a message") +
             " to " + in_quotes(mailbox);
  if (!described.empty()) cmd.note += " (" + described + ")";
}

void describe_id(Command& cmd, const std::string& who) {
  if (cmd.args.empty() || cmd.args[0].is_nil()) {
    cmd.note = who + "asks the server to identify itself, without identifying the client";
    cmd.decoded["parameters"] = nullptr;
    return;
  }
  json params = json::object();
  std::string text_out;
  const auto& items = cmd.args[0].items;
  for (size_t i = 0; i + 1 < items.size(); i += 2) {
    std::string key = text::json_safe(items[i].str(), 64);
    std::string value = items[i + 1].is_nil() ? "" : text::json_safe(items[i + 1].str(), 200);
    params[key] = items[i + 1].is_nil() ? json(nullptr) : json(value);
    if (text_out.size() < 200) text_out += (text_out.empty() ? "" : ", ") + key + "=" + value;
  }
  cmd.decoded["parameters"] = params;
  cmd.note = who + "identifies itself (" + text_out + ") and asks the server to do the same";
}

}  // namespace

std::string describe_sequence_set(std::string_view set, bool uid) {
  std::string what = uid ? "UID" : "message";
  std::string safe = text::json_safe(set, 80);
  if (set == "$") return uid ? "the UIDs of the last search result" : "the last search result";
  if (set == "1:*") return uid ? "all UIDs" : "all messages";
  bool single = !set.empty() && std::all_of(set.begin(), set.end(), [](char c) {
    return (c >= '0' && c <= '9') || c == '*';
  });
  if (single) return (set == "*" ? "the last " + what : what + " " + safe);
  return what + "s " + safe;
}

std::optional<Command> parse_command(const LogicalLine& line) {
  if (line.segments.empty()) return std::nullopt;
  Reader reader(line);
  auto tag = reader.read_word();
  if (!tag || !reader.skip_spaces()) return std::nullopt;
  auto name = reader.read_word();
  if (!name) return std::nullopt;
  Command cmd;
  cmd.tag = std::move(*tag);
  cmd.name = text::upper(*name);
  if (cmd.name == "UID" && reader.skip_spaces()) {
    if (auto sub = reader.read_word()) cmd.name += " " + text::upper(*sub);
  }
  for (;;) {
    reader.skip_spaces();
    if (reader.at_end()) break;
    auto v = reader.read_value();
    if (!v) break;
    cmd.args.push_back(std::move(*v));
  }
  cmd.syntax_error = reader.error();
  return cmd;
}

LiteralRole client_literal_role(const Command& cmd, size_t literal_index) {
  for (size_t i = 0; i < cmd.args.size(); ++i) {
    const Value& v = cmd.args[i];
    if (v.kind != Value::Kind::literal || v.literal != literal_index) continue;
    if (cmd.name == "LOGIN" && i == 1) return LiteralRole::secret;
    if (cmd.name == "APPEND" && i >= 1) return LiteralRole::message;
    return LiteralRole::value;
  }
  return LiteralRole::value;
}

void describe_command(Command& cmd, const LogicalLine& line, const DecodeOptions& options) {
  const std::string_view n = cmd.name;  // compared with many names: length first
  const auto& a = cmd.args;
  const std::string who =
      text::concat(text::json_safe(cmd.tag, 40), " ", text::json_safe(n, 40), ": the client ");
  bool uid = n.rfind("UID ", 0) == 0;
  const std::string_view base = uid ? std::string_view(n).substr(4) : std::string_view(n);

  if (n == "LOGIN" && a.size() >= 2) cmd.secrets.push_back(secret_of(a[1]));

  cmd.decoded = json::object();
  cmd.decoded["tag"] = text::json_safe(cmd.tag, 100);
  cmd.decoded["command"] = text::json_safe(n, 100);
  cmd.decoded["args"] = args_json(cmd, line, options);
  if (!cmd.syntax_error.empty()) cmd.decoded["syntax_error"] = cmd.syntax_error;

  auto first_mailbox = [&](std::string_view verb) {
    if (a.empty()) {
      cmd.note = who + std::string(verb) + " a mailbox (name missing)";
      return;
    }
    cmd.decoded["mailbox"] = mailbox_of(a[0]);
    cmd.note = who + std::string(verb) + " " + in_quotes(mailbox_of(a[0]));
  };

  if (n == "CAPABILITY") {
    cmd.note = who + "asks what the server supports";
  } else if (n == "NOOP") {
    cmd.note = who + "does nothing, letting the server report changes (new mail, flags)";
  } else if (n == "LOGOUT") {
    cmd.note = who + "ends the session";
  } else if (n == "STARTTLS") {
    cmd.note = who + "asks to switch the connection to TLS";
  } else if (n == "LOGIN") {
    if (a.size() >= 1) cmd.decoded["user"] = text::json_safe(a[0].str(), 200);
    if (a.size() >= 2) {
      cmd.decoded["password"] = show_secret(a[1].str(), options);
      cmd.note = who + "logs in as " + in_quotes(a[0].str()) +
                 (options.reveal_secrets ? " (password shown: secrets revealed)"
                                         : " (password redacted)");
    } else {
      cmd.note = who + "logs in" + (a.empty() ? "" : " as " + in_quotes(a[0].str()));
    }
  } else if (n == "AUTHENTICATE") {
    std::string mech = a.empty() ? "" : text::upper(a[0].str());
    cmd.decoded["mechanism"] = text::json_safe(mech, 64);
    cmd.note = who + "authenticates with SASL " + text::json_safe(mech, 64);
    if (a.size() >= 2) cmd.note += ", sending an initial response (SASL-IR)";
  } else if (n == "ENABLE") {
    json exts = json::array();
    std::string list;
    for (const Value& v : a) {
      exts.push_back(text::json_safe(v.str(), 64));
      list += (list.empty() ? "" : " ") + text::json_safe(v.str(), 64);
    }
    cmd.decoded["extensions"] = exts;
    cmd.note = who + "enables " + (list.empty() ? "nothing" : list);
  } else if (n == "SELECT" || n == "EXAMINE") {
    first_mailbox(n == "SELECT" ? "opens" : "opens read-only");
    if (n == "SELECT" && !a.empty()) cmd.note += " for reading and writing";
    if (a.size() >= 2) {
      cmd.decoded["parameters"] = to_json(a[1], line);
      cmd.note += " with " + to_text(a[1]);
    }
  } else if (n == "CREATE") {
    first_mailbox("creates mailbox");
  } else if (n == "DELETE") {
    first_mailbox("deletes mailbox");
  } else if (n == "SUBSCRIBE") {
    first_mailbox("subscribes to");
  } else if (n == "UNSUBSCRIBE") {
    first_mailbox("unsubscribes from");
  } else if (n == "RENAME") {
    if (a.size() >= 2) {
      cmd.decoded["mailbox"] = mailbox_of(a[0]);
      cmd.decoded["new_name"] = mailbox_of(a[1]);
      cmd.note = who + "renames " + in_quotes(mailbox_of(a[0])) + " to " + in_quotes(mailbox_of(a[1]));
    } else {
      cmd.note = who + "renames a mailbox (arguments incomplete)";
    }
  } else if (n == "LIST" || n == "LSUB" || n == "XLIST") {
    describe_list(cmd, who, line);
  } else if (n == "NAMESPACE") {
    cmd.note = who + "asks for the namespaces (personal, other users', shared mailboxes)";
  } else if (n == "STATUS") {
    first_mailbox("asks for the status of");
    if (a.size() >= 2) {
      cmd.decoded["items"] = to_json(a[1], line);
      cmd.note += ": " + to_text(a[1]);
    }
  } else if (n == "APPEND") {
    describe_append(cmd, who, line);
  } else if (n == "IDLE") {
    cmd.note = who + "waits for the server to push changes (IDLE) until it sends DONE";
  } else if (n == "CHECK") {
    cmd.note = who + "asks for a checkpoint of the selected mailbox";
  } else if (n == "CLOSE") {
    cmd.note = who + "closes the mailbox, removing the messages marked \\Deleted";
  } else if (n == "UNSELECT") {
    cmd.note = who + "closes the mailbox without removing anything";
  } else if (base == "EXPUNGE") {
    cmd.note = who + "permanently removes the messages marked \\Deleted";
    if (uid && !a.empty()) {
      cmd.decoded["sequence_set"] = text::json_safe(a[0].str());
      cmd.note += " among " + describe_sequence_set(a[0].str(), true);
    }
  } else if (base == "SEARCH" || base == "SORT" || base == "THREAD") {
    std::string criteria;
    for (const Value& v : a) {
      if (!criteria.empty()) criteria += ' ';
      criteria += to_text(v, 80);
      if (criteria.size() > 200) break;
    }
    cmd.decoded["criteria"] = criteria;
    std::string verb = base == "SEARCH" ? "searches" : base == "SORT" ? "sorts" : "threads";
    cmd.note = who + verb + (uid ? " (by UID)" : "") + " messages: " + criteria;
  } else if (base == "FETCH") {
    if (a.size() >= 2) {
      cmd.decoded["sequence_set"] = text::json_safe(a[0].str());
      cmd.decoded["items"] = to_json(a[1], line);
      cmd.note = who + "fetches " + items_text(a[1]) + " of " +
                 describe_sequence_set(a[0].str(), uid);
      if (a.size() >= 3) {
        cmd.decoded["modifiers"] = to_json(a[2], line);
        cmd.note += " with " + to_text(a[2]);
      }
    } else {
      cmd.note = who + "fetches message data (arguments incomplete)";
    }
  } else if (base == "STORE") {
    describe_store(cmd, who, uid);
  } else if (base == "COPY" || base == "MOVE") {
    if (a.size() >= 2) {
      cmd.decoded["sequence_set"] = text::json_safe(a[0].str());
      cmd.decoded["mailbox"] = mailbox_of(a[1]);
      cmd.note = who + (base == "COPY" ? "copies " : "moves ") +
                 describe_sequence_set(a[0].str(), uid) + " to " + in_quotes(mailbox_of(a[1]));
    } else {
      cmd.note = who + (base == "COPY" ? "copies" : "moves") + " messages (arguments incomplete)";
    }
  } else if (n == "ID") {
    describe_id(cmd, who);
  } else if (n == "COMPRESS") {
    std::string mech = a.empty() ? "" : text::upper(a[0].str());
    cmd.decoded["mechanism"] = text::json_safe(mech, 64);
    cmd.note = who + "asks to compress the rest of the session with " + text::json_safe(mech, 64);
  } else if (n == "GETQUOTA" || n == "GETQUOTAROOT") {
    first_mailbox(n == "GETQUOTA" ? "asks for the usage and limits of quota root"
                                  : "asks for the quotas that apply to");
  } else if (n == "SETQUOTA") {
    first_mailbox("sets limits on quota root");
  } else if (n == "GETACL" || n == "MYRIGHTS") {
    first_mailbox(n == "GETACL" ? "asks who has which rights on" : "asks for its own rights on");
  } else if (n == "SETACL" || n == "DELETEACL" || n == "LISTRIGHTS") {
    first_mailbox(n == "LISTRIGHTS" ? "asks which rights can be granted on"
                                    : "changes who has rights on");
  } else if (n == "GETMETADATA" || n == "SETMETADATA") {
    first_mailbox(n == "GETMETADATA" ? "reads annotations of" : "writes annotations of");
  } else if (n == "NOTIFY") {
    cmd.note = who + "asks to be told about changes in other mailboxes (NOTIFY)";
  } else {
    cmd.note = who + "sends a command mailtap does not know";
  }
}

}  // namespace mailtap::decode::imap
