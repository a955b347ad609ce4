#include "mailtap/run/template.h"

#include <cctype>
#include <cstdlib>
#include <ctime>
#include <set>

#include "mailtap/decode/sasl.h"

namespace mailtap::run {
namespace {

struct Node {
  bool is_ref = false;
  std::string text;  // literal text, or the reference's name
  bool has_args = false;
  std::vector<std::vector<Node>> args;
};
using Seq = std::vector<Node>;

// Helpers whose single argument is "the rest" (':' is part of it), and helpers whose arguments are
// separated by ':'.
bool rest_argument_helper(std::string_view name) {
  return name == "base64" || name == "bytes" || name == "env";
}
bool split_argument_helper(std::string_view name) {
  return name == "auth_plain" || name == "xoauth2";
}
bool no_argument_helper(std::string_view name) {
  return name == "sasl" || name == "apop" || name == "unique" || name == "date";
}

bool name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Seq parse_all(std::string& error) {
    Seq seq = parse_seq(false, error);
    if (error.empty() && pos_ < text_.size()) error = "unexpected '}'";
    return seq;
  }

 private:
  // Reads literal text and references until the end, or (inside a reference) an unescaped '}'
  // or, for split arguments, ':'.
  Seq parse_seq(bool inside, std::string& error, bool stop_at_colon = false) {
    Seq seq;
    std::string literal;
    auto flush = [&] {
      if (!literal.empty()) seq.push_back(Node{false, std::move(literal), false, {}});
      literal.clear();
    };
    while (pos_ < text_.size() && error.empty()) {
      char c = text_[pos_];
      if (inside && (c == '}' || (stop_at_colon && c == ':'))) break;
      if (text_.compare(pos_, 3, "$${") == 0) {
        literal += "${";
        pos_ += 3;
        continue;
      }
      if (text_.compare(pos_, 2, "${") == 0) {
        flush();
        pos_ += 2;
        Node ref = parse_ref(error);
        if (!error.empty()) break;
        seq.push_back(std::move(ref));
        continue;
      }
      literal.push_back(c);
      ++pos_;
    }
    flush();
    return seq;
  }

  Node parse_ref(std::string& error) {
    Node ref;
    ref.is_ref = true;
    size_t start = pos_;
    while (pos_ < text_.size() && name_char(text_[pos_])) ++pos_;
    ref.text = std::string(text_.substr(start, pos_ - start));
    if (ref.text.empty()) {
      error = "\"${\" must be followed by a name (write $${ for a literal ${)";
      return ref;
    }
    if (pos_ < text_.size() && text_[pos_] == ':') {
      ref.has_args = true;
      ++pos_;
      if (rest_argument_helper(ref.text)) {
        ref.args.push_back(parse_seq(true, error));
      } else {
        while (error.empty()) {
          ref.args.push_back(parse_seq(true, error, true));
          if (pos_ < text_.size() && text_[pos_] == ':') {
            ++pos_;
            continue;
          }
          break;
        }
      }
    }
    if (!error.empty()) return ref;
    if (pos_ >= text_.size() || text_[pos_] != '}') {
      error = "\"${" + ref.text + "\" is not closed with '}'";
      return ref;
    }
    ++pos_;
    error = check_arity(ref);
    return ref;
  }

  static std::string check_arity(const Node& ref) {
    const std::string& n = ref.text;
    size_t count = ref.has_args ? ref.args.size() : 0;
    if (rest_argument_helper(n) && count != 1) return "${" + n + ":...} needs an argument";
    if (n == "auth_plain" && count != 0 && count != 2 && count != 3)
      return "${auth_plain} takes no argument, USER:PASS or AUTHZID:USER:PASS";
    if (n == "xoauth2" && count != 0 && count != 2)
      return "${xoauth2} takes no argument or USER:TOKEN";
    if (no_argument_helper(n) && count != 0) return "${" + n + "} takes no argument";
    if (!rest_argument_helper(n) && !split_argument_helper(n) && !no_argument_helper(n) &&
        count != 0)
      return "unknown helper \"" + n +
             "\" (helpers: base64, auth_plain, xoauth2, sasl, apop, bytes, env, unique, date)";
    return {};
  }

  std::string_view text_;
  size_t pos_ = 0;
};

std::string rfc5322_date() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S %z", &tm);
  return buf;
}

class Expander {
 public:
  explicit Expander(const ExpansionContext& context) : ctx_(context) {}

  std::optional<std::string> seq(const Seq& nodes, std::string& error) {
    std::string out;
    for (const Node& n : nodes) {
      if (!n.is_ref) {
        out += n.text;
        continue;
      }
      auto value = ref(n, error);
      if (!value) return std::nullopt;
      out += *value;
    }
    return out;
  }

 private:
  std::optional<std::string> variable(const std::string& name, std::string& error) {
    if (ctx_.variables) {
      auto it = ctx_.variables->find(name);
      if (it != ctx_.variables->end()) return it->second;
    }
    error = "variable ${" + name + "} is not set (give --var " + name + "=VALUE, or `set " + name +
            "=VALUE` in the script)";
    return std::nullopt;
  }

  std::optional<std::vector<std::string>> args(const Node& n, std::string& error) {
    std::vector<std::string> out;
    for (const Seq& a : n.args) {
      auto v = seq(a, error);
      if (!v) return std::nullopt;
      out.push_back(std::move(*v));
    }
    return out;
  }

  std::optional<std::string> ref(const Node& n, std::string& error) {
    const std::string& name = n.text;
    if (name == "base64" || name == "bytes" || name == "env") {
      auto a = args(n, error);
      if (!a) return std::nullopt;
      if (name == "base64") return decode::base64_encode((*a)[0]);
      if (name == "bytes") {
        auto raw = decode::base64_decode((*a)[0]);
        if (!raw) error = "${bytes:...} needs base64, got \"" + (*a)[0] + "\"";
        return raw;
      }
      const char* env = std::getenv((*a)[0].c_str());
      if (!env) {
        error = "environment variable " + (*a)[0] + " is not set";
        return std::nullopt;
      }
      return std::string(env);
    }
    if (name == "auth_plain" || name == "xoauth2") {
      std::vector<std::string> a;
      if (n.has_args) {
        auto got = args(n, error);
        if (!got) return std::nullopt;
        a = std::move(*got);
      } else {
        auto user = variable("user", error);
        if (!user) return std::nullopt;
        std::optional<std::string> secret;
        if (name == "xoauth2" && ctx_.variables && ctx_.variables->count("token"))
          secret = ctx_.variables->at("token");
        else
          secret = variable("pass", error);
        if (!secret) return std::nullopt;
        a = {*user, *secret};
      }
      if (name == "auth_plain") {
        std::string authzid = a.size() == 3 ? a[0] : "";
        const std::string& user = a[a.size() - 2];
        const std::string& pass = a[a.size() - 1];
        return decode::base64_encode(authzid + '\0' + user + '\0' + pass);
      }
      return decode::base64_encode("user=" + a[0] + "\x01" + "auth=Bearer " + a[1] + "\x01\x01");
    }
    if (name == "sasl" || name == "apop") {
      const auto& fn = name == "sasl" ? ctx_.sasl : ctx_.apop;
      if (!fn) {
        error = "${" + name + "} can only be used where the runner talks to a server";
        return std::nullopt;
      }
      return fn(error);
    }
    if (name == "unique") return ctx_.unique;
    if (name == "date") return rfc5322_date();
    return variable(name, error);
  }

  const ExpansionContext& ctx_;
};

void collect_references(const Seq& nodes, std::set<std::string>& out) {
  for (const Node& n : nodes) {
    if (!n.is_ref) continue;
    for (const Seq& a : n.args) collect_references(a, out);
    const std::string& name = n.text;
    if (name == "auth_plain" || name == "xoauth2") {
      if (!n.has_args) {
        out.insert("user");
        out.insert(name == "xoauth2" ? "token|pass" : "pass");
      }
    } else if (name == "apop") {
      out.insert("pass");
    } else if (name == "sasl") {
      out.insert("sasl");
    } else if (!rest_argument_helper(name) && !no_argument_helper(name)) {
      out.insert(name);
    }
  }
}

}  // namespace

std::optional<std::string> expand_template(std::string_view text, const ExpansionContext& context,
                                           std::string& error) {
  error.clear();
  Parser parser(text);
  Seq nodes = parser.parse_all(error);
  if (!error.empty()) return std::nullopt;
  Expander expander(context);
  return expander.seq(nodes, error);
}

std::string check_template(std::string_view text) {
  std::string error;
  Parser parser(text);
  parser.parse_all(error);
  return error;
}

std::vector<std::string> template_references(std::string_view text) {
  std::string error;
  Parser parser(text);
  Seq nodes = parser.parse_all(error);
  std::set<std::string> names;
  if (error.empty()) collect_references(nodes, names);
  return {names.begin(), names.end()};
}

bool has_template(std::string_view text) {
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    if (text.compare(i, 3, "$${") == 0) {
      i += 2;
      continue;
    }
    if (text[i] == '$' && text[i + 1] == '{') return true;
  }
  return false;
}

std::string escape_template(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '$' && i + 1 < text.size() && text[i + 1] == '{') out += '$';
    out += text[i];
  }
  return out;
}

}  // namespace mailtap::run
