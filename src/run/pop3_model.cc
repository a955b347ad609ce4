// POP3 as the runner plays it (RFC 1939, CAPA/STLS RFC 2449/2595, AUTH RFC 5034): one status line
// per command; RETR/TOP, CAPA and argument-less LIST/UIDL add a dot-terminated body after +OK;
// AUTH continues with "+ challenge" lines answered by SASL messages.
#include "run/protocol_models.h"

namespace mailtap::run::detail {
namespace {

using transcript::FrameKind;

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

bool is_continuation_line(std::string_view line) {
  return line == "+" || starts_with(line, "+ ");
}

class Pop3Model : public ProtocolModel {
 public:
  Protocol protocol() const override { return Protocol::pop3; }
  Await greeting() const override { return {Await::Kind::pop3_line, {}, "greeting"}; }

  SendPlan plan(std::string_view bytes) override {
    SendPlan plan;
    size_t pos = 0;
    while (pos < bytes.size()) {
      std::string_view seg = next_segment(bytes, pos);
      std::string_view text = without_eol(seg);
      plan.frames.push_back({FrameKind::line, std::string(seg)});
      if (sasl_) {
        plan.awaits.push_back({Await::Kind::pop3_line, {}, "SASL"});
        plan.sync = true;
        continue;
      }
      std::string verb = upper(word(text, 0));
      bool has_arg = !word(text, 1).empty();
      Await::Kind kind = Await::Kind::pop3_line;
      if (verb == "RETR" || verb == "TOP") {
        kind = Await::Kind::pop3_body;
      } else if (verb == "CAPA" || ((verb == "LIST" || verb == "UIDL") && !has_arg)) {
        kind = Await::Kind::pop3_list;
      } else if (verb == "AUTH") {
        if (has_arg) {
          plan.auth_mechanism = upper(word(text, 1));
          plan.sync = true;
        } else {
          kind = Await::Kind::pop3_list;  // the list of mechanisms
        }
      } else if (verb == "STLS") {
        plan.starttls = true;
        plan.sync = true;
      }
      plan.awaits.push_back({kind, {}, verb});
    }
    return plan;
  }

  void on_response(const Response& r) override {
    if (r.await.answers == "AUTH" || r.await.answers == "SASL")
      sasl_ = is_continuation_line(r.first_line());
  }

  bool in_sasl() const override { return sasl_; }

  bool positive(const Response& r) const override { return starts_with(r.first_line(), "+OK"); }
  bool continuation(const Response& r) const override {
    return is_continuation_line(r.first_line());
  }
  std::string challenge_text(const Response& r) const override {
    std::string first = r.first_line();
    std::string text = first.size() > 2 ? first.substr(2) : std::string();
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.pop_back();
    return text;
  }

  std::string starttls_command(const std::string&) const override { return "STLS\r\n"; }
  std::string auth_command(const std::string& mechanism, const std::string&,
                           const std::optional<std::string>& initial) const override {
    std::string line = "AUTH " + mechanism;
    if (initial) line += " " + (initial->empty() ? std::string("=") : *initial);
    return line + "\r\n";
  }
  bool sends_initial_response() const override { return true; }

 private:
  bool sasl_ = false;
};

}  // namespace

std::unique_ptr<ProtocolModel> make_pop3_model() {
  return std::make_unique<Pop3Model>();
}

}  // namespace mailtap::run::detail
