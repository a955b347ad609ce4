// How exact bytes are stored in a transcript line: as JSON text when that is lossless and readable,
// as base64 otherwise. Shared by the encoder, decode_bytes() and the renderers.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mailtap::transcript {

// True when `bytes` is well-formed UTF-8 (no overlongs, no surrogates, nothing past U+10FFFF) and
// holds no control character other than TAB, LF and CR (C0, DEL and C1 controls are refused), so
// it can be stored as a JSON string and read by people without loss.
bool is_transcript_text(std::string_view bytes);

// Standard base64 (RFC 4648 section 4) with padding.
std::string base64_encode(std::string_view bytes);
// Strict decoding: padding required, no whitespace; std::nullopt on malformed input.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace mailtap::transcript
