#include "mailtap/transcript/json_line.h"

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "mailtap/transcript/bytes_codec.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "escapes_in() finds the first byte to escape by its lowest bit");

namespace mailtap::transcript {
namespace {

using nlohmann::json;

constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighs = 0x8080808080808080ULL;

// Bit tricks on eight bytes at once (exact as "any byte" tests): a zero byte, a byte below n
// (n <= 0x80; bytes with the high bit set never count).
constexpr uint64_t has_zero(uint64_t v) {
  return (v - kOnes) & ~v & kHighs;
}
constexpr uint64_t has_less(uint64_t v, uint8_t n) {
  return (v - kOnes * n) & ~v & kHighs;
}

// Non-zero when one of the eight bytes must be escaped in a JSON string ('"', '\\' or a
// control); the lowest set bit is in the first such byte (little-endian: the lowest address).
inline uint64_t escapes_in(uint64_t w) {
  return has_less(w, 0x20) | has_zero(w ^ (kOnes * '"')) | has_zero(w ^ (kOnes * '\\'));
}

#if defined(__SSE2__)
// Bit i set when byte i of the sixteen at p must be escaped (x86-64 always has SSE2).
inline unsigned escapes_in16(const char* p) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);  // v <= 0x1f
  const __m128i quote = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
  const __m128i backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
  return static_cast<unsigned>(
      _mm_movemask_epi8(_mm_or_si128(control, _mm_or_si128(quote, backslash))));
}
#endif

// How many bytes from p need no escape, found a block at a time: a whole block, or the bytes
// before the first one that must be looked at (0 when it is p itself, or fewer than 8 remain).
inline size_t plain_prefix(const char* p, const char* end) {
#if defined(__SSE2__)
  if (end - p >= 16) {
    const unsigned found = escapes_in16(p);
    return found == 0 ? 16 : static_cast<size_t>(__builtin_ctz(found));
  }
#endif
  if (end - p >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    const uint64_t found = escapes_in(w);
    return found == 0 ? 8 : static_cast<size_t>(__builtin_ctzll(found) / 8);
  }
  return 0;
}

void append_escape(std::string& out, unsigned char c) {
  switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\b':
      out += "\\b";
      break;
    case '\t':
      out += "\\t";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\f':
      out += "\\f";
      break;
    case '\r':
      out += "\\r";
      break;
    default: {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);  // nlohmann's spelling: lower-case hex
      out += buf;
    }
  }
}

// Strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF), the same rule as
// nlohmann's decoder: a string that passes is dumped by nlohmann without any replacement, so
// append_json_text() writes the same bytes. ASCII is checked eight bytes at a time.
bool is_valid_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    if (end - p >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      if ((w & kHighs) == 0) {
        p += 8;
        continue;
      }
    }
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int extra;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      extra = 1;
      cp = c & 0x1fu;
    } else if (c >= 0xe0 && c <= 0xef) {
      extra = 2;
      cp = c & 0x0fu;
    } else if (c >= 0xf0 && c <= 0xf4) {
      extra = 3;
      cp = c & 0x07u;
    } else {
      return false;  // continuation byte, overlong lead (0xc0, 0xc1) or beyond U+10FFFF
    }
    if (end - p <= extra) return false;
    for (int i = 1; i <= extra; ++i) {
      if ((p[i] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3fu);
    }
    if ((extra == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (extra == 3 && (cp < 0x10000 || cp > 0x10ffff))) {
      return false;
    }
    p += extra + 1;
  }
  return true;
}

// Appends `text` quoted when it is short and needs neither an escape nor a UTF-8 check (printable
// ASCII but '"' and '\\'): keys, words and most decoded values. One look at each byte and one
// append, instead of the check, then the escaping loop.
inline bool append_short_plain(std::string& out, std::string_view text) {
  if (text.size() > 64) return false;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') return false;
  }
  append_quoted_plain(out, text);
  return true;
}

void append_string(std::string& out, std::string_view text) {
  if (append_short_plain(out, text)) return;
  if (is_valid_utf8(text)) {
    append_json_text(out, text);
  } else {
    // U+FFFD for bad bytes
    out += json(std::string(text)).dump(-1, ' ', false, json::error_handler_t::replace);
  }
}

template <typename Integer>
void append_integer(std::string& out, Integer value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, static_cast<size_t>(end - buf));
}

// nlohmann's dump(-1, ' ', false, replace) of any value, without its serializer's per-byte UTF-8
// state machine and output adapter: about a third of the writer thread's instructions for short
// lines went there. Floats (rare: none in the transcript format) still go through nlohmann.
void append_value(std::string& out, const json& value) {
  switch (value.type()) {
    case json::value_t::object: {
      out += '{';
      bool first = true;
      // The std::map itself: nlohmann's iterators switch on the value's type at every step.
      for (const auto& [key, member] : value.get_ref<const json::object_t&>()) {
        if (!first) out += ',';
        first = false;
        append_string(out, key);
        out += ':';
        append_value(out, member);
      }
      out += '}';
      return;
    }
    case json::value_t::array: {
      out += '[';
      bool first = true;
      for (const json& element : value.get_ref<const json::array_t&>()) {
        if (!first) out += ',';
        first = false;
        append_value(out, element);
      }
      out += ']';
      return;
    }
    case json::value_t::string:
      append_string(out, value.get_ref<const std::string&>());
      return;
    case json::value_t::boolean:
      out += value.get<bool>() ? "true" : "false";
      return;
    case json::value_t::null:
      out += "null";
      return;
    case json::value_t::number_integer:
      append_integer(out, value.get<json::number_integer_t>());
      return;
    case json::value_t::number_unsigned:
      append_integer(out, value.get<json::number_unsigned_t>());
      return;
    default:  // floats, binary, discarded
      out += value.dump(-1, ' ', false, json::error_handler_t::replace);
      return;
  }
}

// What the escaping loop checks besides escaping.
enum class Check {
  utf8_known,       // the caller vouches for valid UTF-8: bytes from 0x80 up are copied as they are
  transcript_text,  // the bytes must be transcript text (is_transcript_text): false when not
};

#if defined(__SSE2__)
// Bit i set when byte i of the sixteen at p needs more than a copy: an escape, or (transcript
// text) a check. x86-64 always has SSE2.
template <Check kCheck>
inline unsigned look_at16(const char* p) {
  if constexpr (kCheck == Check::utf8_known) return escapes_in16(p);
  // Printable ASCII other than '"' and '\\' needs neither a check nor an escape. Signed compare:
  // bytes from 0x80 up are negative, so they fail "above 0x1f" too.
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i printable = _mm_cmpgt_epi8(v, _mm_set1_epi8(0x1f));
  const __m128i special = _mm_or_si128(
      _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f)),
      _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
  return static_cast<unsigned>(_mm_movemask_epi8(_mm_andnot_si128(special, printable))) ^ 0xffffu;
}
#endif

// `text` as a JSON string, quotes included: runs of bytes that need nothing are found sixteen at
// a time and copied in one piece; the rest is escaped (a CR LF pair in one step, the most common
// escape by far). With Check::transcript_text, also checks that the bytes are transcript text,
// returning false (a partial string appended) as soon as they are not.
template <Check kCheck>
inline bool append_escaped(std::string& out, std::string_view text) {
  // One allocation for a message-sized text instead of a doubling per escape run; short texts
  // grow the buffer as appends do (a reserve per line would leave each session's kept line
  // buffer larger than it needs).
  if (text.size() >= 4096) out.reserve(out.size() + text.size() + text.size() / 16 + 2);
  out += '"';
  const char* p = text.data();
  const char* const end = p + text.size();
  const char* run = p;  // start of the bytes copied as they are
  while (p < end) {
#if defined(__SSE2__)
    if (end - p >= 16) {
      const unsigned look = look_at16<kCheck>(p);
      if (look == 0) {
        p += 16;
        continue;
      }
      p += __builtin_ctz(look);
    }
#endif
    if constexpr (kCheck == Check::utf8_known) {
#if defined(__SSE2__)
      const bool eight_at_a_time = end - p < 16;  // the last bytes
#else
      const bool eight_at_a_time = true;
#endif
      if (eight_at_a_time) {
        if (const size_t plain = plain_prefix(p, end)) {
          p += plain;
          continue;
        }
      }
    }
    const auto c = static_cast<unsigned char>(*p);
    if constexpr (kCheck == Check::utf8_known) {
      if (c >= 0x20 && c != '"' && c != '\\') {
        ++p;
        continue;
      }
    } else {
      if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
        ++p;
        continue;
      }
      if (c >= 0x80) {
        // One code point, checked by the same rule as is_transcript_text (valid UTF-8, no C1
        // control): text is transcript text exactly when each of its code points is.
        const size_t length = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        if (static_cast<size_t>(end - p) < length ||
            !is_transcript_text(std::string_view(p, length))) {
          return false;
        }
        p += length;
        continue;
      }
      if (c == 0x7f || (c < 0x20 && c != '\t' && c != '\n' && c != '\r')) return false;
    }
    out.append(run, static_cast<size_t>(p - run));
    if (c == '\r' && end - p >= 2 && p[1] == '\n') {
      out.append("\\r\\n", 4);
      p += 2;
    } else {
      append_escape(out, c);
      ++p;
    }
    run = p;
  }
  out.append(run, static_cast<size_t>(p - run));
  out += '"';
  return true;
}

}  // namespace

void append_json_text(std::string& out, std::string_view text) {
  append_escaped<Check::utf8_known>(out, text);
}

bool append_if_transcript_text(std::string& out, std::string_view bytes) {
  return append_escaped<Check::transcript_text>(out, bytes);
}

void append_json_string(std::string& out, std::string_view text) {
  append_string(out, text);
}

void append_json_line(std::string& out, const json& line, std::string_view known_text) {
  json::const_iterator text_member = line.end();
  if (line.is_object() && !known_text.empty()) {
    auto it = line.find("text");
    if (it != line.end() && it->is_string() && it->get_ref<const std::string&>() == known_text)
      text_member = it;
  }
  if (text_member == line.end()) {
    append_value(out, line);
    return;
  }
  // The members in the order dump() writes them (the object's own, sorted by key); the known
  // text needs no UTF-8 check.
  out += '{';
  bool first = true;
  for (auto it = line.begin(); it != line.end(); ++it) {
    if (!first) out += ',';
    first = false;
    append_string(out, it.key());
    out += ':';
    if (it == text_member) {
      append_json_text(out, known_text);
    } else {
      append_value(out, *it);
    }
  }
  out += '}';
}

}  // namespace mailtap::transcript
