// A captured transcript as a runner script: the client's bytes become C: lines, the server's
// become S: expectations with volatile values generalised (queue ids, dates, message ids, IMAP
// completion text and mailbox counters), and every SASL exchange becomes ${sasl} lines the runner
// recomputes from the credentials against the new server's challenges. Secrets redacted in the
// capture become ${pass} (or ${apop}). Bytes the proxy itself wrote or swallowed (from or to
// "mailtap") are not part of the script, except the server's own lines the proxy rewrote.
#pragma once

#include <string>

#include "mailtap/run/script.h"
#include "mailtap/transcript/transcript_reader.h"

namespace mailtap::run {

struct ImportOptions {
  bool generalise = true;  // false: every S: line exactly as captured
};

// Throws ScriptError when the transcript cannot be turned into a script (unknown protocol).
Script import_transcript(const transcript::Transcript& capture, const ImportOptions& options = {});

// Where a server line stands, for generalising it.
struct ServerLineContext {
  bool sasl_challenge = false;  // a 334 / "+" line inside an AUTH exchange
  std::string sasl_mechanism;
  bool tagged_completion = false;  // IMAP: the line starts with a tag the client used
};

// One server line with its volatile parts replaced by `*`, ready for an S: line (also escaped so
// that it reads back as a plain expectation).
std::string generalise_server_line(Protocol protocol, const std::string& line,
                                   const ServerLineContext& context = {});

// The script as text, as `mailtap run --to-script` prints it; parse_script() reads it back.
std::string format_script(const Script& script);

}  // namespace mailtap::run
