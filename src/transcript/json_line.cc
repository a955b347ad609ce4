#include "mailtap/transcript/json_line.h"

#include <cstdint>
#include <cstdio>
#include <cstring>

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

constexpr size_t kWorthIt = 256;  // below this, nlohmann's dump is as good

// Object keys are short ASCII names; anything else goes through nlohmann.
void append_key(std::string& out, const std::string& key) {
  for (unsigned char c : key) {
    if (c >= 0x80) {
      out += json(key).dump(-1, ' ', false, json::error_handler_t::replace);
      return;
    }
  }
  append_json_text(out, key);
}

}  // namespace

void append_json_text(std::string& out, std::string_view text) {
  out.reserve(out.size() + text.size() + text.size() / 16 + 2);
  out += '"';
  const char* p = text.data();
  const char* const end = p + text.size();
  const char* run = p;  // start of the bytes copied as they are
  while (p < end) {
    if (end - p >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      uint64_t found = escapes_in(w);
      if (found == 0) {
        p += 8;
        continue;
      }
      p += __builtin_ctzll(found) / 8;  // straight to the byte to escape
    }
    const auto c = static_cast<unsigned char>(*p);
    if (c >= 0x20 && c != '"' && c != '\\') {
      ++p;
      continue;
    }
    out.append(run, static_cast<size_t>(p - run));
    append_escape(out, c);
    run = ++p;
  }
  out.append(run, static_cast<size_t>(p - run));
  out += '"';
}

void append_json_line(std::string& out, const json& line, std::string_view known_text) {
  json::const_iterator text_member = line.end();
  if (line.is_object() && known_text.size() >= kWorthIt) {
    auto it = line.find("text");
    if (it != line.end() && it->is_string() && it->get_ref<const std::string&>() == known_text)
      text_member = it;
  }
  if (text_member == line.end()) {
    out += line.dump(-1, ' ', false, json::error_handler_t::replace);
    return;
  }
  // The members in the order dump() writes them (the object's own, sorted by key).
  out += '{';
  bool first = true;
  for (auto it = line.begin(); it != line.end(); ++it) {
    if (!first) out += ',';
    first = false;
    append_key(out, it.key());
    out += ':';
    if (it == text_member) {
      append_json_text(out, known_text);
    } else {
      out += it->dump(-1, ' ', false, json::error_handler_t::replace);
    }
  }
  out += '}';
}

}  // namespace mailtap::transcript
