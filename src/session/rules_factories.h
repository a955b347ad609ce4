// Per-protocol rules constructors (private to the session layer).
#pragma once

#include <memory>
#include <string>

#include "mailtap/session/protocol_rules.h"

namespace mailtap::session {

std::unique_ptr<ProtocolRules> make_smtp_rules(std::string ehlo_name);
std::unique_ptr<ProtocolRules> make_imap_rules();
std::unique_ptr<ProtocolRules> make_pop3_rules();

}  // namespace mailtap::session
