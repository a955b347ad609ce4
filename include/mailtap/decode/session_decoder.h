// Protocol decoding for transcripts: turns the raw events of one session into explained ones.
// Runs on the transcript writer thread, in event order, never on the event loop.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "mailtap/core/protocol.h"
#include "mailtap/transcript/event.h"

namespace mailtap::decode {

struct DecodeOptions {
  bool reveal_secrets = false;  // --reveal-secrets: keep passwords/tokens in the transcript
  std::string redaction_key;    // key for the short keyed hash that stands in for a secret
};

class SessionDecoder {
 public:
  virtual ~SessionDecoder() = default;
  // Sees every event of the session in order. `out` is a JSON object whose keys are merged into
  // the line written for this event: it holds at least "seq" (the event's number in the session);
  // the writer may also pass the whole line (t/seq/type/from/to/frame/text|b64 ...), as tests and
  // non-data events do. The decoder may add "decoded" (object), "note" (string), "warnings" (array
  // of {code,message}) and, to redact a secret, set "text" or "b64" (which then stands for the
  // event's bytes: erase the other) and "redacted": true. A key it sets wins over the event's.
  virtual void annotate(const transcript::Event& event, nlohmann::json& out) = 0;
};

// A decoder for the protocol, or a pass-through one that adds nothing when decoding is unavailable.
std::unique_ptr<SessionDecoder> make_session_decoder(Protocol protocol, const DecodeOptions& options);

}  // namespace mailtap::decode
