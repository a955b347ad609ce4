#include "mailtap/session/framing.h"

#include "session/framing_factories.h"

namespace mailtap::session {

std::unique_ptr<Framing> make_framing(Protocol protocol, const LineLimits& limits) {
  switch (protocol) {
    case Protocol::smtp: return make_smtp_framing(limits);
    case Protocol::imap: return make_imap_framing(limits);
    case Protocol::pop3: return make_pop3_framing(limits);
  }
  return nullptr;
}

}  // namespace mailtap::session
