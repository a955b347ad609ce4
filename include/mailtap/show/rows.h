// The format-independent reading of a transcript that `mailtap show` renders: one row per thing a
// person wants to see. Pieces of one message body / literal / BDAT chunk become one row; latency
// is attached to the command it belongs to.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "mailtap/transcript/line_view.h"

namespace mailtap::show {

enum class RowKind {
  data,      // a protocol line: speaker + text lines
  content,   // message content (body/literal/chunk): a summary + its first header lines
  boundary,  // TLS established or STARTTLS: drawn as a ruled line
  event,     // connect, close, and event types this build does not know
  alert,     // warning or error events
};

struct Row {
  RowKind kind = RowKind::event;
  std::optional<int64_t> offset_us;   // time since the session started
  std::string speaker;                // data/content: "C", "S" or "P"
  bool tls = false;                   // data/content: travelled over TLS
  std::vector<std::string> lines;     // data: display lines; content: summary then header lines;
                                      // other kinds: one description line
  std::string note;                   // decoder note / summary, plus what the proxy did
  std::optional<int64_t> latency_us;  // command rows: time until the reply
  bool latency_computed = false;      // true when estimated here rather than by a decoder
  std::vector<transcript::LineWarning> warnings;  // a decoder's warnings about this line
};

struct RowOptions {
  size_t max_line_chars = 300;
  // Message content shows its From/To/Cc/Subject/Date/Message-ID fields; this many first header
  // lines when it has none of them.
  size_t content_header_lines = 5;
};

// Builds the rows of a session. Latency comes from decoded.latency_us when the decoder provides
// it; when no event carries one, each client command line gets the time until the next server
// data (an estimate: with pipelining several commands share one reply time).
std::vector<Row> build_rows(const nlohmann::json& header, const std::vector<nlohmann::json>& events,
                            const RowOptions& options = {});

// "1.234 ms", "12 us", "2.500 s"
std::string format_duration(int64_t us);
// Seconds since start with microseconds: "12.000345"
std::string format_offset(int64_t us);

}  // namespace mailtap::show
