#include "mailtap/session/protocol_rules.h"

#include <string>

#include "session/rules_factories.h"
#include "session/text_util.h"

namespace mailtap::session {

std::string continuation_to_starttls(std::string_view line) {
  return "the upstream answered STARTTLS with a continuation request (\"" +
         std::string(trim_crlf(line)) +
         "\"), which is no reply to it; TLS to the upstream is required, so mailtap ended the "
         "session";
}

std::unique_ptr<ProtocolRules> make_protocol_rules(Protocol protocol, std::string ehlo_name) {
  switch (protocol) {
    case Protocol::smtp: return make_smtp_rules(std::move(ehlo_name));
    case Protocol::imap: return make_imap_rules();
    case Protocol::pop3: return make_pop3_rules();
  }
  return nullptr;
}

}  // namespace mailtap::session
