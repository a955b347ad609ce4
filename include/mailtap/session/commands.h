// What a session asks the I/O layer to do: a closed set, executed in order.
#pragma once

#include <string>
#include <variant>

#include "mailtap/core/side.h"
#include "mailtap/tls/cert_authority.h"

namespace mailtap::session {

struct ConnectUpstream {};
// Plaintext for a leg (encrypted by the I/O layer when the leg is TLS).
struct Send {
  Side side;
  std::string bytes;
};
// Start TLS on a leg: server role on the client leg (leaf mirrors `leaf`), client role upstream.
// Bytes received on that leg from now on are TLS records.
struct StartTls {
  Side side;
  tls::LeafSpec leaf;
};
// Begin reading a leg (the client leg is not read until the upstream is ready).
struct StartReading {
  Side side;
};
// Half close: shut down the write side of a leg once its pending writes are flushed.
struct ShutdownWrite {
  Side side;
};
// End the session: flush pending writes on both legs, then close both.
struct Close {
  std::string reason;
};

using Command = std::variant<ConnectUpstream, Send, StartTls, StartReading, ShutdownWrite, Close>;

}  // namespace mailtap::session
