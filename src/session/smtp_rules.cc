// SMTP specifics for the session: STARTTLS (RFC 3207), replies, mailtap's own words, and the
// STARTTLS keyword in EHLO replies.
#include "mailtap/session/protocol_rules.h"
#include "session/rules_factories.h"
#include "session/text_util.h"

namespace mailtap::session {
namespace {

bool is_final(std::string_view line) {
  std::string_view t = trim_crlf(line);
  return t.size() < 4 || t[3] != '-';
}

std::string_view code_of(std::string_view line) { return line.substr(0, std::min<size_t>(3, line.size())); }

// The EHLO keyword of a reply line "250-KEYWORD params" / "250 KEYWORD".
std::string keyword_of(std::string_view line) {
  std::string_view t = trim_crlf(line);
  if (t.size() < 4) return {};
  return upper(word(t.substr(4), 0));
}

class SmtpRules final : public ProtocolRules {
 public:
  explicit SmtpRules(std::string ehlo_name) : ehlo_name_(std::move(ehlo_name)) {}

  ClientCommand parse_client_line(std::string_view line) const override {
    ClientCommand c;
    c.verb = upper(word(line, 0));
    c.starttls = c.verb == "STARTTLS";
    c.credentials = c.verb == "AUTH";
    return c;
  }

  ReplyState greeting_line(std::string_view line) const override {
    if (!is_final(line)) return ReplyState::more;
    return code_of(line) == "220" ? ReplyState::positive : ReplyState::negative;
  }

  ReplyState starttls_reply(std::string_view line, std::string_view) const override {
    if (!is_final(line)) return ReplyState::more;
    return code_of(line) == "220" ? ReplyState::positive : ReplyState::negative;
  }

  bool is_continuation(std::string_view line) const override {
    return line.size() >= 3 && line[0] == '3';
  }

  bool is_goodbye(std::string_view line) const override {
    return is_final(line) && code_of(line) == "421";
  }

  std::string fatal_error(std::string_view reason) const override {
    return "421 4.4.0 mailtap: " + std::string(reason) + "\r\n";
  }
  std::string starttls_ok(std::string_view) const override {
    return "220 2.0.0 Ready to start TLS (mailtap)\r\n";
  }
  std::string starttls_refused(std::string_view, std::string_view reason) const override {
    return "454 4.7.0 mailtap: " + std::string(reason) + "\r\n";
  }
  std::string tls_required(std::string_view) const override {
    return "530 5.7.0 mailtap: must issue a STARTTLS command first (TLS to the upstream is "
           "required)\r\n";
  }
  std::string command_refused(std::string_view, std::string_view reason) const override {
    return "502 5.5.1 mailtap: " + std::string(reason) + "\r\n";
  }

  NegotiationStep negotiation_start(std::string_view) override {
    phase_ = Phase::ehlo;
    offered_ = false;
    return {NegotiationStep::Action::send, "EHLO " + ehlo_name_ + "\r\n", {}};
  }

  NegotiationStep negotiation_line(std::string_view line) override {
    using A = NegotiationStep::Action;
    if (phase_ == Phase::ehlo) {
      if (keyword_of(line) == "STARTTLS") offered_ = true;
      if (!is_final(line)) return {};
      if (code_of(line) != "250")
        return {A::fail, {}, "the upstream rejected EHLO: " + std::string(trim_crlf(line))};
      if (!offered_)
        return {A::fail, {},
                "the upstream does not offer STARTTLS and TLS to it is required "
                "(use --upstream-tls plain to allow cleartext)"};
      phase_ = Phase::starttls;
      return {A::send, "STARTTLS\r\n", {}};
    }
    if (phase_ == Phase::starttls) {
      if (is_continuation(line)) {
        phase_ = Phase::done;
        return {A::fail, {}, continuation_to_starttls(line)};
      }
      ReplyState r = starttls_reply(line, {});
      if (r == ReplyState::more) return {};
      phase_ = Phase::done;
      if (r == ReplyState::positive) return {A::start_tls, {}, {}};
      return {A::fail, {}, "the upstream refused STARTTLS: " + std::string(trim_crlf(line))};
    }
    return {};
  }

  void on_forwarded_client_line(std::string_view) override {}

  Rewrite rewrite_server_line(std::string_view line, const CapabilityPolicy& policy,
                              std::string_view answers) override {
    using A = Rewrite::Action;
    // Only the EHLO reply lists capabilities; the framing pairs it, pipelined or not.
    if (answers != "EHLO") return {};
    bool change = policy.offer_starttls || policy.hide_starttls;
    if (!change && held_.empty()) return {};
    // The whole reply is needed: removing the last line changes the one before it.
    held_.emplace_back(line);
    if (!is_final(line)) return {A::hold, {}};
    std::vector<std::string> lines;
    lines.swap(held_);
    std::string original;
    for (const auto& l : lines) original += l;
    std::string rebuilt = rebuild(lines, policy);
    if (rebuilt == original) return {};
    return {A::replace, std::move(rebuilt)};
  }

 private:
  // Rewrites a complete EHLO reply: STARTTLS added or removed, continuation marks fixed.
  static std::string rebuild(const std::vector<std::string>& lines, const CapabilityPolicy& p) {
    if (lines.empty() || code_of(lines.front()) != "250") {
      std::string all;
      for (const auto& l : lines) all += l;
      return all;
    }
    std::vector<std::string> texts;  // the part after "250-"/"250 ", CRLF excluded
    bool has_starttls = false;
    for (size_t i = 0; i < lines.size(); ++i) {
      std::string_view t = trim_crlf(lines[i]);
      std::string text(t.size() > 4 ? t.substr(4) : std::string_view());
      bool is_starttls = i > 0 && upper(word(text, 0)) == "STARTTLS";
      has_starttls |= is_starttls;
      if (is_starttls && p.hide_starttls) continue;
      texts.push_back(text);
    }
    if (p.offer_starttls && !has_starttls) texts.push_back("STARTTLS");
    std::string out;
    for (size_t i = 0; i < texts.size(); ++i)
      out += (i + 1 < texts.size() ? "250-" : "250 ") + texts[i] + "\r\n";
    return out;
  }

  enum class Phase { idle, ehlo, starttls, done };
  std::string ehlo_name_;
  Phase phase_ = Phase::idle;
  bool offered_ = false;
  std::vector<std::string> held_;
};

}  // namespace

std::unique_ptr<ProtocolRules> make_smtp_rules(std::string ehlo_name) {
  return std::make_unique<SmtpRules>(std::move(ehlo_name));
}

}  // namespace mailtap::session
