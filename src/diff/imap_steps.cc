// IMAP: a tagged completion ends its command (RFC 9051 2.2.2); untagged data belongs to the command
// the decoder says it answers (in_response_to), else to the oldest one still running; a "+"
// continuation keeps the command open for the client's next line (SASL, IDLE, literals).
#include <map>

#include "diff/imap_items.h"
#include "diff/step_reader.h"
#include "mailtap/transcript/line_view.h"

namespace mailtap::diff::detail {
namespace {

// "[CODE args] text" -> {"CODE", "args", "text"}; code empty when the text has no response code.
struct CodedText {
  std::string code, args, text;
};

CodedText split_code(std::string_view s) {
  CodedText out;
  if (s.empty() || s.front() != '[') {
    out.text = std::string(s);
    return out;
  }
  size_t close = s.find(']');
  if (close == std::string_view::npos) {
    out.text = std::string(s);
    return out;
  }
  std::string inner(s.substr(1, close - 1));
  out.code = upper(first_word(inner));
  out.args = after_first_word(inner);
  out.text = close + 1 < s.size() ? std::string(s.substr(close + 1)) : "";
  if (!out.text.empty() && out.text.front() == ' ') out.text.erase(0, 1);
  return out;
}

bool is_status(const std::string& w) {
  return w == "OK" || w == "NO" || w == "BAD" || w == "BYE" || w == "PREAUTH";
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// Replaces literal sizes "{123}" / "{123+}" with "{n}": the size of a message that carries a date
// changes with every capture, the command does not.
std::string without_literal_sizes(std::string s) {
  static const std::regex literal("\\{\\d+\\+?\\}");
  return std::regex_replace(s, literal, "{n}");
}

class ImapReader : public Reader {
 public:
  using Reader::Reader;

  void client(const Piece& p) override {
    if (p.frame == "literal" || transcript::is_content_frame(p.frame)) {
      if (client_step_) at(*client_step_).pieces.push_back(p);
      return;
    }
    // The rest of a command after its literal, or a line the server asked for with "+" (a SASL
    // response, IDLE's DONE).
    std::optional<size_t> target;
    if (client_step_ && client_continues_)
      target = client_step_;
    else if (awaiting_client_)
      target = awaiting_client_;
    if (target) {
      at(*target).pieces.push_back(p);
      client_step_ = target;
      client_continues_ = ends_with_literal(p.bytes);
      return;
    }
    size_t i = open(StepKind::command, p);
    at(i).pieces.push_back(p);
    pending_.push_back(i);
    by_tag_[first_word(chomp(p.bytes))] = i;
    client_step_ = i;
    client_continues_ = ends_with_literal(p.bytes);
  }

  void server(const Piece& p) override {
    if (p.frame == "literal" || transcript::is_content_frame(p.frame)) {
      if (server_step_) at(*server_step_).pieces.push_back(p);
      return;
    }
    if (server_continues_ && server_step_) {  // the rest of an untagged response after a literal
      at(*server_step_).pieces.push_back(p);
      server_continues_ = ends_with_literal(p.bytes);
      return;
    }
    const std::string line = chomp(p.bytes);
    const std::string first = first_word(line);
    size_t target;
    if (first == "*") {
      target = untagged_target(p);
    } else if (first == "+") {
      target = pending_.empty() ? untagged_target(p) : pending_.back();
      // "+" after a literal announcement only lets the literal through; otherwise the command
      // now waits for a line of the client's (SASL response, DONE).
      if (!client_continues_) awaiting_client_ = target;
    } else if (auto it = by_tag_.find(first); it != by_tag_.end()) {
      target = it->second;
      by_tag_.erase(it);
      std::erase(pending_, target);
      if (awaiting_client_ == target) awaiting_client_.reset();
      if (client_step_ == target) client_step_.reset();
    } else {
      target = untagged_target(p);
    }
    at(target).pieces.push_back(p);
    server_step_ = target;
    server_continues_ = ends_with_literal(p.bytes);
  }

  size_t oldest_open() const override {
    std::optional<size_t> oldest_pending;
    for (size_t i : pending_)
      if (!oldest_pending || i < *oldest_pending) oldest_pending = i;
    return oldest_of({oldest_pending, client_step_, awaiting_client_, server_step_});
  }

  void interpret(Draft& d) const override {
    Step& s = d.step;
    std::string mechanism;
    if (s.kind == StepKind::command) {
      std::string command_line;
      for (const auto& p : d.pieces) {
        if (!p.from_client || p.frame != "line") continue;
        command_line = chomp(p.bytes);
        if (p.by_proxy) s.set_value("sent by", "mailtap");
        break;
      }
      std::string rest = after_first_word(command_line);  // without the tag
      std::string verb = upper(first_word(rest));
      std::string args = after_first_word(rest);
      if (verb == "UID") {
        verb += " " + upper(first_word(args));
        args = after_first_word(args);
      }
      s.verb = verb;
      s.label = command_line;
      s.key = without_literal_sizes(n_.text(verb + (args.empty() ? "" : " " + args)));
      if (verb == "AUTHENTICATE") {
        mechanism = upper(first_word(args));
        s.set_value("sasl mechanism", mechanism);
      }
    } else {
      s.verb = s.kind == StepKind::greeting ? "greeting" : "unsolicited";
      s.key = s.verb;
      s.label = s.kind == StepKind::greeting ? "greeting" : "unsolicited responses";
    }

    std::string client_content, server_content;
    std::vector<std::string> continuations, fetch;
    std::map<std::string, std::vector<std::string>> untagged;  // type -> normalised lines
    std::set<std::string> capabilities, mechanisms;
    bool saw_capabilities = false;
    std::string response;  // a server response assembled from its lines, literals as {n}
    auto flush_response = [&] {
      if (!response.empty())
        read_server_line(d, response, untagged, capabilities, mechanisms, saw_capabilities,
                         continuations, fetch, mechanism);
      response.clear();
    };
    for (const auto& p : d.pieces) {
      const bool content = p.frame == "literal" || transcript::is_content_frame(p.frame);
      if (p.from_client) {
        if (content) client_content += p.bytes;
        continue;
      }
      if (content) {
        server_content += p.bytes;  // compared as content; the response keeps "{n}"
        continue;
      }
      std::string line = chomp(p.bytes);
      response += line;
      if (ends_with_literal(line))
        response = without_literal_sizes(response);  // the rest follows the literal
      else
        flush_response();
    }
    flush_response();

    if (saw_capabilities) {
      s.set_set("capabilities", std::move(capabilities));
      s.set_set("auth mechanisms", std::move(mechanisms));
    }
    if (!continuations.empty()) s.set_lines("continuations", std::move(continuations));
    if (!fetch.empty()) s.set_set("FETCH", std::set<std::string>(fetch.begin(), fetch.end()));
    for (auto& [type, lines] : untagged)
      s.set_set("untagged " + type, std::set<std::string>(lines.begin(), lines.end()));
    if (!client_content.empty()) s.set_lines("client content", content_lines(client_content, n_));
    if (!server_content.empty()) s.set_lines("server content", content_lines(server_content, n_));
    if (s.verb == "AUTHENTICATE") {
      const Facet* st = s.facet("status");
      std::string status = st ? st->value : "";
      s.set_value("sasl outcome", status == "OK"   ? "success"
                                  : status == "NO" ? "failure"
                                  : status.empty() ? "(no completion)"
                                                   : "rejected (" + status + ")");
    }
  }

 private:
  size_t untagged_target(const Piece& p) {
    if (!p.in_response_to.empty()) {
      auto t = by_tag_.find(p.in_response_to);
      if (t != by_tag_.end()) return t->second;
    }
    if (!pending_.empty()) return pending_.front();
    if (!any_protocol_step()) return open(StepKind::greeting, p);
    if (!drafts_.empty() && drafts_.back().step.kind == StepKind::unsolicited)
      return drafts_.size() - 1;
    return open(StepKind::unsolicited, p);
  }

  // One complete server response (literals replaced by {n}).
  void read_server_line(Draft& d, const std::string& line,
                        std::map<std::string, std::vector<std::string>>& untagged,
                        std::set<std::string>& capabilities, std::set<std::string>& mechanisms,
                        bool& saw_capabilities, std::vector<std::string>& continuations,
                        std::vector<std::string>& fetch, const std::string& mechanism) const {
    Step& s = d.step;
    auto add_capabilities = [&](const std::string& list) {
      saw_capabilities = true;
      capabilities.clear();  // the latest list is the one in force
      mechanisms.clear();
      std::string rest = list;
      while (!rest.empty()) {
        std::string atom = upper(first_word(rest));
        rest = after_first_word(rest);
        if (atom.rfind("AUTH=", 0) == 0)
          insert_element(mechanisms, atom.substr(5), n_);
        else
          insert_element(capabilities, atom, n_);
      }
    };
    const std::string first = first_word(line);
    const std::string rest = after_first_word(line);
    if (first == "+") {
      continuations.push_back(sasl_challenge_is_volatile(mechanism) && !rest.empty()
                                  ? "+ <challenge>"
                                  : n_.text("+ " + rest));
      return;
    }
    if (first == "*") {
      std::string word = upper(first_word(rest));
      std::string after = after_first_word(rest);
      if (is_status(word)) {
        CodedText ct = split_code(after);
        if (ct.code == "CAPABILITY") add_capabilities(ct.args);
        if (ct.code == "PERMANENTFLAGS") {
          auto flags = flag_list(ct.args);
          s.set_set("permanent flags", std::set<std::string>(flags.begin(), flags.end()));
        }
        const bool banner = s.kind == StepKind::greeting && n_.ignore_banners();
        if (s.kind == StepKind::greeting) {
          s.set_value("status", word);
          if (!banner) s.set_value("text", n_.greeting(ct.text));
          return;
        }
        std::string type = word + (ct.code.empty() ? "" : " [" + ct.code + "]");
        // As on the wire, "[UIDNEXT 2] Predicted next UID", the code normalised with its
        // arguments so that rules such as UIDVALIDITY's apply (capabilities and permanent flags
        // are compared as sets of their own).
        std::string value;
        if (!ct.args.empty() && ct.code != "CAPABILITY" && ct.code != "PERMANENTFLAGS")
          value = "[" + normalized_code(ct) + "]";
        const std::string text = n_.text(ct.text);
        if (!text.empty()) value += (value.empty() ? "" : " ") + text;
        untagged[type].push_back(value);
        return;
      }
      if (word == "CAPABILITY") {
        add_capabilities(after);
        return;
      }
      if (word == "FLAGS") {
        auto flags = flag_list(after);
        s.set_set("flags", std::set<std::string>(flags.begin(), flags.end()));
        return;
      }
      if (all_digits(word)) {  // "* 3 EXISTS", "* 1 FETCH (...)"
        std::string type = upper(first_word(after));
        std::string data = after_first_word(after);
        if (type == "FETCH") {
          // Every FETCH response of the step in one set of "<message> <item> <value>": the
          // order of items (and of responses) is the server's business.
          auto items = fetch_items(data);
          if (!items.empty()) {
            for (const auto& [name, value] : items)
              fetch.push_back(word + " " + name + " " + n_.text(value));
            return;
          }
        }
        untagged[type].push_back(data.empty() ? word : word + " " + n_.text(data));
        return;
      }
      untagged[word].push_back(n_.text(after));
      return;
    }
    // A tagged completion (or garbage, compared as text).
    std::string status = upper(first_word(rest));
    if (!is_status(status)) {
      untagged["(not IMAP)"].push_back(n_.text(line));
      return;
    }
    CodedText ct = split_code(after_first_word(rest));
    s.set_value("status", status);
    if (ct.code == "CAPABILITY") {
      add_capabilities(ct.args);
    } else if (!ct.code.empty()) {
      s.set_value("response code", normalized_code(ct));
    }
    s.set_value("text", n_.text(ct.text));
  }

  // "CODE args" normalised as it stood in the response, brackets included, so that rules such
  // as "[APPENDUID <uidvalidity>" apply.
  std::string normalized_code(const CodedText& ct) const {
    std::string s = n_.text("[" + ct.code + (ct.args.empty() ? "" : " " + ct.args) + "]");
    if (s.size() >= 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
    return s;
  }

  std::vector<size_t> pending_;  // commands without a tagged completion, oldest first
  std::map<std::string, size_t> by_tag_;
  std::optional<size_t> client_step_;      // the command the client is still sending
  bool client_continues_ = false;          // its last line announced a literal
  std::optional<size_t> awaiting_client_;  // the command a "+" continuation invited
  std::optional<size_t> server_step_;      // where the last server line went
  bool server_continues_ = false;
};

}  // namespace

std::unique_ptr<Reader> make_imap_reader(std::vector<Draft>& drafts, const Normalizer& n) {
  return std::make_unique<ImapReader>(drafts, n);
}

}  // namespace mailtap::diff::detail
