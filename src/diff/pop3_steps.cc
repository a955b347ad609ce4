// POP3: every command gets one status line (+OK/-ERR, RFC 1939 3); CAPA, LIST and UIDL without an
// argument, RETR, TOP (and AUTH without a mechanism) add a multi-line body ended by "."; a "+"
// continuation keeps AUTH open for the client's next line (RFC 5034).
#include <deque>

#include "diff/step_reader.h"
#include "mailtap/transcript/line_view.h"

namespace mailtap::diff::detail {
namespace {

bool multiline_command(const std::string& verb, const std::string& args) {
  if (verb == "CAPA" || verb == "RETR" || verb == "TOP") return true;
  if (verb == "LIST" || verb == "UIDL" || verb == "AUTH") return args.empty();
  return false;
}

// Commands whose multi-line response is a message rather than a listing.
bool multiline_message(const std::string& verb) {
  return verb == "RETR" || verb == "TOP";
}

std::string verb_of(const std::string& line) {
  return upper(first_word(line));
}

class Pop3Reader : public Reader {
 public:
  using Reader::Reader;

  void client(const Piece& p) override {
    if (sasl_step_) {
      at(*sasl_step_).pieces.push_back(p);
      return;
    }
    size_t i = open(StepKind::command, p);
    at(i).pieces.push_back(p);
    const std::string line = chomp(p.bytes);
    at(i).step.verb = verb_of(line);
    args_.push_back(after_first_word(line));
    pending_.push_back(i);
  }

  void server(const Piece& p) override {
    if (pending_.empty()) {
      size_t i = open(any_protocol_step() ? StepKind::unsolicited : StepKind::greeting, p);
      pending_.push_back(i);
      args_.emplace_back();
    }
    const size_t target = pending_.front();
    at(target).pieces.push_back(p);
    if (in_body_) {
      if (p.frame == "line" && chomp(p.bytes) == ".") done();
      return;
    }
    if (transcript::is_content_frame(p.frame)) return;
    const std::string first = first_word(chomp(p.bytes));
    if (first == "+") {
      sasl_step_ = target;
      return;
    }
    if (sasl_step_ == target) sasl_step_.reset();
    const Step& s = at(target).step;
    if (first == "+OK" && s.kind == StepKind::command && multiline_command(s.verb, args_.front())) {
      in_body_ = true;
      return;
    }
    done();
  }

  size_t oldest_open() const override {
    return oldest_of(
        {pending_.empty() ? std::nullopt : std::optional<size_t>(pending_.front()), sasl_step_});
  }

  void interpret(Draft& d) const override {
    Step& s = d.step;
    std::string command_line;
    std::string status_line;
    std::vector<std::string> body_lines;  // multi-line response, dot-unstuffed, normalised later
    std::string content;                  // body frames (RETR/TOP message)
    std::vector<std::string> continuations;
    bool saw_status = false;
    for (const auto& p : d.pieces) {
      if (p.from_client) {
        if (command_line.empty() && !transcript::is_content_frame(p.frame)) {
          command_line = chomp(p.bytes);
          if (p.by_proxy) s.set_value("sent by", "mailtap");
        }
        continue;
      }
      if (transcript::is_content_frame(p.frame)) {
        content += p.bytes;
        continue;
      }
      std::string line = chomp(p.bytes);
      if (!saw_status && first_word(line) == "+") {
        continuations.push_back(line);
        continue;
      }
      if (!saw_status) {
        status_line = line;
        saw_status = true;
        continue;
      }
      if (line == ".") continue;
      if (line.size() > 1 && line[0] == '.') line.erase(0, 1);  // dot-stuffing
      body_lines.push_back(line);
    }
    std::string args = after_first_word(command_line);
    if (body_lines.empty() && !content.empty() && !multiline_message(verb_of(command_line))) {
      // a listing that arrived as body frames: the same lines
      for (auto& l : transcript::display_lines(content, 2000)) {
        if (l.size() > 1 && l[0] == '.') l.erase(0, 1);
        if (!l.empty()) body_lines.push_back(std::move(l));
      }
      content.clear();
    }
    if (s.kind == StepKind::command) {
      s.verb = verb_of(command_line);
      s.label = command_line;
      s.key = n_.text(s.verb + (args.empty() ? "" : " " + args));
    } else {
      s.verb = s.kind == StepKind::greeting ? "greeting" : "unsolicited";
      s.key = s.verb;
      s.label = s.kind == StepKind::greeting ? "greeting" : "unsolicited response";
    }
    const std::string mechanism = s.verb == "AUTH" ? upper(first_word(args)) : "";
    if (!continuations.empty()) {
      std::vector<std::string> normalised;
      for (const auto& c : continuations)
        normalised.push_back(sasl_challenge_is_volatile(mechanism) && c.size() > 2 ? "+ <challenge>"
                                                                                   : n_.text(c));
      s.set_lines("continuations", std::move(normalised));
    }
    if (!saw_status) {
      s.set_value("status", "(none)");
    } else {
      const std::string status = upper(first_word(status_line));
      s.set_value("status", status == "+OK" || status == "-ERR" ? status : "(not POP3)");
      std::string text = after_first_word(status_line);
      if (!text.empty() && text.front() == '[') {  // RESP-CODES (RFC 2449 8)
        size_t close = text.find(']');
        if (close != std::string::npos) {
          s.set_value("response code", upper(text.substr(1, close - 1)));
          text = after_first_word(text.substr(close));
        }
      }
      const bool banner = s.kind == StepKind::greeting;
      if (!(banner && n_.ignore_banners()))
        s.set_value("text", banner ? n_.greeting(text) : n_.text(text));
    }
    if (s.verb == "CAPA") {
      read_capabilities(s, body_lines);
    } else if (s.verb == "UIDL" || s.verb == "LIST") {
      std::set<std::string> items;
      for (const auto& l : body_lines) {
        // "1 00000001669ab3c1": the unique id is the server's own business (RFC 1939 7)
        std::string value = s.verb == "UIDL" ? first_word(l) + " <uidl>" : n_.text(l);
        items.insert(value);
      }
      s.set_set(s.verb == "UIDL" ? "unique ids" : "scan listing", std::move(items));
    } else if (!body_lines.empty()) {
      std::vector<std::string> lines;
      for (const auto& l : body_lines) lines.push_back(n_.text(l));
      s.set_lines("lines", std::move(lines));
    }
    if (!content.empty()) s.set_lines("content", content_lines(content, n_));
    if (s.verb == "AUTH" && !mechanism.empty()) {
      s.set_value("sasl mechanism", mechanism);
      const Facet* st = s.facet("status");
      s.set_value("sasl outcome", st && st->value == "+OK"    ? "success"
                                  : st && st->value == "-ERR" ? "failure"
                                                              : "(no result)");
    }
    if (s.verb == "UIDL" && !args.empty()) {
      // "+OK 1 00000001669ab3c1"
      const Facet* text = s.facet("text");
      if (text) s.set_value("text", first_word(text->value) + " <uidl>");
    }
  }

 private:
  void done() {
    pending_.pop_front();
    args_.pop_front();
    in_body_ = false;
  }

  void read_capabilities(Step& s, const std::vector<std::string>& lines) const {
    std::set<std::string> names, mechanisms;
    for (const auto& l : lines) {
      std::string name = upper(first_word(l));
      std::string params = after_first_word(l);
      if (name.empty() || n_.drops_element(l)) continue;
      insert_element(names, name, n_);
      if (name == "SASL") {
        std::string rest = params;
        while (!rest.empty()) {
          insert_element(mechanisms, upper(first_word(rest)), n_);
          rest = after_first_word(rest);
        }
      } else if (!params.empty()) {
        s.set_value("capability " + name, n_.text(params));
      }
    }
    s.set_set("capabilities", std::move(names));
    if (!mechanisms.empty()) s.set_set("auth mechanisms", std::move(mechanisms));
  }

  std::deque<size_t> pending_;
  std::deque<std::string> args_;  // arguments of each pending command
  std::optional<size_t> sasl_step_;
  bool in_body_ = false;
};

}  // namespace

std::unique_ptr<Reader> make_pop3_reader(std::vector<Draft>& drafts, const Normalizer& n) {
  return std::make_unique<Pop3Reader>(drafts, n);
}

}  // namespace mailtap::diff::detail
