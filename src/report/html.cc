#include "mailtap/report/html.h"

#include <openssl/evp.h>

#include <array>
#include <cstdio>

#include "mailtap/transcript/bytes_codec.h"

namespace mailtap::report {
namespace {

// Length of the valid UTF-8 sequence at s[i], 0 when it is not one (overlongs, surrogates and
// code points past U+10FFFF refused).
size_t utf8_sequence(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n;
  unsigned min;
  unsigned cp;
  if ((c & 0xe0) == 0xc0)
    n = 2, min = 0x80, cp = c & 0x1f;
  else if ((c & 0xf0) == 0xe0)
    n = 3, min = 0x800, cp = c & 0x0f;
  else if ((c & 0xf8) == 0xf0)
    n = 4, min = 0x10000, cp = c & 0x07;
  else
    return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

std::string escape(std::string_view s, bool attribute) {
  const std::string clean = valid_utf8(s);
  std::string out;
  out.reserve(clean.size() + clean.size() / 8);
  for (size_t i = 0; i < clean.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(clean[i]);
    switch (c) {
      case '&':
        out += "&amp;";
        continue;
      case '<':
        out += "&lt;";
        continue;
      case '>':
        out += "&gt;";
        continue;
      case '"':
        out += "&quot;";
        continue;
      case '\'':
        out += "&#39;";
        continue;
      default:
        break;
    }
    if (c == '\n' || c == '\t') {
      out += attribute ? (c == '\n' ? "&#10;" : "&#9;") : std::string(1, static_cast<char>(c));
      continue;
    }
    // C0 controls, DEL, and C1 controls (U+0080..U+009F, C2 80..C2 9F in UTF-8)
    const bool c1 =
        c == 0xc2 && i + 1 < clean.size() && static_cast<unsigned char>(clean[i + 1]) <= 0x9f;
    if (c < 0x20 || c == 0x7f || c1) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x",
                    c1 ? static_cast<unsigned char>(clean[++i]) : static_cast<unsigned>(c));
      out += buf;
      continue;
    }
    out += static_cast<char>(c);
  }
  return out;
}

}  // namespace

std::string valid_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    size_t n = utf8_sequence(bytes, i);
    if (n == 0) {
      out += "\xef\xbf\xbd";  // U+FFFD
      ++i;
    } else {
      out.append(bytes.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string text(std::string_view s) {
  return escape(s, false);
}

std::string attr(std::string_view s) {
  return escape(s, true);
}

std::string csp_hash(std::string_view body) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (EVP_Digest(body.data(), body.size(), md.data(), &len, EVP_sha256(), nullptr) != 1) return "";
  return "'sha256-" +
         transcript::base64_encode(
             std::string_view(reinterpret_cast<const char*>(md.data()), len)) +
         "'";
}

}  // namespace mailtap::report
