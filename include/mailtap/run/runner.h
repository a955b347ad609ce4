// Plays one script against one server and checks every answer: connects (implicit TLS or
// STARTTLS as asked), sends the client lines, waits for complete responses, matches them with the
// S: blocks, recomputes SASL from the credentials, and records the run's own transcript.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mailtap/core/protocol.h"
#include "mailtap/run/script.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace mailtap::transcript {
class TranscriptWriter;
}

namespace mailtap::run {

struct RunOptions {
  std::string host;
  uint16_t port = 0;
  Protocol protocol = Protocol::smtp;
  TlsMode tls = TlsMode::plain;
  std::shared_ptr<SSL_CTX> tls_context;  // client role (make_upstream_context); needed for TLS
  std::string server_name;               // SNI and the name verified; default: host
  bool insecure = false;                 // recorded in the transcript header
  std::map<std::string, std::string> variables;    // --var: wins over `set` in the script
  double timeout_seconds = 10;                     // per response
  double connect_timeout_seconds = 10;             // TCP connect and TLS handshake
  bool fail_fast = false;                          // stop at the first failed step
  transcript::TranscriptWriter* writer = nullptr;  // the run's own transcript; null: none
  std::string session_id;                          // for the transcript
  std::string unique;                              // value of ${unique}
  std::string scram_client_nonce;                  // tests only: a fixed SCRAM nonce
};

struct StepResult {
  enum class Status {
    pass,       // the S: block matched
    fail,       // it did not, or a required reply was negative
    unchecked,  // responses read without an S: block to check them
    error,      // the step could not be played (server closed, timed out, TLS failed)
  };
  Status status = Status::unchecked;
  SourceLocation where;
  std::vector<std::string> sent;      // what was sent, secrets shown as their ${...} template
  std::vector<std::string> expected;  // the S: lines as written
  std::vector<std::string> received;  // what the server said, line by line
  std::string note;                   // one line: what happened
  std::string difference;             // for failures: expected vs received, aligned
};

struct RunResult {
  enum class Outcome { passed, failed, error };
  Outcome outcome = Outcome::passed;
  std::string script;
  std::string target;  // host:port
  Protocol protocol = Protocol::smtp;
  TlsMode tls = TlsMode::plain;
  std::vector<StepResult> steps;
  std::string error;  // outcome error: why the script could not run (with file:line if known)
  double seconds = 0;
  std::string transcript_path;

  size_t count(StepResult::Status status) const;
  int exit_status() const;  // 0 passed, 1 failed, 2 error
};

RunResult run_script(const Script& script, const RunOptions& options);

}  // namespace mailtap::run
