// Per-protocol framing constructors (private to the session layer).
#pragma once

#include <memory>

#include "mailtap/session/framing.h"

namespace mailtap::session {

std::unique_ptr<Framing> make_smtp_framing(const LineLimits& limits);
std::unique_ptr<Framing> make_imap_framing(const LineLimits& limits);
std::unique_ptr<Framing> make_pop3_framing(const LineLimits& limits);

}  // namespace mailtap::session
