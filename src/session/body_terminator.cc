#include "mailtap/session/body_terminator.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace mailtap::session {
namespace {

// The first line start at or after `from` + 1 that holds a '.': the position of that '.', whose
// previous byte is '\n'; npos when there is none. Only these can begin the terminator, so the
// scan looks for the pair "\n." rather than stopping at every line or every dot: 16 bytes at a
// time with SSE2, a base64 attachment and a text full of dots alike.
size_t next_line_start_dot(std::string_view in, size_t from) {
  size_t q = from;  // candidate position of the '\n'
#if defined(__SSE2__)
  const __m128i newline = _mm_set1_epi8('\n');
  const __m128i dot = _mm_set1_epi8('.');
  for (; q + 17 <= in.size(); q += 16) {
    __m128i here = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in.data() + q));
    __m128i next = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in.data() + q + 1));
    int mask =
        _mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(here, newline), _mm_cmpeq_epi8(next, dot)));
    if (mask != 0) return q + static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(mask))) + 1;
  }
#endif
  for (; q + 1 < in.size(); ++q) {
    size_t nl = in.find('\n', q);
    if (nl == std::string_view::npos || nl + 1 >= in.size()) return std::string_view::npos;
    if (in[nl + 1] == '.') return nl + 1;
    q = nl;
  }
  return std::string_view::npos;
}

}  // namespace

size_t BodyTerminator::scan(std::string_view in, std::string& body, bool& found) {
  found = false;
  size_t i = 0;
  size_t run_start = 0;  // start of the content run not yet appended
  auto flush_run = [&](size_t end) {
    if (end > run_start) body.append(in.substr(run_start, end - run_start));
  };
  while (i < in.size()) {
    if (!held_.empty()) {
      // We are inside a possible terminator: "." or ".\r" at a line start.
      char c = in[i];
      if (held_ == "." && c == '\r') {
        held_ = ".\r";
        ++i;
        run_start = i;
        continue;
      }
      if (held_ == ".\r" && c == '\n') {
        held_.clear();
        ++i;
        found = true;
        at_line_start_ = true;
        return i;
      }
      // Not a terminator: a dot-stuffed or dot-started line. The held bytes are content.
      body.append(held_);
      held_.clear();
      at_line_start_ = false;
      run_start = i;
      continue;
    }
    if (at_line_start_ && in[i] == '.') {
      flush_run(i);
      held_ = ".";
      ++i;
      run_start = i;
      continue;
    }
    // Not at a '.' that starts a line: go straight to the next one.
    size_t dot = next_line_start_dot(in, i);
    size_t last = dot == std::string_view::npos ? in.size() : dot;
    at_line_start_ = in[last - 1] == '\n';  // the state at `last`, which is past i
    i = last;
  }
  flush_run(i);
  return i;
}

std::string BodyTerminator::take_held() {
  std::string h;
  h.swap(held_);
  return h;
}

}  // namespace mailtap::session
