// POP3 specifics for the session: STLS (RFC 2595), +OK/-ERR, mailtap's own words, and the STLS
// line of CAPA responses (RFC 2449).
#include "mailtap/session/protocol_rules.h"
#include "session/rules_factories.h"
#include "session/text_util.h"

namespace mailtap::session {
namespace {

bool is_ok(std::string_view line) { return line.rfind("+OK", 0) == 0; }

class Pop3Rules final : public ProtocolRules {
 public:
  ClientCommand parse_client_line(std::string_view line) const override {
    ClientCommand c;
    c.verb = upper(word(line, 0));
    c.starttls = c.verb == "STLS";
    c.credentials = c.verb == "USER" || c.verb == "PASS" || c.verb == "APOP" ||
                    (c.verb == "AUTH" && !word(line, 1).empty());
    return c;
  }

  ReplyState greeting_line(std::string_view line) const override {
    return is_ok(line) ? ReplyState::positive : ReplyState::negative;
  }
  ReplyState starttls_reply(std::string_view line, std::string_view) const override {
    return is_ok(line) ? ReplyState::positive : ReplyState::negative;
  }

  // "+ " (RFC 5034 SASL) and anything else starting with '+' that is not "+OK".
  bool is_continuation(std::string_view line) const override {
    return !line.empty() && line[0] == '+' && !is_ok(line);
  }

  std::string fatal_error(std::string_view reason) const override {
    return "-ERR mailtap: " + std::string(reason) + "\r\n";
  }
  std::string starttls_ok(std::string_view) const override {
    return "+OK Begin TLS negotiation (mailtap)\r\n";
  }
  std::string starttls_refused(std::string_view, std::string_view reason) const override {
    return "-ERR mailtap: " + std::string(reason) + "\r\n";
  }
  std::string tls_required(std::string_view) const override {
    return "-ERR mailtap: TLS to the upstream is required; issue STLS first\r\n";
  }
  std::string command_refused(std::string_view, std::string_view reason) const override {
    return "-ERR mailtap: " + std::string(reason) + "\r\n";
  }

  NegotiationStep negotiation_start(std::string_view) override {
    return {NegotiationStep::Action::send, "STLS\r\n", {}};
  }
  NegotiationStep negotiation_line(std::string_view line) override {
    using A = NegotiationStep::Action;
    if (is_continuation(line)) return {A::fail, {}, continuation_to_starttls(line)};
    if (is_ok(line)) return {A::start_tls, {}, {}};
    return {A::fail, {}, "the upstream refused STLS: " + std::string(trim_crlf(line))};
  }

  void on_forwarded_client_line(std::string_view) override {}

  Rewrite rewrite_server_line(std::string_view line, const CapabilityPolicy& policy,
                              std::string_view answers) override {
    using A = Rewrite::Action;
    // Only the CAPA reply lists capabilities; the framing pairs it, pipelined or not.
    if (answers != "CAPA") {
      capa_ = Capa::none;
      return {};
    }
    switch (capa_) {
      case Capa::none:  // the status line of the CAPA reply
        capa_ = is_ok(line) ? Capa::listing : Capa::none;
        seen_stls_ = false;
        return {};
      case Capa::listing: break;
    }
    std::string_view text = trim_crlf(line);
    if (text == ".") {
      capa_ = Capa::none;
      if (policy.offer_starttls && !seen_stls_) return {A::replace, "STLS\r\n" + std::string(line)};
      return {};
    }
    if (upper(word(text, 0)) == "STLS") {
      seen_stls_ = true;
      if (policy.hide_starttls) return {A::replace, {}};
    }
    return {};
  }

 private:
  enum class Capa { none, listing };
  Capa capa_ = Capa::none;
  bool seen_stls_ = false;
};

}  // namespace

std::unique_ptr<ProtocolRules> make_pop3_rules() { return std::make_unique<Pop3Rules>(); }

}  // namespace mailtap::session
