// Reading one encoded transcript line for people: who spoke, the text to show, the annotation a
// decoder attached, and a one-line description of non-data events. Shared by the live view
// (TailPrinter) and `mailtap show`, so both describe a session the same way. Everything here
// tolerates missing or unexpected keys: lines come from files that may be newer or hand-edited.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mailtap::transcript {

struct DataView {
  std::string speaker;  // "C" client, "S" server, "P" proxy (bytes mailtap wrote itself)
  std::string from, to, frame;
  bool dropped = false;  // to == mailtap: the proxy swallowed these bytes
  bool tls = false;
  bool binary = false;    // stored as base64
  bool redacted = false;  // a decoder replaced a secret
  size_t len = 0;
  std::string bytes;  // exact bytes (as stored: redacted bytes stay redacted)
};

// The data view of a line with "type":"data"; std::nullopt for other lines.
std::optional<DataView> view_data(const nlohmann::json& line);

// True for frames that carry message content rather than protocol lines.
bool is_content_frame(std::string_view frame);

// Splits bytes into display lines: one per LF, the line ending removed, a stray CR shown as "\r",
// each line cut after `max_chars` bytes (on a UTF-8 boundary) with "... (N more bytes)".
std::vector<std::string> display_lines(std::string_view bytes, size_t max_chars = 300);

// The decoder's explanation of a line: "note", else decoded.summary, else "".
std::string annotation(const nlohmann::json& line);

struct LineWarning {
  std::string code;
  std::string message;
};
// The "warnings" array a decoder attached to a line (not the warning events themselves).
std::vector<LineWarning> line_warnings(const nlohmann::json& line);

// One line describing a non-data event, e.g. "TLS client leg TLSv1.3 TLS_AES_256_GCM_SHA384
// sni=localhost" or "close server leg by server (eof) in=200 out=120".
std::string describe_event(const nlohmann::json& line);

// One line describing the session header: protocol, client, listener, upstream, TLS modes.
std::string describe_header(const nlohmann::json& header);

// Up to `max_lines` header lines ("From: ...") at the start of message content, if it starts like
// an RFC 5322 message; empty otherwise.
std::vector<std::string> message_header_lines(std::string_view content, size_t max_lines = 5);

// Reads a string/number/bool member for display ("" when missing).
std::string field_text(const nlohmann::json& obj, const char* key);

}  // namespace mailtap::transcript
