// What the I/O layer tells a session: a closed set, visited by Session::handle.
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "mailtap/core/side.h"
#include "mailtap/tls/tls_info.h"

namespace mailtap::session {

struct ClientAccepted {
  std::string peer;   // "127.0.0.1:54122"
  std::string local;  // the listener address the client reached
};
struct UpstreamConnected {
  std::string peer;
};
struct UpstreamConnectFailed {
  std::string reason;
};
// Plaintext bytes from a leg (already decrypted when the leg is TLS).
struct BytesReceived {
  Side side;
  std::string_view bytes;
};
struct TlsEstablished {
  Side side;
  tls::TlsInfo info;
};
struct TlsFailed {
  Side side;
  std::string reason;
};
// The peer ended its side: `reset` for an error (ECONNRESET...), false for an orderly EOF.
struct PeerClosed {
  Side side;
  bool reset = false;
  std::string reason;
};
// A deadline passed: "connect", "TLS handshake", "idle", "incomplete line".
struct TimedOut {
  std::string what;
};
// mailtap ends the session: the process is shutting down (SIGINT/SIGTERM), or, with
// process_stopping false, this one session cannot go on (its transcript cannot be written).
struct ShutdownRequested {
  std::string reason;
  bool process_stopping = true;
};

using Event = std::variant<ClientAccepted, UpstreamConnected, UpstreamConnectFailed, BytesReceived,
                           TlsEstablished, TlsFailed, PeerClosed, TimedOut, ShutdownRequested>;

}  // namespace mailtap::session
