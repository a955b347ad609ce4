#include "mailtap/core/dot_stuffing.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace mailtap {

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
  for (size_t nl = in.find('\n', q); nl != std::string_view::npos && nl + 1 < in.size();
       nl = in.find('\n', nl + 1)) {
    if (in[nl + 1] == '.') return nl + 1;
  }
  return std::string_view::npos;
}

size_t skip_to_line_start_dot(std::string_view in, size_t from, bool& at_line_start) {
  const size_t dot = next_line_start_dot(in, from);
  const size_t to = dot == std::string_view::npos ? in.size() : dot;
  at_line_start = in[to - 1] == '\n';  // to > from, so this is a byte of `in`
  return to;
}

}  // namespace mailtap
