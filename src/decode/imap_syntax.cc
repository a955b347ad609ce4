#include "mailtap/decode/imap_syntax.h"

#include <algorithm>

#include "sasl_text.h"

namespace mailtap::decode::imap {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Characters that end an atom (RFC 3501 atom-specials, minus the list wildcards and ']' which
// servers and clients use inside atoms in practice: LIST patterns, flag names, sections).
bool ends_atom(char c) {
  return c == ' ' || c == '(' || c == ')' || c == '"' || c == '{' || c == '\r' || c == '\n' ||
         static_cast<unsigned char>(c) < 0x20 || c == 0x7F;
}

}  // namespace

std::optional<LiteralMarker> literal_marker(std::string_view line, std::string* error) {
  if (line.empty() || line.back() != '}') return std::nullopt;
  size_t close = line.size() - 1;
  size_t open = line.rfind('{');
  if (open == std::string_view::npos) return std::nullopt;
  std::string_view inner = line.substr(open + 1, close - open - 1);
  LiteralMarker marker;
  marker.offset = open;
  if (!inner.empty() && (inner.back() == '+' || inner.back() == '-')) {
    marker.synchronizing = false;
    inner.remove_suffix(1);
  }
  if (inner.empty() || !std::all_of(inner.begin(), inner.end(), is_digit)) return std::nullopt;
  // The marker is only one when it stands alone: at the line start or after a space, '(' or '~'.
  if (open > 0) {
    char before = line[open - 1];
    if (before == '~') {
      marker.kind = LiteralKind::binary;
      marker.offset = open - 1;
    } else if (before != ' ' && before != '(') {
      return std::nullopt;
    }
  }
  if (marker.kind != LiteralKind::binary) {
    marker.kind = marker.synchronizing ? LiteralKind::sync : LiteralKind::non_sync;
  }
  uint64_t size = 0;
  for (char c : inner) {
    uint64_t digit = static_cast<uint64_t>(c - '0');
    if (size > (kMaxLiteralSize - digit) / 10) {
      if (error != nullptr) {
        *error = "literal size " + text::json_safe(inner, 40) + " is absurd (limit 2^40 bytes)";
      }
      return std::nullopt;
    }
    size = size * 10 + digit;
  }
  marker.size = size;
  return marker;
}

void Literal::absorb(std::string_view bytes) {
  uint64_t room = marker.size > received ? marker.size - received : 0;
  if (bytes.size() > room) bytes = bytes.substr(0, static_cast<size_t>(room));
  if (head.size() < kHeadLimit) {
    head.append(bytes.substr(0, kHeadLimit - head.size()));
  }
  if (summarizer) summarizer->feed(bytes);
  received += bytes.size();
}

bool Value::is_atom(std::string_view upper_name) const {
  return kind == Kind::atom && text::iequals(text, upper_name);
}

std::optional<uint64_t> Value::number() const {
  if (kind != Kind::atom || text.empty() || text.size() > 19) return std::nullopt;
  uint64_t n = 0;
  for (char c : text) {
    if (!is_digit(c)) return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

Reader::Reader(const LogicalLine& line) : line_(line) {}

std::string_view Reader::segment() const {
  if (segment_ >= line_.segments.size()) return {};
  return line_.segments[segment_];
}

bool Reader::at_segment_end() const { return offset_ >= segment().size(); }

bool Reader::at_end() const {
  return segment_ >= line_.segments.size() ||
         (segment_ + 1 == line_.segments.size() && at_segment_end());
}

char Reader::peek() const { return at_segment_end() ? '\0' : segment()[offset_]; }

bool Reader::skip_spaces() {
  size_t start = offset_;
  while (!at_segment_end() && segment()[offset_] == ' ') ++offset_;
  return offset_ > start;
}

bool Reader::fail(std::string message) {
  if (error_.empty()) error_ = std::move(message);
  return false;
}

std::optional<Value> Reader::read_value() { return read_value_at(0); }

std::optional<Value> Reader::read_value_at(size_t depth) {
  if (++values_ > kMaxValues) {
    fail("too many values in one line");
    return std::nullopt;
  }
  if (at_segment_end()) {
    fail("value expected at end of line");
    return std::nullopt;
  }
  char c = peek();
  if (c == '(') {
    if (depth >= kMaxDepth) {
      fail("lists nested too deeply");
      return std::nullopt;
    }
    return read_list(depth + 1);
  }
  if (c == '"') return read_quoted();
  if (c == '{' || (c == '~' && offset_ + 1 < segment().size() && segment()[offset_ + 1] == '{')) {
    return read_literal();
  }
  if (c == ')') {
    fail("unexpected ')'");
    return std::nullopt;
  }
  return read_atom();
}

std::optional<Value> Reader::read_list(size_t depth) {
  Value list;
  list.kind = Value::Kind::list;
  list.span = {segment_, offset_, offset_};
  ++offset_;  // '('
  for (;;) {
    skip_spaces();
    if (at_segment_end() && segment_ + 1 >= line_.segments.size()) {
      fail("list not closed");
      return std::nullopt;
    }
    if (peek() == ')') {
      ++offset_;
      break;
    }
    auto item = read_value_at(depth);
    if (!item) return std::nullopt;
    list.items.push_back(std::move(*item));
  }
  if (list.span.segment == segment_) list.span.end = offset_;
  return list;
}

std::optional<Value> Reader::read_quoted() {
  Value v;
  v.kind = Value::Kind::quoted;
  v.span = {segment_, offset_, offset_};
  std::string_view seg = segment();
  size_t i = offset_ + 1;
  while (i < seg.size() && seg[i] != '"') {
    if (seg[i] == '\\' && i + 1 < seg.size()) ++i;
    v.text += seg[i];
    ++i;
  }
  if (i >= seg.size()) {
    fail("quoted string not closed");
    return std::nullopt;
  }
  offset_ = i + 1;
  v.span.end = offset_;
  return v;
}

std::optional<Value> Reader::read_literal() {
  std::string_view rest = segment().substr(offset_);
  std::string why;
  auto marker = literal_marker(rest, &why);
  if (!marker || marker->offset != 0) {
    fail(why.empty() ? "literal marker not at the end of the line" : why);
    return std::nullopt;
  }
  Value v;
  v.kind = Value::Kind::literal;
  v.span = {segment_, offset_, segment().size()};
  if (segment_ < line_.literals.size()) {
    v.literal = segment_;
    v.text = line_.literals[segment_].head;
  }
  ++segment_;
  offset_ = 0;
  return v;
}

std::optional<Value> Reader::read_atom() {
  Value v;
  v.kind = Value::Kind::atom;
  v.span = {segment_, offset_, offset_};
  std::string_view seg = segment();
  size_t i = offset_;
  while (i < seg.size() && !ends_atom(seg[i])) {
    if (seg[i] == '[') {
      // A section: everything up to the matching ']' belongs to the atom, spaces included.
      int brackets = 0;
      while (i < seg.size()) {
        if (seg[i] == '[') ++brackets;
        if (seg[i] == ']' && --brackets == 0) break;
        ++i;
      }
      if (i >= seg.size()) {
        fail("section '[' not closed");
        return std::nullopt;
      }
    }
    ++i;
  }
  if (i == offset_) {
    fail("unexpected character '" + text::json_safe(seg.substr(i, 1)) + "'");
    return std::nullopt;
  }
  v.text = std::string(seg.substr(offset_, i - offset_));
  offset_ = i;
  v.span.end = offset_;
  return v;
}

std::optional<std::string> Reader::read_word() {
  std::string_view seg = segment();
  size_t i = offset_;
  while (i < seg.size() && !ends_atom(seg[i]) && seg[i] != '[') ++i;
  if (i == offset_) return std::nullopt;
  std::string word(seg.substr(offset_, i - offset_));
  offset_ = i;
  return word;
}

std::string Reader::read_rest_of_segment() {
  std::string rest(segment().substr(std::min(offset_, segment().size())));
  offset_ = segment().size();
  return rest;
}

std::optional<std::string> Reader::read_bracketed() {
  if (peek() != '[') return std::nullopt;
  std::string_view seg = segment();
  int depth = 0;
  for (size_t i = offset_; i < seg.size(); ++i) {
    if (seg[i] == '[') ++depth;
    if (seg[i] == ']' && --depth == 0) {
      std::string inner(seg.substr(offset_ + 1, i - offset_ - 1));
      offset_ = i + 1;
      return inner;
    }
  }
  fail("response code '[' not closed");
  return std::nullopt;
}

std::vector<Value> read_all(const LogicalLine& line, std::string* error) {
  Reader reader(line);
  std::vector<Value> values;
  for (;;) {
    reader.skip_spaces();
    if (reader.at_end()) break;
    auto v = reader.read_value();
    if (!v) break;
    values.push_back(std::move(*v));
  }
  if (error != nullptr) *error = reader.error();
  return values;
}

nlohmann::json to_json(const Value& value, const LogicalLine& line) {
  switch (value.kind) {
    case Value::Kind::atom:
      if (value.is_nil()) return nullptr;
      return text::json_safe(value.text);
    case Value::Kind::quoted:
      return text::json_safe(value.text);
    case Value::Kind::literal: {
      if (value.literal >= line.literals.size()) return {{"literal", nullptr}};
      const Literal& lit = line.literals[value.literal];
      if (lit.head_is_whole() && lit.marker.size <= text::kMaxFieldBytes &&
          text::is_printable(lit.head)) {
        return text::json_safe(lit.head);
      }
      nlohmann::json j = {{"literal", lit.marker.size}};
      if (!lit.complete()) j["received"] = lit.received;
      if (lit.summarizer) j["sha256"] = lit.summarizer->summary().value("sha256", "");
      return j;
    }
    case Value::Kind::list: {
      nlohmann::json arr = nlohmann::json::array();
      for (const Value& item : value.items) arr.push_back(to_json(item, line));
      return arr;
    }
  }
  return nullptr;
}

std::string to_text(const Value& value, size_t max) {
  std::string out;
  switch (value.kind) {
    case Value::Kind::atom:
      out = value.text;
      break;
    case Value::Kind::quoted:
      if (value.text.empty() || value.text.find(' ') != std::string::npos) {
        out = "\"" + value.text + "\"";
      } else {
        out = value.text;
      }
      break;
    case Value::Kind::literal:
      // The head of a short literal reads like a string; a long one is just "{literal}".
      if (!value.text.empty() && value.text.size() <= 64 && text::is_printable(value.text) &&
          value.text.find_first_of("\r\n") == std::string::npos) {
        out = "\"" + value.text + "\"";
      } else {
        out = "{literal}";
      }
      break;
    case Value::Kind::list:
      out = "(";
      for (size_t i = 0; i < value.items.size() && out.size() < max; ++i) {
        if (i > 0) out += ' ';
        out += to_text(value.items[i], max);
      }
      out += ")";
      break;
  }
  return text::json_safe(out, max);
}

namespace {

int modified_base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == ',') return 63;
  return -1;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

std::string decode_mailbox_name(std::string_view name) {
  std::string out;
  size_t i = 0;
  while (i < name.size()) {
    char c = name[i];
    if (c != '&') {
      out += c;
      ++i;
      continue;
    }
    size_t end = name.find('-', i + 1);
    if (end == std::string_view::npos) return std::string(name);
    if (end == i + 1) {  // "&-" is a literal '&'
      out += '&';
      i = end + 1;
      continue;
    }
    // Base64 of UTF-16BE code units, ',' in place of '/', no padding.
    uint32_t bits = 0;
    int nbits = 0;
    uint32_t high_surrogate = 0;
    for (size_t k = i + 1; k < end; ++k) {
      int v = modified_base64_value(name[k]);
      if (v < 0) return std::string(name);
      bits = (bits << 6) | static_cast<uint32_t>(v);
      nbits += 6;
      if (nbits >= 16) {
        nbits -= 16;
        uint32_t unit = (bits >> nbits) & 0xFFFF;
        if (unit >= 0xD800 && unit <= 0xDBFF) {
          if (high_surrogate != 0) return std::string(name);
          high_surrogate = unit;
        } else if (unit >= 0xDC00 && unit <= 0xDFFF) {
          if (high_surrogate == 0) return std::string(name);
          append_utf8(out, 0x10000 + ((high_surrogate - 0xD800) << 10) + (unit - 0xDC00));
          high_surrogate = 0;
        } else {
          if (high_surrogate != 0) return std::string(name);
          append_utf8(out, unit);
        }
      }
    }
    if (high_surrogate != 0) return std::string(name);
    i = end + 1;
  }
  return out;
}

}  // namespace mailtap::decode::imap
