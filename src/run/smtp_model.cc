// SMTP as the runner plays it (RFC 5321, AUTH RFC 4954, CHUNKING RFC 3030): one reply per command
// line, DATA content between 354 and ".", BDAT chunks counted in octets, SASL lines after 334.
#include <algorithm>
#include <cctype>

#include "run/protocol_models.h"

namespace mailtap::run::detail {
namespace {

using transcript::FrameKind;

std::string reply_code(const Response& r) {
  std::string last = r.last_line();
  return last.size() >= 3 ? last.substr(0, 3) : std::string();
}

class SmtpModel : public ProtocolModel {
 public:
  Protocol protocol() const override { return Protocol::smtp; }
  Await greeting() const override { return {Await::Kind::smtp_reply, {}, "greeting"}; }

  SendPlan plan(std::string_view bytes) override {
    SendPlan plan;
    size_t pos = 0;
    while (pos < bytes.size()) {
      if (chunk_left_ > 0) {
        size_t n = std::min(chunk_left_, bytes.size() - pos);
        append_frame(plan.frames, FrameKind::chunk, bytes.substr(pos, n));
        chunk_left_ -= n;
        pos += n;
        continue;
      }
      std::string_view seg = next_segment(bytes, pos);
      std::string_view text = without_eol(seg);
      if (mode_ == Mode::body) {
        if (text == ".") {
          plan.frames.push_back({FrameKind::line, std::string(seg)});
          plan.awaits.push_back({Await::Kind::smtp_reply, {}, "."});
          mode_ = Mode::command;
        } else {
          append_frame(plan.frames, FrameKind::body, seg);
        }
        continue;
      }
      plan.frames.push_back({FrameKind::line, std::string(seg)});
      if (mode_ == Mode::sasl) {
        plan.awaits.push_back({Await::Kind::smtp_reply, {}, "SASL"});
        plan.sync = true;
        continue;
      }
      std::string verb = upper(word(text, 0));
      plan.awaits.push_back({Await::Kind::smtp_reply, {}, verb});
      if (verb == "STARTTLS") {
        plan.starttls = true;
        plan.sync = true;
      } else if (verb == "AUTH") {
        plan.auth_mechanism = upper(word(text, 1));
        plan.sync = true;
      } else if (verb == "DATA") {
        plan.sync = true;  // the 354 decides whether what follows is content
      } else if (verb == "BDAT") {
        try {
          chunk_left_ = std::stoull(word(text, 1));
        } catch (...) {
          chunk_left_ = 0;
        }
      }
    }
    return plan;
  }

  void on_response(const Response& r) override {
    std::string code = reply_code(r);
    const std::string& answers = r.await.answers;
    if (answers == "DATA") {
      mode_ = code == "354" ? Mode::body : Mode::command;
    } else if (answers == "AUTH" || answers == "SASL") {
      mode_ = code == "334" ? Mode::sasl : Mode::command;
    }
  }

  bool in_message_body() const override { return mode_ == Mode::body; }
  bool in_sasl() const override { return mode_ == Mode::sasl; }

  bool positive(const Response& r) const override {
    std::string code = reply_code(r);
    return !code.empty() && (code[0] == '2' || code[0] == '3');
  }
  bool continuation(const Response& r) const override { return reply_code(r) == "334"; }
  std::string challenge_text(const Response& r) const override {
    std::string last = r.last_line();
    std::string text = last.size() > 4 ? last.substr(4) : std::string();
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.pop_back();
    return text;
  }

  std::string starttls_command(const std::string&) const override { return "STARTTLS\r\n"; }
  std::string auth_command(const std::string& mechanism, const std::string&,
                           const std::optional<std::string>& initial) const override {
    std::string line = "AUTH " + mechanism;
    if (initial) line += " " + (initial->empty() ? std::string("=") : *initial);
    return line + "\r\n";
  }
  bool sends_initial_response() const override { return true; }

 private:
  enum class Mode { command, body, sasl };
  Mode mode_ = Mode::command;
  size_t chunk_left_ = 0;
};

}  // namespace

std::unique_ptr<ProtocolModel> make_smtp_model() {
  return std::make_unique<SmtpModel>();
}

}  // namespace mailtap::run::detail
