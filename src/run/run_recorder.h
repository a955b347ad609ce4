// Internal: the run's own transcript, in the proxy's format so a replay can be compared with its
// capture. The runner is the client: its lines are client -> server, the server's answers
// server -> client, and what mailtap adds on its own (STARTTLS for --tls starttls) mailtap ->
// server.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "mailtap/core/protocol.h"
#include "mailtap/session/framing.h"
#include "mailtap/transcript/event.h"

namespace mailtap::transcript {
class TranscriptWriter;
class SessionTranscript;
}  // namespace mailtap::transcript

namespace mailtap::run {

class RunRecorder {
 public:
  struct Session {
    std::string id;
    Protocol protocol = Protocol::smtp;
    std::string target;
    TlsMode tls = TlsMode::plain;
    bool insecure = false;
    std::string script;
  };

  // No writer: records nothing.
  RunRecorder(transcript::TranscriptWriter* writer, const Session& session);
  ~RunRecorder();
  RunRecorder(const RunRecorder&) = delete;
  RunRecorder& operator=(const RunRecorder&) = delete;

  void data(transcript::Party from, transcript::Party to, const session::Frame& frame,
            bool over_tls);
  void event(transcript::EventType type, nlohmann::json fields);
  // Closes the transcript; returns its path ("" when nothing was recorded).
  std::string finish();

 private:
  std::shared_ptr<transcript::SessionTranscript> transcript_;
};

}  // namespace mailtap::run
