// IMAP as the runner plays it (RFC 9051/3501): every command line is answered by untagged data
// and its tagged completion, or by a "+" continuation (synchronizing literal, AUTHENTICATE, IDLE),
// after which the client's next line continues the same command. Literal content announced by
// {n} or {n+} is counted in octets and never read as a command.
#include <algorithm>
#include <optional>

#include "run/protocol_models.h"

namespace mailtap::run::detail {
namespace {

using transcript::FrameKind;

struct LiteralHeader {
  size_t size = 0;
  bool synchronizing = true;
};

// "{12}", "{12+}" (LITERAL+) or "~{12}" (binary) at the end of a line.
std::optional<LiteralHeader> literal_at_end(std::string_view text) {
  if (text.empty() || text.back() != '}') return std::nullopt;
  size_t open = text.rfind('{');
  if (open == std::string_view::npos) return std::nullopt;
  std::string_view inside = text.substr(open + 1, text.size() - open - 2);
  LiteralHeader h;
  if (!inside.empty() && inside.back() == '+') {
    h.synchronizing = false;
    inside.remove_suffix(1);
  }
  if (inside.empty() || inside.size() > 12) return std::nullopt;
  for (char c : inside) {
    if (c < '0' || c > '9') return std::nullopt;
    h.size = h.size * 10 + static_cast<size_t>(c - '0');
  }
  return h;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

bool is_continuation_line(std::string_view line) {
  return line == "+" || starts_with(line, "+ ");
}

class ImapModel : public ProtocolModel {
 public:
  Protocol protocol() const override { return Protocol::imap; }
  Await greeting() const override { return {Await::Kind::imap_greeting, {}, "greeting"}; }

  SendPlan plan(std::string_view bytes) override {
    SendPlan plan;
    size_t pos = 0;
    while (pos < bytes.size()) {
      if (literal_left_ > 0) {
        size_t n = std::min(literal_left_, bytes.size() - pos);
        append_frame(plan.frames, FrameKind::literal, bytes.substr(pos, n));
        literal_left_ -= n;
        pos += n;
        continuation_ = false;  // the "+" that let the literal go has been used
        continue;
      }
      std::string_view seg = next_segment(bytes, pos);
      std::string_view text = without_eol(seg);
      plan.frames.push_back({FrameKind::line, std::string(seg)});
      std::string answers;
      if (mid_command_) {
        answers = open_verb_;  // the rest of a command after a literal
      } else if (continuation_) {
        answers = open_verb_ == "AUTHENTICATE" ? "SASL" : "CONTINUATION";
        continuation_ = false;
        plan.sync = true;
      } else {
        open_tag_ = word(text, 0);
        open_verb_ = upper(word(text, 1));
        if (open_verb_ == "UID") open_verb_ += " " + upper(word(text, 2));
        answers = open_verb_;
        if (open_verb_ == "STARTTLS") {
          plan.starttls = true;
          plan.sync = true;
        } else if (open_verb_ == "AUTHENTICATE") {
          plan.auth_mechanism = upper(word(text, 2));
          plan.sync = true;
        } else if (open_verb_ == "IDLE") {
          plan.sync = true;  // "+ idling", then DONE continues the command
        }
      }
      if (auto literal = literal_at_end(text)) {
        literal_left_ = literal->size;
        mid_command_ = true;
        if (literal->synchronizing) {
          plan.awaits.push_back({Await::Kind::imap_tagged, open_tag_, "LITERAL"});
          plan.sync = true;
          plan.sync_literal = true;
        }
      } else {
        mid_command_ = false;
        plan.awaits.push_back({Await::Kind::imap_tagged, open_tag_, answers});
      }
    }
    return plan;
  }

  void on_response(const Response& r) override {
    if (r.await.kind == Await::Kind::imap_greeting) return;
    std::string last = r.last_line();
    if (is_continuation_line(last)) {
      continuation_ = true;
    } else {
      continuation_ = false;
      if (r.await.answers == "LITERAL") literal_left_ = 0;  // refused: no content follows
      mid_command_ = false;
    }
  }

  bool in_sasl() const override { return continuation_ && open_verb_ == "AUTHENTICATE"; }
  bool in_literal() const override { return literal_left_ > 0; }

  bool positive(const Response& r) const override {
    std::string last = r.last_line();
    if (r.await.kind == Await::Kind::imap_greeting)
      return starts_with(last, "* OK") || starts_with(last, "* PREAUTH");
    std::string status = upper(word(last, 1));
    return word(last, 0) == r.await.tag && status == "OK";
  }
  bool continuation(const Response& r) const override {
    return is_continuation_line(r.last_line());
  }
  std::string challenge_text(const Response& r) const override {
    std::string last = r.last_line();
    std::string text = last.size() > 2 ? last.substr(2) : std::string();
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.pop_back();
    return text;
  }

  std::string starttls_command(const std::string& tag) const override {
    return tag + " STARTTLS\r\n";
  }
  std::string auth_command(const std::string& mechanism, const std::string& tag,
                           const std::optional<std::string>& initial) const override {
    std::string line = tag + " AUTHENTICATE " + mechanism;
    if (initial) line += " " + (initial->empty() ? std::string("=") : *initial);
    return line + "\r\n";
  }
  bool sends_initial_response() const override { return false; }

 private:
  std::string open_tag_, open_verb_;
  bool continuation_ = false;  // the open command's last response was "+"
  bool mid_command_ = false;   // a literal interrupted the command line
  size_t literal_left_ = 0;
};

}  // namespace

std::unique_ptr<ProtocolModel> make_imap_model() {
  return std::make_unique<ImapModel>();
}

}  // namespace mailtap::run::detail
