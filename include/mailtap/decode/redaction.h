// Secrets in transcripts: passwords, tokens and proofs are replaced by a token that still lets two
// transcripts be compared: the secret's length and a short keyed hash (HMAC-SHA256), e.g.
// "<redacted len=5 h=3fa9c1d2>". The same secret under the same key always gives the same token;
// with an empty key a fixed built-in key is used, so two default transcripts compare equal.
#pragma once

#include <string>
#include <string_view>

#include "mailtap/decode/session_decoder.h"

namespace mailtap::decode {

// The redaction token for a secret: "<redacted len=N h=XXXXXXXX>" (8 hex digits of
// HMAC-SHA256(key, secret)). Ignores options.reveal_secrets: it always redacts.
std::string redact(std::string_view secret, const DecodeOptions& options);

// What a transcript shows for a secret: the secret itself when options.reveal_secrets (made safe
// for JSON: invalid UTF-8 and control bytes written as \xNN), otherwise redact(secret, options).
std::string show_secret(std::string_view secret, const DecodeOptions& options);

// Whether `text` is a token produced by redact() (used by tests and the diff tool).
bool is_redaction_token(std::string_view text);

}  // namespace mailtap::decode
