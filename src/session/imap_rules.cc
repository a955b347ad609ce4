// IMAP specifics for the session: STARTTLS (RFC 3501 6.2.1 / 9051), tagged replies, mailtap's own
// words, and the STARTTLS, LOGINDISABLED and COMPRESS=DEFLATE capabilities.
#include "mailtap/session/protocol_rules.h"
#include "session/rules_factories.h"
#include "session/text_util.h"

namespace mailtap::session {
namespace {

constexpr std::string_view kOwnTag = "mailtap1";

std::string tag_or_star(std::string_view tag) { return tag.empty() ? "*" : std::string(tag); }

class ImapRules final : public ProtocolRules {
 public:
  ClientCommand parse_client_line(std::string_view line) const override {
    ClientCommand c;
    c.tag = std::string(word(line, 0));
    c.verb = upper(word(line, 1));
    c.starttls = c.verb == "STARTTLS";
    c.credentials = c.verb == "LOGIN" || c.verb == "AUTHENTICATE";
    c.compress = c.verb == "COMPRESS";
    return c;
  }

  ReplyState greeting_line(std::string_view line) const override {
    if (word(line, 0) != "*") return ReplyState::more;
    std::string status = upper(word(line, 1));
    if (status == "OK" || status == "PREAUTH") return ReplyState::positive;
    if (status == "BYE") return ReplyState::negative;
    return ReplyState::more;
  }

  ReplyState starttls_reply(std::string_view line, std::string_view tag) const override {
    if (word(line, 0) != tag) return ReplyState::more;
    return upper(word(line, 1)) == "OK" ? ReplyState::positive : ReplyState::negative;
  }

  bool is_continuation(std::string_view line) const override { return word(line, 0) == "+"; }

  bool is_goodbye(std::string_view line) const override {
    return word(line, 0) == "*" && upper(word(line, 1)) == "BYE";
  }

  std::string fatal_error(std::string_view reason) const override {
    return "* BYE mailtap: " + std::string(reason) + "\r\n";
  }
  std::string starttls_ok(std::string_view tag) const override {
    return tag_or_star(tag) + " OK Begin TLS negotiation now (mailtap)\r\n";
  }
  std::string starttls_refused(std::string_view tag, std::string_view reason) const override {
    return tag_or_star(tag) + " NO mailtap: " + std::string(reason) + "\r\n";
  }
  std::string tls_required(std::string_view tag) const override {
    return tag_or_star(tag) +
           " NO [PRIVACYREQUIRED] mailtap: TLS to the upstream is required; issue STARTTLS "
           "first\r\n";
  }
  std::string command_refused(std::string_view tag, std::string_view reason) const override {
    return tag_or_star(tag) + " NO mailtap: " + std::string(reason) + "\r\n";
  }

  std::string starttls_impossible(std::string_view greeting) const override {
    if (upper(word(greeting, 1)) != "PREAUTH") return {};
    return "the upstream greeted with PREAUTH (already authenticated), so STARTTLS is "
           "impossible and TLS to it is required";
  }

  NegotiationStep negotiation_start(std::string_view greeting) override {
    using A = NegotiationStep::Action;
    if (std::string why = starttls_impossible(greeting); !why.empty()) return {A::fail, {}, why};
    return {A::send, std::string(kOwnTag) + " STARTTLS\r\n", {}};
  }

  NegotiationStep negotiation_line(std::string_view line) override {
    using A = NegotiationStep::Action;
    if (is_continuation(line)) return {A::fail, {}, continuation_to_starttls(line)};
    ReplyState r = starttls_reply(line, kOwnTag);
    if (r == ReplyState::more) return {};
    if (r == ReplyState::positive) return {A::start_tls, {}, {}};
    return {A::fail, {}, "the upstream refused STARTTLS: " + std::string(trim_crlf(line))};
  }

  void on_forwarded_client_line(std::string_view) override {}

  Rewrite rewrite_server_line(std::string_view line, const CapabilityPolicy& policy,
                              std::string_view /*answers: IMAP has tags*/) override {
    std::string_view text = trim_crlf(line);
    size_t begin, end;
    std::string head = upper(text.substr(0, std::min<size_t>(text.size(), 13)));
    if (head == "* CAPABILITY ") {
      begin = 13;
      end = text.size();
    } else {
      std::string up = upper(text);
      size_t code = up.find("[CAPABILITY ");
      if (code == std::string::npos) return {};
      begin = code + 12;
      end = up.find(']', begin);
      if (end == std::string::npos) return {};
    }
    std::vector<std::string> caps;
    bool changed = false, has_starttls = false;
    std::string_view list = text.substr(begin, end - begin);
    for (size_t i = 0;; ++i) {
      std::string_view cap = word(list, i);
      if (cap.empty()) break;
      std::string u = upper(cap);
      bool drop = u == "COMPRESS=DEFLATE" || (u == "STARTTLS" && policy.hide_starttls) ||
                  (u == "LOGINDISABLED" && policy.hide_logindisabled);
      has_starttls |= u == "STARTTLS";
      if (drop) {
        changed = true;
        continue;
      }
      caps.emplace_back(cap);
    }
    if (policy.offer_starttls && !has_starttls) {
      caps.emplace_back("STARTTLS");
      changed = true;
    }
    if (!changed) return {};
    std::string joined;
    for (const auto& c : caps) joined += (joined.empty() ? "" : " ") + c;
    return {Rewrite::Action::replace,
            std::string(text.substr(0, begin)) + joined + std::string(text.substr(end)) + "\r\n"};
  }
};

}  // namespace

std::unique_ptr<ProtocolRules> make_imap_rules() { return std::make_unique<ImapRules>(); }

}  // namespace mailtap::session
