#include "sasl_fields.h"

#include <cstdint>

#include "sasl_text.h"

namespace mailtap::decode::sasl_detail {

namespace {
// A message may hold any number of elements; the transcript keeps the first ones.
constexpr size_t kMaxPairs = 64;
}  // namespace

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

std::optional<Pairs> parse_scram_attributes(std::string_view text) {
  Pairs out;
  if (text.empty()) return out;
  for (std::string_view part : split(text, ',')) {
    if (out.size() >= kMaxPairs) break;
    if (part.size() < 2 || part[1] != '=') return std::nullopt;
    out.emplace_back(std::string(part.substr(0, 1)), std::string(part.substr(2)));
  }
  return out;
}

std::string scram_unescape(std::string_view saslname) {
  std::string out;
  for (size_t i = 0; i < saslname.size(); ++i) {
    if (saslname.substr(i, 3) == "=2C") {
      out += ',', i += 2;
    } else if (saslname.substr(i, 3) == "=3D") {
      out += '=', i += 2;
    } else {
      out += saslname[i];
    }
  }
  return out;
}

std::optional<Gs2Header> parse_gs2_header(std::string_view message) {
  Gs2Header h;
  std::string_view rest = message;
  if (rest.substr(0, 2) == "F,") {
    h.nonstandard = true;
    rest.remove_prefix(2);
  }
  size_t comma = rest.find(',');
  if (comma == std::string_view::npos) return std::nullopt;
  std::string_view flag = rest.substr(0, comma);
  if (flag == "n" || flag == "y") {
    h.cbind_flag = std::string(flag);
  } else if (flag.substr(0, 2) == "p=" && flag.size() > 2) {
    h.cbind_flag = "p";
    h.cbind_name = std::string(flag.substr(2));
  } else {
    return std::nullopt;
  }
  rest.remove_prefix(comma + 1);
  size_t comma2 = rest.find(',');
  if (comma2 == std::string_view::npos) return std::nullopt;
  std::string_view authz = rest.substr(0, comma2);
  if (!authz.empty()) {
    if (authz.substr(0, 2) != "a=") return std::nullopt;
    h.authzid = scram_unescape(authz.substr(2));
  }
  h.length = message.size() - rest.size() + comma2 + 1;
  return h;
}

std::optional<Pairs> parse_digest_directives(std::string_view text) {
  Pairs out;
  size_t i = 0;
  auto skip_separators = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == ',')) ++i;
  };
  skip_separators();
  while (i < text.size() && out.size() < kMaxPairs) {
    size_t key_start = i;
    while (i < text.size() && text[i] != '=' && text[i] != ',') ++i;
    if (i >= text.size() || text[i] != '=') return std::nullopt;
    std::string key(text::trim(text.substr(key_start, i - key_start)));
    ++i;  // '='
    std::string value;
    if (i < text.size() && text[i] == '"') {
      ++i;
      bool closed = false;
      while (i < text.size()) {
        char c = text[i++];
        if (c == '\\' && i < text.size()) {
          value += text[i++];
        } else if (c == '"') {
          closed = true;
          break;
        } else {
          value += c;
        }
      }
      if (!closed) return std::nullopt;
    } else {
      size_t value_start = i;
      while (i < text.size() && text[i] != ',') ++i;
      value = std::string(text::trim(text.substr(value_start, i - value_start)));
    }
    if (key.empty()) return std::nullopt;
    out.emplace_back(std::move(key), std::move(value));
    skip_separators();
  }
  return out;
}

Pairs parse_kvsep_pairs(std::string_view text) {
  Pairs out;
  for (std::string_view part : split(text, '\x01')) {
    if (out.size() >= kMaxPairs) break;
    if (part.empty()) continue;
    size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      out.emplace_back(std::string(), std::string(part));
    } else {
      out.emplace_back(std::string(part.substr(0, eq)), std::string(part.substr(eq + 1)));
    }
  }
  return out;
}

std::optional<nlohmann::json> parse_small_json(std::string_view text) {
  constexpr size_t kMaxBytes = 8192;
  constexpr int kMaxDepth = 16;
  if (text.size() > kMaxBytes) return std::nullopt;
  int depth = 0;
  for (char c : text) {
    if (c == '{' || c == '[') {
      if (++depth > kMaxDepth) return std::nullopt;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return std::nullopt;
  return parsed;
}

namespace {

uint32_t le16(std::string_view d, size_t at) {
  return static_cast<uint32_t>(static_cast<unsigned char>(d[at])) |
         static_cast<uint32_t>(static_cast<unsigned char>(d[at + 1])) << 8;
}

uint32_t le32(std::string_view d, size_t at) { return le16(d, at) | le16(d, at + 2) << 16; }

// An NTLM security buffer (length, allocated, offset) at `at`, read as UTF-16LE or OEM text.
std::string ntlm_string(std::string_view d, size_t at, bool unicode) {
  if (at + 8 > d.size()) return {};
  uint32_t len = le16(d, at);
  uint32_t offset = le32(d, at + 4);
  if (offset > d.size() || len > d.size() - offset) return {};
  std::string_view raw = d.substr(offset, len);
  if (!unicode) return std::string(raw);
  std::string out;
  for (size_t i = 0; i + 1 < raw.size(); i += 2) {
    uint32_t unit = le16(raw, i);
    // Names are ASCII in practice; anything else is shown as '?' rather than re-encoded.
    out += unit < 0x80 ? static_cast<char>(unit) : '?';
  }
  return out;
}

}  // namespace

std::optional<NtlmMessage> parse_ntlm(std::string_view data) {
  static constexpr std::string_view kSignature("NTLMSSP\0", 8);
  if (data.size() < 12 || data.substr(0, 8) != kSignature) return std::nullopt;
  NtlmMessage m;
  m.size = data.size();
  m.type = static_cast<int>(le32(data, 8));
  if (m.type == 2 && data.size() >= 24) {
    bool unicode = (le32(data, 20) & 0x1) != 0;
    m.target_name = ntlm_string(data, 12, unicode);
  } else if (m.type == 3 && data.size() >= 52) {
    bool unicode = data.size() >= 64 ? (le32(data, 60) & 0x1) != 0 : true;
    m.domain = ntlm_string(data, 28, unicode);
    m.user = ntlm_string(data, 36, unicode);
    m.workstation = ntlm_string(data, 44, unicode);
  }
  return m;
}

}  // namespace mailtap::decode::sasl_detail
