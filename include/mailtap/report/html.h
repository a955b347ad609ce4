// Small HTML helpers for the report page. Transcripts carry bytes an attacker chose (a hostile
// server's banner, a client's command), so every piece of text goes through text() or attr().
#pragma once

#include <string>
#include <string_view>

namespace mailtap::report {

// Well-formed UTF-8: every invalid byte sequence replaced by U+FFFD.
std::string valid_utf8(std::string_view bytes);

// Escaped for element content: & < > " ' as entities, control characters (other than TAB and
// LF) shown as \xNN, invalid UTF-8 replaced.
std::string text(std::string_view s);

// Escaped for a double-quoted attribute value (the same escaping; LF and TAB as entities too).
std::string attr(std::string_view s);

// The Content-Security-Policy source for an inline <style> or <script> body: 'sha256-BASE64'.
std::string csp_hash(std::string_view body);

}  // namespace mailtap::report
