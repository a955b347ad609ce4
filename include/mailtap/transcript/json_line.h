// Writing a transcript line fast. nlohmann::json escapes a string byte by byte through a UTF-8
// decoder, about 36 instructions a byte: for a relayed message, the "text" of its data lines is
// nearly all the writer thread writes. Text already known to be transcript text (valid UTF-8, no
// control character but TAB, LF and CR: is_transcript_text) needs no decoding, only the five
// escapes, so it is copied in runs found sixteen bytes at a time (SSE2; eight elsewhere). Every
// other value is written by a small serializer of our own (strings checked for UTF-8 eight bytes
// at a time, then escaped the same way; nlohmann only for floats and for strings it would have to
// repair). The output is byte for byte what nlohmann's dump would have written.
#pragma once

#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace mailtap::transcript {

// Appends `plain` between quotes as it is, in one append: the caller vouches that it needs no
// escape (printable ASCII other than '"' and '\\': words, names, base64).
inline void append_quoted_plain(std::string& out, std::string_view plain) {
  const size_t at = out.size();
  out.resize(at + plain.size() + 2);
  char* p = out.data() + at;
  p[0] = '"';
  std::memcpy(p + 1, plain.data(), plain.size());
  p[plain.size() + 1] = '"';
}

// Appends `text` as a JSON string, quotes included, exactly as
// nlohmann::json(text).dump(-1, ' ', false) escapes valid UTF-8. `text` must be valid UTF-8.
void append_json_text(std::string& out, std::string_view text);

// When `bytes` are transcript text (is_transcript_text), appends them as append_json_text does
// and returns true; otherwise returns false, leaving part of a string appended (the caller cuts
// `out` back). One pass over the bytes instead of the check and then the escaping.
bool append_if_transcript_text(std::string& out, std::string_view bytes);

// Appends `text` as a JSON string exactly as nlohmann::json(std::string(text)).dump(-1, ' ',
// false, error_handler_t::replace) would: any bytes (invalid UTF-8 becomes U+FFFD).
void append_json_string(std::string& out, std::string_view text);

// Appends `line` (no newline) exactly as line.dump(-1, ' ', false, error_handler_t::replace)
// would. When `line` is an object whose "text" member equals `known_text`, the caller vouches that
// `known_text` is transcript text, and that member is written without a UTF-8 check.
void append_json_line(std::string& out, const nlohmann::json& line,
                      std::string_view known_text = {});

}  // namespace mailtap::transcript
