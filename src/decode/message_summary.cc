#include "mailtap/decode/message_summary.h"

#include <array>

#include "json_object.h"
#include "mailtap/core/dot_stuffing.h"
#include "mailtap/decode/sasl.h"
#include "sasl_text.h"

namespace mailtap::decode {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// ISO-8859-1 bytes as UTF-8.
std::string latin1_to_utf8(std::string_view s) {
  std::string out;
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// One RFC 2047 encoded word "=?charset?B|Q?text?=" decoded, or nullopt when it is not one (or
// its charset is not one we can turn into UTF-8).
std::optional<std::string> decode_encoded_word(std::string_view word) {
  if (word.size() < 8 || word.substr(0, 2) != "=?" || word.substr(word.size() - 2) != "?=") {
    return std::nullopt;
  }
  std::string_view inner = word.substr(2, word.size() - 4);
  size_t q1 = inner.find('?');
  if (q1 == std::string_view::npos || q1 + 2 >= inner.size() || inner[q1 + 2] != '?') {
    return std::nullopt;
  }
  std::string charset = lower(inner.substr(0, q1));
  if (size_t star = charset.find('*'); star != std::string::npos) charset.resize(star);  // RFC 2231
  char encoding = inner[q1 + 1];
  std::string_view payload = inner.substr(q1 + 3);
  std::string raw;
  if (encoding == 'B' || encoding == 'b') {
    std::optional<std::string> d = base64_decode(payload);
    if (!d) return std::nullopt;
    raw = std::move(*d);
  } else if (encoding == 'Q' || encoding == 'q') {
    for (size_t i = 0; i < payload.size(); ++i) {
      char c = payload[i];
      if (c == '_') {
        raw += ' ';
      } else if (c == '=' && i + 2 < payload.size() && hex_value(payload[i + 1]) >= 0 &&
                 hex_value(payload[i + 2]) >= 0) {
        raw += static_cast<char>(hex_value(payload[i + 1]) * 16 + hex_value(payload[i + 2]));
        i += 2;
      } else {
        raw += c;
      }
    }
  } else {
    return std::nullopt;
  }
  if (charset == "utf-8" || charset == "utf8" || charset == "us-ascii") return raw;
  if (charset == "iso-8859-1" || charset == "latin1" || charset == "iso-8859-15" ||
      charset == "windows-1252") {
    return latin1_to_utf8(raw);  // close enough for a summary line
  }
  return std::nullopt;
}

// Decodes the encoded words in a header value; whitespace between two encoded words is dropped
// (RFC 2047 6.2).
std::string decode_header_value(std::string_view value) {
  std::string out;
  size_t i = 0;
  bool last_was_encoded = false;
  std::string pending_space;
  while (i < value.size()) {
    size_t start = value.find("=?", i);
    if (start == std::string_view::npos) break;
    // An encoded word has no spaces: look for "?=" with exactly 3 '?' inside before a space.
    size_t end = std::string_view::npos;
    int marks = 0;
    for (size_t k = start + 2; k + 1 < value.size(); ++k) {
      if (value[k] == ' ' || value[k] == '\t') break;
      if (value[k] == '?') {
        ++marks;
        if (marks >= 3 && value[k + 1] == '=') {
          end = k + 2;
          break;
        }
      }
    }
    if (end == std::string_view::npos) {
      out.append(value.substr(i, start + 2 - i));
      i = start + 2;
      last_was_encoded = false;
      continue;
    }
    std::optional<std::string> decoded = decode_encoded_word(value.substr(start, end - start));
    std::string_view between = value.substr(i, start - i);
    bool only_space = between.find_first_not_of(" \t") == std::string_view::npos;
    if (decoded) {
      if (!(last_was_encoded && only_space)) out.append(between);
      out += *decoded;
      last_was_encoded = true;
    } else {
      out.append(value.substr(i, end - i));
      last_was_encoded = false;
    }
    i = end;
  }
  out.append(value.substr(i));
  return out;
}

}  // namespace

MessageSummarizer::MessageSummarizer(bool dot_stuffed) : dot_stuffed_(dot_stuffed) {
  reset();
}

MessageSummarizer::~MessageSummarizer() = default;

void MessageSummarizer::reset() {
  at_line_start_ = true;
  size_ = 0;
  wire_size_ = 0;
  header_window_.clear();
  header_done_ = false;
  header_complete_ = false;
  sha_.reset(EVP_MD_CTX_new());
  if (sha_ && EVP_DigestInit_ex(sha_.get(), EVP_sha256(), nullptr) != 1) sha_.reset();
}

void MessageSummarizer::feed(std::string_view wire) {
  wire_size_ += wire.size();
  if (!dot_stuffed_) {
    absorb_content(wire);
    return;
  }
  // Drop the first '.' of every line (RFC 5321 4.5.2), keeping track of line starts across pieces.
  // Only a '.' at a line start matters, so the scan jumps from one to the next and the content
  // between stuffed dots goes to the hash in one piece.
  if (wire.empty()) return;
  size_t start = at_line_start_ && wire[0] == '.' ? 1 : 0;
  for (size_t dot = next_line_start_dot(wire, 0); dot != std::string_view::npos;
       dot = next_line_start_dot(wire, dot)) {
    absorb_content(wire.substr(start, dot - start));
    start = dot + 1;
  }
  at_line_start_ = wire.back() == '\n';
  absorb_content(wire.substr(start));
}

void MessageSummarizer::feed_unstuffed(std::string_view content, uint64_t wire_bytes) {
  wire_size_ += wire_bytes;
  absorb_content(content);
}

void MessageSummarizer::absorb_content(std::string_view content) {
  if (content.empty()) return;
  size_ += content.size();
  if (sha_) EVP_DigestUpdate(sha_.get(), content.data(), content.size());
  if (header_done_) return;
  size_t old = header_window_.size();
  size_t room = kHeaderWindow - old;
  header_window_.append(content.substr(0, room));
  // The header block ends at the first empty line: a '\n' followed by "\r\n" or "\n" (or the
  // content starting with one). Search only where a new one can appear.
  size_t end = std::string::npos;
  if (header_window_.rfind("\r\n", 0) == 0) {
    end = 2;
  } else if (header_window_.rfind("\n", 0) == 0) {
    end = 1;
  } else {
    size_t from = old >= 2 ? old - 2 : 0;
    size_t crlf = header_window_.find("\n\r\n", from);
    size_t lf = header_window_.find("\n\n", from);
    if (crlf != std::string::npos && (lf == std::string::npos || crlf < lf)) {
      end = crlf + 3;
    } else if (lf != std::string::npos) {
      end = lf + 2;
    }
  }
  if (end != std::string::npos) {
    header_window_.resize(end);
    header_done_ = true;
    header_complete_ = true;
  } else if (header_window_.size() >= kHeaderWindow) {
    header_done_ = true;
  }
}

nlohmann::json MessageSummarizer::parse_headers() const {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 6> kWanted = {{
      {"from", "from"},
      {"to", "to"},
      {"cc", "cc"},
      {"subject", "subject"},
      {"date", "date"},
      {"message-id", "message_id"},
  }};
  nlohmann::json headers = nlohmann::json::object();
  std::string name, value;
  auto flush = [&] {
    if (name.empty()) return;
    std::string key = lower(text::trim(name));
    for (const auto& [header, field] : kWanted) {
      if (key == header && !headers.contains(field)) {
        headers[std::string(field)] = text::json_safe(decode_header_value(text::trim(value)), 512);
      }
    }
    name.clear();
    value.clear();
  };
  std::string_view rest = header_window_;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    bool complete_line = nl != std::string_view::npos;
    std::string_view line = text::strip_eol(rest.substr(0, complete_line ? nl + 1 : rest.size()));
    rest.remove_prefix(complete_line ? nl + 1 : rest.size());
    if (line.empty()) break;  // end of the header block
    if (line[0] == ' ' || line[0] == '\t') {
      if (!name.empty() && value.size() < 4096) value.append(line);  // folded continuation
      continue;
    }
    flush();
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;  // not a header line (mbox "From " etc.)
    name = std::string(line.substr(0, colon));
    value = std::string(line.substr(colon + 1, 4096));
  }
  flush();
  return headers;
}

nlohmann::json MessageSummarizer::summary() const {
  nlohmann::json s = json_object("size", size_);
  if (dot_stuffed_) s["wire_size"] = wire_size_;
  if (sha_) {
    // Digest a copy, so that summary() can be called before the message is complete.
    std::unique_ptr<EVP_MD_CTX, FreeMdCtx> copy(EVP_MD_CTX_new());
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int len = 0;
    if (copy && EVP_MD_CTX_copy_ex(copy.get(), sha_.get()) == 1 &&
        EVP_DigestFinal_ex(copy.get(), digest.data(), &len) == 1) {
      // Lower-case hex, as "%02x" wrote it (snprintf per byte cost ~700 instructions each).
      static constexpr char kHex[] = "0123456789abcdef";
      std::string hex(2 * static_cast<size_t>(len), '0');
      for (unsigned int i = 0; i < len; ++i) {
        hex[2 * i] = kHex[digest[i] >> 4];
        hex[2 * i + 1] = kHex[digest[i] & 0x0f];
      }
      s["sha256"] = std::move(hex);
    }
  }
  s["headers"] = parse_headers();
  if (header_complete_) s["header_bytes"] = header_window_.size();
  return s;
}

std::string MessageSummarizer::describe() const {
  nlohmann::json headers = parse_headers();
  std::string out = std::to_string(size_) + " bytes";
  if (headers.contains("subject")) out += ", Subject: " + headers["subject"].get<std::string>();
  if (headers.contains("from")) out += ", From: " + headers["from"].get<std::string>();
  return out;
}

}  // namespace mailtap::decode
