// Per-protocol rules constructors (private to the session layer).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "mailtap/session/protocol_rules.h"

namespace mailtap::session {

std::unique_ptr<ProtocolRules> make_smtp_rules(std::string ehlo_name);
std::unique_ptr<ProtocolRules> make_imap_rules();
std::unique_ptr<ProtocolRules> make_pop3_rules();

// Why mailtap ends a session whose upstream answered STARTTLS with `line`, a continuation request.
std::string continuation_to_starttls(std::string_view line);

}  // namespace mailtap::session
