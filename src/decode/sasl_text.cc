#include "sasl_text.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace mailtap::decode::text {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not one.
size_t utf8_sequence_length(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  if (c < 0x80) return 1;
  size_t need;
  uint32_t cp;
  if ((c & 0xE0) == 0xC0) {
    need = 2, cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    need = 3, cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    need = 4, cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + need > s.size()) return 0;
  for (size_t k = 1; k < need; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not valid UTF-8.
  if ((need == 2 && cp < 0x80) || (need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) ||
      (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
    return 0;
  }
  return need;
}

// Bytes from the start that are printable ASCII or tab (kept as they are), eight at a time.
size_t plain_ascii_prefix(std::string_view bytes) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHighs = 0x8080808080808080ULL;
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, bytes.data() + i, 8);
    // Any byte below 0x20, at or above 0x7F (high bit, or DEL: 0x7F + 1 sets it): look closer.
    const uint64_t below_space = (w - kOnes * 0x20) & ~w & kHighs;
    const uint64_t high_or_del = (w | (w + kOnes)) & kHighs;
    if ((below_space | high_or_del) != 0) break;
  }
  while (i < bytes.size()) {
    const auto b = static_cast<unsigned char>(bytes[i]);
    if ((b < 0x20 && b != '\t') || b >= 0x7F) break;
    ++i;
  }
  return i;
}

}  // namespace

std::string json_safe(std::string_view bytes, size_t max_bytes) {
  // Nearly every value is short printable ASCII: one copy.
  if (bytes.size() <= max_bytes && plain_ascii_prefix(bytes) == bytes.size()) {
    return std::string(bytes);
  }
  std::string out;
  out.reserve(bytes.size() < max_bytes ? bytes.size() : max_bytes);
  size_t i = 0;
  while (i < bytes.size()) {
    if (out.size() >= max_bytes) {
      out += "...";
      break;
    }
    // A run of printable ASCII (nearly every note) is copied in one piece, up to the cap.
    const size_t limit = i + std::min(bytes.size() - i, max_bytes - out.size());
    size_t run = i;
    while (run < limit) {
      const auto b = static_cast<unsigned char>(bytes[run]);
      if ((b < 0x20 && b != '\t') || b >= 0x7F) break;
      ++run;
    }
    if (run > i) {
      out.append(bytes.data() + i, run - i);
      i = run;
      continue;
    }
    unsigned char c = static_cast<unsigned char>(bytes[i]);
    size_t n = utf8_sequence_length(bytes, i);
    if (n == 1 && (c >= 0x20 || c == '\t') && c != 0x7F) {
      out += static_cast<char>(c);
    } else if (n > 1) {
      out.append(bytes.substr(i, n));
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02X", c);
      out += hex;
      n = 1;
    }
    i += n;
  }
  return out;
}

std::string make_json_safe(std::string&& bytes, size_t max_bytes) {
  if (bytes.size() <= max_bytes && plain_ascii_prefix(bytes) == bytes.size()) {
    return std::move(bytes);
  }
  return json_safe(bytes, max_bytes);
}

bool is_printable(std::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    unsigned char c = static_cast<unsigned char>(bytes[i]);
    size_t n = utf8_sequence_length(bytes, i);
    if (n == 0) return false;
    if (n == 1 && ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7F)) return false;
    i += n;
  }
  return true;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 'a' + 'A');
    if (y >= 'a' && y <= 'z') y = static_cast<char>(y - 'a' + 'A');
    if (x != y) return false;
  }
  return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

std::string_view strip_eol(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

}  // namespace mailtap::decode::text
