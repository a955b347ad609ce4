// SMTP: replies answer commands in order (RFC 5321 4.1; RFC 2920 with pipelining), a 334 keeps an
// AUTH exchange open for the client's next line, a 354 keeps DATA open for the message and its
// final dot.
#include <deque>

#include "diff/step_reader.h"
#include "mailtap/transcript/line_view.h"

namespace mailtap::diff::detail {
namespace {

struct ReplyLine {
  int code = 0;      // 0: not a reply line
  bool last = true;  // "250 " rather than "250-"
  std::string text;  // after the code and separator
};

ReplyLine parse_reply(std::string_view raw) {
  std::string l = chomp(raw);
  ReplyLine r;
  if (l.size() < 3) return r;
  for (int i = 0; i < 3; ++i)
    if (l[i] < '0' || l[i] > '9') return r;
  if (l.size() > 3 && l[3] != ' ' && l[3] != '-') return r;
  r.code = std::stoi(l.substr(0, 3));
  r.last = l.size() == 3 || l[3] == ' ';
  r.text = l.size() > 4 ? l.substr(4) : "";
  return r;
}

// "2.1.0 Ok" -> "2.1.0"; "" when the text does not start with an enhanced status code.
std::string enhanced_code(std::string_view text) {
  std::string w = first_word(text);
  int dots = 0;
  bool digit_run = false;
  for (char c : w) {
    if (c == '.') {
      if (!digit_run) return "";
      ++dots;
      digit_run = false;
    } else if (c >= '0' && c <= '9') {
      digit_run = true;
    } else {
      return "";
    }
  }
  return dots == 2 && digit_run && (w[0] == '2' || w[0] == '4' || w[0] == '5') ? w : "";
}

struct Reply {
  int code = 0;
  std::vector<std::string> texts;
};

class SmtpReader : public Reader {
 public:
  using Reader::Reader;

  void client(const Piece& p) override {
    if (transcript::is_content_frame(p.frame)) {
      if (data_step_) {
        at(*data_step_).pieces.push_back(p);
      } else if (!drafts_.empty()) {
        drafts_.back().pieces.push_back(p);  // a BDAT chunk follows its command
      }
      return;
    }
    if (data_step_) {  // the final "." of DATA
      at(*data_step_).pieces.push_back(p);
      data_step_.reset();
      return;
    }
    if (sasl_step_) {  // a SASL response to a 334 challenge
      at(*sasl_step_).pieces.push_back(p);
      return;
    }
    size_t i = open(StepKind::command, p);
    at(i).pieces.push_back(p);
    pending_.push_back(i);
  }

  void server(const Piece& p) override {
    if (pending_.empty()) {
      size_t i = open(any_protocol_step() ? StepKind::unsolicited : StepKind::greeting, p);
      pending_.push_back(i);
    }
    const size_t target = pending_.front();
    at(target).pieces.push_back(p);
    ReplyLine r = parse_reply(p.bytes);
    if (r.code == 0 || !r.last) return;
    if (r.code == 334) {
      sasl_step_ = target;
      return;
    }
    if (sasl_step_ == target) sasl_step_.reset();
    if (r.code == 354) {
      data_step_ = target;
      return;
    }
    pending_.pop_front();
  }

  size_t oldest_open() const override {
    return oldest_of({pending_.empty() ? std::nullopt : std::optional<size_t>(pending_.front()),
                      sasl_step_, data_step_});
  }

  void interpret(Draft& d) const override {
    Step& s = d.step;
    std::vector<Reply> replies;
    Reply current;
    std::string command_line;
    std::string content;
    bool saw_command = false;
    for (const auto& p : d.pieces) {
      if (p.from_client) {
        if (transcript::is_content_frame(p.frame)) {
          content += p.bytes;
        } else if (!saw_command) {
          command_line = chomp(p.bytes);
          saw_command = true;
          if (p.by_proxy) s.set_value("sent by", "mailtap");
        }
        continue;
      }
      ReplyLine r = parse_reply(p.bytes);
      if (r.code == 0) {
        current.texts.push_back(chomp(p.bytes));  // not a reply line: keep it as text
        continue;
      }
      current.code = r.code;
      current.texts.push_back(r.text);
      if (r.last) {
        replies.push_back(std::move(current));
        current = Reply{};
      }
    }
    if (!current.texts.empty()) replies.push_back(std::move(current));  // cut off mid-reply

    if (s.kind == StepKind::command) {
      std::string verb = upper(first_word(command_line));
      std::string rest = after_first_word(command_line);
      s.verb = verb;
      s.label = command_line;
      s.key = n_.text(verb + (rest.empty() ? "" : " " + rest));
    } else {
      s.verb = s.kind == StepKind::greeting ? "greeting" : "unsolicited";
      s.key = s.verb;
      s.label = s.kind == StepKind::greeting ? "greeting" : "unsolicited reply";
    }
    if (!content.empty()) s.set_lines("message", content_lines(content, n_));

    const std::string mechanism =
        s.verb == "AUTH" ? upper(first_word(after_first_word(command_line))) : "";
    // Intermediate replies (334 challenges, 354 go-ahead) in order.
    std::vector<std::string> continuations;
    for (size_t i = 0; i + 1 < replies.size(); ++i) {
      const Reply& r = replies[i];
      std::string text = r.texts.empty() ? "" : r.texts.front();
      if (r.code == 334 && sasl_challenge_is_volatile(mechanism)) text = "<challenge>";
      continuations.push_back(std::to_string(r.code) + " " + n_.text(text));
    }
    if (!continuations.empty()) s.set_lines("continuations", std::move(continuations));
    if (replies.empty()) {
      s.set_value("reply", "(none)");
      return;
    }
    const Reply& final_reply = replies.back();
    s.set_value("reply", final_reply.code ? std::to_string(final_reply.code) : "(not SMTP)");
    std::string enhanced;
    for (const auto& t : final_reply.texts)
      if (enhanced.empty()) enhanced = enhanced_code(t);
    if (!enhanced.empty()) s.set_value("enhanced code", enhanced);

    const bool ehlo = (s.verb == "EHLO" || s.verb == "LHLO") && final_reply.code == 250;
    std::vector<std::string> texts;
    for (size_t i = 0; i < final_reply.texts.size(); ++i) {
      if (ehlo && i > 0) break;  // the rest are extensions, compared as a set below
      std::string t = final_reply.texts[i];
      if (!enhanced.empty() && enhanced_code(t) == enhanced) t = after_first_word(t);
      texts.push_back(s.kind == StepKind::greeting ? n_.greeting(t) : n_.text(t));
    }
    const bool banner = s.kind == StepKind::greeting || ehlo;
    if (!(banner && n_.ignore_banners())) {
      if (texts.size() == 1)
        s.set_value("text", texts.front());
      else
        s.set_lines("text", std::move(texts));
    }
    if (ehlo) read_extensions(s, final_reply);
    if (s.verb == "AUTH") {
      s.set_value("sasl mechanism", mechanism);
      const int c = final_reply.code;
      s.set_value("sasl outcome", c == 235   ? "success"
                                  : c >= 500 ? "failure"
                                  : c >= 400 ? "temporary failure"
                                             : "other (" + std::to_string(c) + ")");
    }
  }

 private:
  void read_extensions(Step& s, const Reply& r) const {
    std::set<std::string> keywords, mechanisms;
    for (size_t i = 1; i < r.texts.size(); ++i) {
      std::string keyword = upper(first_word(r.texts[i]));
      std::string params = after_first_word(r.texts[i]);
      if (keyword.empty() || n_.drops_element(r.texts[i])) continue;
      insert_element(keywords, keyword, n_);
      if (keyword == "AUTH") {
        std::string rest = params;
        while (!rest.empty()) {
          insert_element(mechanisms, upper(first_word(rest)), n_);
          rest = after_first_word(rest);
        }
      } else if (!params.empty()) {
        s.set_value("extension " + keyword, n_.text(params));
      }
    }
    s.set_set("extensions", std::move(keywords));
    if (!mechanisms.empty()) s.set_set("auth mechanisms", std::move(mechanisms));
  }

  std::deque<size_t> pending_;  // steps still waiting for their final reply, oldest first
  std::optional<size_t> sasl_step_;
  std::optional<size_t> data_step_;
};

}  // namespace

std::unique_ptr<Reader> make_smtp_reader(std::vector<Draft>& drafts, const Normalizer& n) {
  return std::make_unique<SmtpReader>(drafts, n);
}

}  // namespace mailtap::diff::detail
