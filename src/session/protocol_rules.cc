#include "mailtap/session/protocol_rules.h"

#include "session/rules_factories.h"

namespace mailtap::session {

std::unique_ptr<ProtocolRules> make_protocol_rules(Protocol protocol, std::string ehlo_name) {
  switch (protocol) {
    case Protocol::smtp: return make_smtp_rules(std::move(ehlo_name));
    case Protocol::imap: return make_imap_rules();
    case Protocol::pop3: return make_pop3_rules();
  }
  return nullptr;
}

}  // namespace mailtap::session
