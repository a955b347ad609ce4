#include "mailtap/transcript/bytes_codec.h"

#include <array>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "is_transcript_text() finds the first byte to look at by its lowest bit");

namespace mailtap::transcript {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<int8_t, 256> make_reverse() {
  std::array<int8_t, 256> r{};
  for (auto& v : r) v = -1;
  for (int i = 0; i < 64; ++i) r[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  return r;
}
constexpr auto kReverse = make_reverse();

bool is_allowed_code_point(uint32_t cp) {
  if (cp < 0x20) return cp == '\t' || cp == '\n' || cp == '\r';
  if (cp == 0x7f) return false;
  if (cp >= 0x80 && cp <= 0x9f) return false;  // C1 controls
  return true;
}

constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighs = 0x8080808080808080ULL;

// Non-zero unless all eight bytes are printable ASCII (0x20..0x7e): the common case of mail text,
// checked a word at a time (exact "any byte" bit tricks, as in json_line.cc). Little-endian: the
// lowest set bit is in the first byte that needs a look.
constexpr uint64_t needs_a_closer_look(uint64_t w) {
  const uint64_t below_space = (w - kOnes * 0x20) & ~w & kHighs;
  const uint64_t del = ((w ^ (kOnes * 0x7f)) - kOnes) & ~(w ^ (kOnes * 0x7f)) & kHighs;
  return (w & kHighs) | below_space | del;
}

// How many bytes from p are printable ASCII, found a block at a time: a whole block, or the bytes
// before the first one that needs a look (0 when it is p itself, or fewer than 8 remain).
inline size_t printable_prefix(const unsigned char* p, const unsigned char* end) {
#if defined(__SSE2__)
  if (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // Signed compare: bytes from 0x80 up are negative, so they fail "above 0x1f" too.
    const __m128i printable = _mm_andnot_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f)),
                                               _mm_cmpgt_epi8(v, _mm_set1_epi8(0x1f)));
    const unsigned look = ~static_cast<unsigned>(_mm_movemask_epi8(printable)) & 0xffffu;
    return look == 0 ? 16 : static_cast<size_t>(__builtin_ctz(look));
  }
#endif
  if (end - p >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    const uint64_t look = needs_a_closer_look(w);
    return look == 0 ? 8 : static_cast<size_t>(__builtin_ctzll(look) / 8);
  }
  return 0;
}

}  // namespace

bool is_transcript_text(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto* end = p + bytes.size();
  while (p < end) {
    if (const size_t printable = printable_prefix(p, end)) {
      p += printable;  // e.g. straight to a line's CR
      continue;
    }
    unsigned char c = *p;
    if (c < 0x80) {
      if (!is_allowed_code_point(c)) return false;
      ++p;
      continue;
    }
    int extra = 0;
    uint32_t cp = 0;
    uint32_t min = 0;
    if ((c & 0xe0) == 0xc0) {
      extra = 1;
      cp = c & 0x1f;
      min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2;
      cp = c & 0x0f;
      min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3;
      cp = c & 0x07;
      min = 0x10000;
    } else {
      return false;  // stray continuation byte or 0xf8..0xff
    }
    if (end - p <= extra) return false;
    for (int i = 1; i <= extra; ++i) {
      if ((p[i] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    if (!is_allowed_code_point(cp)) return false;
    p += extra + 1;
  }
  return true;
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t n = bytes.size();
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8) | p[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = uint32_t{p[i]} << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (n - i == 2) {
    uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    int pad = 0;
    if (last && text[i + 3] == '=') pad = text[i + 2] == '=' ? 2 : 1;
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      if (k >= 4 - pad) {
        v <<= 6;
        continue;
      }
      int8_t d = kReverse[static_cast<unsigned char>(text[i + k])];
      if (d < 0) return std::nullopt;
      v = (v << 6) | static_cast<uint32_t>(d);
    }
    out += static_cast<char>((v >> 16) & 0xff);
    if (pad < 2) out += static_cast<char>((v >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(v & 0xff);
  }
  return out;
}

}  // namespace mailtap::transcript
