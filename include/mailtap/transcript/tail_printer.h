// The live view (`mailtap proxy --tail`): turns encoded transcript lines into one human line per
// exchange, the way mitmdump shows HTTP:
//
//   [s000001 smtp 127.0.0.1:5555] == session s000001 smtp from 127.0.0.1:5555 ...
//   [s000001 smtp 127.0.0.1:5555] C: EHLO localhost   # hello from localhost
//   [s000001 smtp 127.0.0.1:5555] S: 250-PIPELINING
//   [s000001 smtp 127.0.0.1:5555] == TLS client leg TLSv1.3 TLS_AES_256_GCM_SHA384 sni=localhost
//   [s000001 smtp 127.0.0.1:5555] C: <body 1234 bytes>
//   [s000001 smtp 127.0.0.1:5555] !! warning starttls_injection: ...
//
// `C:` client, `S:` server, `P:` bytes mailtap wrote itself. Consecutive pieces of one message
// body, literal or BDAT chunk are summarised as one line when the next other line of the session
// arrives.
#pragma once

#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>

#include "mailtap/transcript/transcript_writer.h"

namespace mailtap::transcript {

struct TailOptions {
  bool color = false;           // ANSI colours (for a terminal)
  size_t max_line_chars = 300;  // longer lines are cut with "... (N more bytes)"
};

class TailPrinter {
 public:
  explicit TailPrinter(std::FILE* out, TailOptions options = {});
  TailPrinter(const TailPrinter&) = delete;
  TailPrinter& operator=(const TailPrinter&) = delete;

  // Prints one encoded line (the header or an event) of `session_id`. Thread-safe.
  void print(const std::string& session_id, const nlohmann::json& line);
  // The session is over: prints any summary still pending and drops its state.
  void forget(const std::string& session_id);

  // Sets `options.observer` and `options.session_finished` to this printer. The printer must
  // outlive the TranscriptWriter built from those options.
  void attach(WriterOptions& options);

 private:
  struct PendingContent {
    std::string speaker, frame, suffix;
    size_t bytes = 0;
    size_t pieces = 0;
  };
  struct SessionState {
    std::string prefix;
    PendingContent pending;
  };

  void flush_pending(SessionState& s);
  void emit(const SessionState& s, const std::string& marker, const char* color,
            const std::string& text, const std::string& note);
  SessionState& state_for(const std::string& session_id);

  std::FILE* out_;
  TailOptions options_;
  std::mutex mutex_;
  std::unordered_map<std::string, SessionState> sessions_;
};

}  // namespace mailtap::transcript
