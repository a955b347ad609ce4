// One transcript event, as produced on the event loop. Deliberately cheap to build: raw bytes and a
// few fields; JSON encoding (text/base64 choice, decoding annotations) happens on the writer
// thread.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "mailtap/core/clock.h"

namespace mailtap::transcript {

// Who produced or receives bytes. `mailtap` marks bytes the proxy itself wrote or swallowed.
enum class Party { client, server, mailtap };

std::string_view to_string(Party p);

enum class EventType {
  connect,   // a TCP connection on a leg: accepted from the client, or made to the server
  data,      // bytes that crossed the proxy (or were dropped by it), exactly as received
  tls,       // a TLS handshake on a leg completed (fields: leg, version, cipher, sni, peer cert...)
  starttls,  // a STARTTLS/STLS transition decided on a leg (fields: leg, phase)
  warning,   // something a mail administrator should look at (fields: code, message)
  error,     // something failed (fields: code, message); often followed by close
  close,     // a leg closed (fields: leg, by, reason, bytes_in, bytes_out)
};

std::string_view to_string(EventType t);

// Frame kinds of data events: a protocol line, part of an IMAP literal, part of a message body
// (SMTP DATA / POP3 multi-line), a BDAT chunk, or unframed bytes.
enum class FrameKind { line, literal, body, chunk, raw };

std::string_view to_string(FrameKind k);

struct Event {
  Microseconds time_us = 0;
  EventType type = EventType::data;
  // data: who sent the bytes and who got them. from=client,to=server is a relayed client line;
  // from=mailtap is a synthesized message; to=mailtap means the proxy swallowed/dropped the bytes.
  Party from = Party::mailtap;
  Party to = Party::mailtap;
  FrameKind frame = FrameKind::raw;
  bool over_tls = false;  // data: whether the bytes travelled over TLS on the receiving leg
  std::string bytes;      // data: exact bytes
  nlohmann::json fields;  // other, type-specific fields (object or null)
};

// Convenience constructors used by the session layer.
Event make_data(Microseconds t, Party from, Party to, FrameKind frame, bool over_tls,
                std::string bytes);
Event make_event(Microseconds t, EventType type, nlohmann::json fields);

}  // namespace mailtap::transcript
