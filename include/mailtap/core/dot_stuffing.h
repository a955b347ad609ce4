// Dot-terminated bodies (SMTP DATA, RFC 5321 4.5.2; POP3 multi-line replies, RFC 1939): only a
// '.' at the start of a line means anything there (a stuffed dot, or the terminating "."), so the
// scanners of such bodies jump from one to the next.
#pragma once

#include <cstddef>
#include <string_view>

namespace mailtap {

// The first '.' that starts a line after `from`: the smallest p > from with in[p] == '.' and
// in[p - 1] == '\n'; npos when there is none. Looks for the pair "\n." 16 bytes at a time (SSE2;
// a memchr per line elsewhere), as fast on a base64 attachment as on text full of dots.
size_t next_line_start_dot(std::string_view in, size_t from);

// A scanner's step past body bytes, from `from` (< in.size()): to the next '.' that starts a line,
// or to the end of `in`. `at_line_start` becomes whether the returned position starts a line (it
// may be the end, when `in` ends with '\n'; a reader keeps that state for its next piece).
size_t skip_to_line_start_dot(std::string_view in, size_t from, bool& at_line_start);

}  // namespace mailtap
