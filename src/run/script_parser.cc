#include "mailtap/run/script_parser.h"

#include <cctype>
#include <fstream>
#include <sstream>

#include "mailtap/run/expectation.h"
#include "mailtap/run/template.h"
#include "run/script_text.h"

namespace mailtap::run {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

std::vector<std::string> words(std::string_view s) {
  std::vector<std::string> out;
  std::istringstream in{std::string(s)};
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

// Recognises "C:", "client:", "S:", "server:" (any case) and "C=:" (exact bytes). Returns 'C',
// 'S', 'R' or 0, and the text
// after the prefix (one space after the colon is part of the prefix).
char line_role(std::string_view line, std::string_view& rest) {
  static const std::pair<std::string_view, char> prefixes[] = {
      {"client:", 'C'}, {"server:", 'S'}, {"c=:", 'R'}, {"c:", 'C'}, {"s:", 'S'}};
  for (const auto& [prefix, role] : prefixes) {
    if (line.size() < prefix.size()) continue;
    if (lower(line.substr(0, prefix.size())) != prefix) continue;
    rest = line.substr(prefix.size());
    if (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    return role;
  }
  return 0;
}

double parse_seconds(const std::string& word, const SourceLocation& where, const char* what) {
  try {
    size_t used = 0;
    double v = std::stod(word, &used);
    if (used == word.size() && v >= 0 && v <= 86400) return v;
  } catch (...) {
  }
  throw ScriptError(where, std::string(what) + " needs a number of seconds, got \"" + word + "\"");
}

bool valid_variable_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.')
      return false;
  return true;
}

class Parser {
 public:
  Parser(std::string_view text, const std::string& source) : text_(text) {
    script_.source = source;
  }

  Script run() {
    size_t pos = 0, number = 0;
    while (pos <= text_.size()) {
      size_t nl = text_.find('\n', pos);
      std::string_view line =
          text_.substr(pos, nl == std::string_view::npos ? text_.npos : nl - pos);
      ++number;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      where_ = SourceLocation{script_.source, number};
      parse_line(line);
      if (nl == std::string_view::npos) break;
      pos = nl + 1;
    }
    return std::move(script_);
  }

 private:
  void parse_line(std::string_view line) {
    std::string_view t = trim(line);
    if (t.empty() || t.front() == '#') return;
    // Leading white space before the role is layout (seed transcripts are often indented).
    std::string_view start = line;
    while (!start.empty() && (start.front() == ' ' || start.front() == '\t'))
      start.remove_prefix(1);
    std::string_view rest;
    if (char role = line_role(start, rest)) {
      if (role == 'C')
        add_send(rest);
      else if (role == 'R')
        add_exact(rest);
      else
        add_expect(rest);
      return;
    }
    if (t.front() == '!') return directive(t.substr(1));
    if (lower(t.substr(0, 4)) == "set " || lower(t.substr(0, 4)) == "set\t")
      return set(trim(t.substr(4)));
    throw ScriptError(where_,
                      "expected a line starting with C:, S:, client:, server:, set, ! or #"
                      ", got \"" +
                          std::string(t.substr(0, 60)) + "\"");
  }

  void add_send(std::string_view text) {
    check(text);
    ScriptItem item;
    item.kind = ScriptItem::Kind::send;
    item.where = where_;
    item.text = std::string(text);
    push(std::move(item));
  }

  void add_exact(std::string_view text) {
    std::string error;
    auto bytes = c_unescape(text, error);
    if (!bytes) throw ScriptError(where_, "C=: " + error);
    if (bytes->empty())
      throw ScriptError(where_, "C=: sends nothing (write \\r\\n for a line end)");
    ScriptItem item;
    item.kind = ScriptItem::Kind::send;
    item.where = where_;
    item.text = std::move(*bytes);
    item.raw = true;
    push(std::move(item));
  }

  void add_expect(std::string_view text) {
    check(text);
    // Without ${...} the expectation can be checked now (regular expressions compile).
    if (!has_template(text)) parse_expectation(text, where_);
    ScriptItem item;
    item.kind = ScriptItem::Kind::expect;
    item.where = where_;
    item.text = std::string(text);
    push(std::move(item));
  }

  void set(std::string_view assignment) {
    size_t eq = assignment.find('=');
    if (eq == std::string_view::npos)
      throw ScriptError(where_, "set needs name=value, got \"" + std::string(assignment) + "\"");
    std::string name(trim(assignment.substr(0, eq)));
    if (!valid_variable_name(name))
      throw ScriptError(where_, "\"" + name + "\" is not a variable name (letters, digits, _ - .)");
    std::string_view value = assignment.substr(eq + 1);
    check(value);
    ScriptItem item;
    item.kind = ScriptItem::Kind::set;
    item.where = where_;
    item.name = name;
    item.text = std::string(value);
    push(std::move(item));
  }

  void directive(std::string_view body) {
    auto w = words(body);
    if (w.empty()) throw ScriptError(where_, "a directive name must follow '!'");
    std::string name = lower(w[0]);
    auto args = [&](size_t min, size_t max, const char* usage) {
      if (w.size() - 1 < min || w.size() - 1 > max)
        throw ScriptError(where_, "usage: " + std::string(usage));
    };
    if (name == "proto" || name == "tls" || name == "target" || name == "timeout") {
      if (started_)
        throw ScriptError(where_, "!" + name + " must come before the first C:, S: or action");
      if (name == "proto") {
        args(1, 1, "!proto smtp|imap|pop3");
        script_.protocol = parse_protocol(lower(w[1]));
        if (!script_.protocol)
          throw ScriptError(where_, "unknown protocol \"" + w[1] + "\" (smtp, imap or pop3)");
      } else if (name == "tls") {
        args(1, 1, "!tls plain|implicit|starttls");
        script_.tls = parse_tls_mode(lower(w[1]));
        if (!script_.tls)
          throw ScriptError(where_,
                            "unknown TLS mode \"" + w[1] + "\" (plain, implicit, starttls)");
      } else if (name == "target") {
        args(1, 1, "!target HOST:PORT");
        if (w[1].find(':') == std::string::npos)
          throw ScriptError(where_, "!target needs HOST:PORT, got \"" + w[1] + "\"");
        script_.target = w[1];
      } else {
        args(1, 1, "!timeout SECONDS");
        script_.timeout_seconds = parse_seconds(w[1], where_, "!timeout");
      }
      return;
    }
    ScriptItem item;
    item.where = where_;
    if (name == "set") {
      return set(trim(body.substr(3)));
    } else if (name == "auth") {
      args(1, 2, "!auth MECHANISM [IMAP-TAG]");
      item.kind = ScriptItem::Kind::auth;
      item.name = w[1];
      for (char& c : item.name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (w.size() == 3) item.tag = w[2];
    } else if (name == "starttls" || name == "stls") {
      args(0, 1, "!starttls [IMAP-TAG]");
      item.kind = ScriptItem::Kind::starttls;
      if (w.size() == 2) item.tag = w[1];
    } else if (name == "sleep") {
      args(1, 1, "!sleep SECONDS");
      item.kind = ScriptItem::Kind::sleep;
      item.seconds = parse_seconds(w[1], where_, "!sleep");
    } else if (name == "close") {
      args(0, 0, "!close");
      item.kind = ScriptItem::Kind::close;
    } else if (name == "expect-close" || name == "expect_close") {
      args(0, 0, "!expect-close");
      item.kind = ScriptItem::Kind::expect_close;
    } else {
      throw ScriptError(where_, "unknown directive !" + w[0] +
                                    " (known: !proto !tls !target !timeout !auth !starttls !sleep "
                                    "!close !expect-close !set)");
    }
    push(std::move(item));
  }

  void check(std::string_view text) {
    std::string problem = check_template(text);
    if (!problem.empty()) throw ScriptError(where_, problem);
  }

  void push(ScriptItem item) {
    if (item.kind != ScriptItem::Kind::set) started_ = true;
    script_.items.push_back(std::move(item));
  }

  std::string_view text_;
  Script script_;
  SourceLocation where_;
  bool started_ = false;
};

}  // namespace

Script parse_script(std::string_view text, const std::string& source) {
  return Parser(text, source).run();
}

Script load_script_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ScriptError({path.string(), 0}, "cannot read the script");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return parse_script(buffer.str(), path.string());
}

}  // namespace mailtap::run
