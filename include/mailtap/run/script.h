// What `mailtap run` plays: a list of client sends, server expectations and directives, read from
// a text script (script_parser.h) or built from a captured transcript (transcript_import.h).
// The format is documented in docs/runner-script-format.md.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "mailtap/core/protocol.h"

namespace mailtap::run {

struct SourceLocation {
  std::string file;         // script path, or the transcript path
  size_t line = 0;          // 1-based; 0 when unknown
  std::string str() const;  // "file:line"
};

// A script that cannot be run: what() is "file:line: problem".
class ScriptError : public std::runtime_error {
 public:
  ScriptError(const SourceLocation& where, const std::string& problem);
  const SourceLocation& where() const { return where_; }
  const std::string& problem() const { return problem_; }

 private:
  SourceLocation where_;
  std::string problem_;
};

struct ScriptItem {
  enum class Kind {
    send,          // C: a client line (text is a template; CRLF appended) or exact bytes (raw)
    expect,        // S: one expectation line (consecutive ones form a block)
    set,           // set name=value (value is a template)
    auth,          // !auth MECH [TAG]: the whole SASL exchange from the credentials
    starttls,      // !starttls: the protocol's STARTTLS command, a positive reply, the handshake
    sleep,         // !sleep SECONDS
    close,         // !close: the client closes the connection
    expect_close,  // !expect-close: the server must close the connection
  };
  Kind kind = Kind::send;
  SourceLocation where;
  std::string text;  // send: template or raw bytes; expect: the expectation as written; set: value
  bool raw = false;  // send: `text` is exact bytes with their own line end, never expanded
  std::string name;  // set: variable name; auth: mechanism
  std::string tag;   // auth: IMAP tag (empty: generated)
  double seconds = 0;  // sleep
};

struct Script {
  std::string source;  // path or name, for messages and reports
  std::vector<ScriptItem> items;
  // From the script's header directives (!proto, !tls, !target, !timeout) or a transcript header;
  // command-line flags win over them.
  std::optional<Protocol> protocol;
  std::optional<TlsMode> tls;
  std::string target;  // host:port
  std::optional<double> timeout_seconds;
  std::vector<std::string> notes;  // said when the script was built (e.g. how a capture was read)
};

// Guesses the protocol from what the script says (EHLO/HELO -> SMTP, "tag LOGIN" -> IMAP,
// USER/STAT/RETR -> POP3, greetings "220 ", "* OK", "+OK"); empty when it cannot tell.
std::optional<Protocol> guess_protocol(const Script& script);

}  // namespace mailtap::run
