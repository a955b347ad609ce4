#include "mailtap/show/rows.h"

#include <algorithm>
#include <cstdio>
#include <string_view>

namespace mailtap::show {
namespace {

using transcript::DataView;

std::optional<int64_t> time_of(const nlohmann::json& line) {
  auto t = line.find("t");
  if (t == line.end() || !t->is_number_integer()) return std::nullopt;
  return t->get<int64_t>();
}

// decoded.latency_us, or the first latency_us of an object inside one of decoded's arrays
// (decoders group several findings as {"items":[...]} or {"parts":[...]}).
std::optional<int64_t> decoded_latency(const nlohmann::json& line) {
  auto d = line.find("decoded");
  if (d == line.end() || !d->is_object()) return std::nullopt;
  auto read = [](const nlohmann::json& obj) -> std::optional<int64_t> {
    auto l = obj.find("latency_us");
    if (l == obj.end() || !l->is_number()) return std::nullopt;
    return l->get<int64_t>();
  };
  if (auto l = read(*d)) return l;
  for (const auto& [key, value] : d->items()) {
    if (!value.is_array()) continue;
    for (const auto& item : value)
      if (item.is_object())
        if (auto l = read(item)) return l;
  }
  return std::nullopt;
}

std::string join_notes(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty() || b == a) return a;
  return a + "; " + b;
}

std::string routing_note(const DataView& v) {
  if (v.dropped) return "dropped by mailtap";
  if (v.speaker == "P") return "sent by mailtap to " + v.to;
  return "";
}

bool is_client_command(const DataView& v) {
  return v.speaker == "C" && !v.dropped && !transcript::is_content_frame(v.frame);
}

bool is_key_header(std::string_view line) {
  static constexpr std::string_view kKeys[] = {"from", "to", "cc", "subject", "date", "message-id"};
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view name = line.substr(0, colon);
  for (std::string_view key : kKeys) {
    if (name.size() != key.size()) continue;
    bool same = true;
    for (size_t i = 0; i < key.size() && same; ++i)
      same = (name[i] | 0x20) == key[i] || (key[i] == '-' && name[i] == '-');
    if (same) return true;
  }
  return false;
}

// The header lines worth showing for a message: From, To, Cc, Subject, Date and Message-ID in
// the order the message has them (a delivered message starts with Return-Path and Received lines
// that say little about which message it is); the first lines when it has none of them (not a
// message, or its header block is beyond what was kept).
std::vector<std::string> preview_lines(const std::string& content, size_t max_lines) {
  std::vector<std::string> all = transcript::message_header_lines(content, 400);
  std::vector<std::string> key;
  for (const auto& line : all) {
    if (line.empty() || line[0] == ' ' || line[0] == '\t') continue;  // folded continuation
    if (is_key_header(line)) key.push_back(line);
  }
  if (key.empty()) {
    if (all.size() > max_lines) all.resize(max_lines);
    return all;
  }
  constexpr size_t kKeyFields = 6;  // every key field fits, whatever max_lines says
  if (key.size() > std::max(max_lines, kKeyFields)) key.resize(std::max(max_lines, kKeyFields));
  return key;
}

}  // namespace

std::string format_duration(int64_t us) {
  char buf[64];
  if (us < 1000) {
    std::snprintf(buf, sizeof buf, "%lld us", static_cast<long long>(us));
  } else if (us < 1'000'000) {
    std::snprintf(buf, sizeof buf, "%.3f ms", static_cast<double>(us) / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.3f s", static_cast<double>(us) / 1e6);
  }
  return buf;
}

std::string format_offset(int64_t us) {
  char buf[64];
  const char* sign = us < 0 ? "-" : "";
  int64_t a = us < 0 ? -us : us;
  std::snprintf(buf, sizeof buf, "%s%lld.%06lld", sign, static_cast<long long>(a / 1'000'000),
                static_cast<long long>(a % 1'000'000));
  return buf;
}

std::vector<Row> build_rows(const nlohmann::json& header, const std::vector<nlohmann::json>& events,
                            const RowOptions& options) {
  std::vector<Row> rows;
  const std::optional<int64_t> start = time_of(header);
  auto offset = [&](const nlohmann::json& line) -> std::optional<int64_t> {
    auto t = time_of(line);
    if (!t || !start) return t;
    return *t - *start;
  };

  bool decoder_latency = false;
  for (const auto& e : events) decoder_latency |= decoded_latency(e).has_value();

  // The content row being assembled from consecutive pieces, and its bytes so far.
  std::optional<size_t> open_content;
  std::string content_bytes;
  std::string content_frame;
  size_t content_pieces = 0, content_len = 0;
  auto close_content = [&] {
    if (!open_content) return;
    Row& r = rows[*open_content];
    std::string summary = "<" + content_frame + " " + std::to_string(content_len) + " bytes";
    if (content_pieces > 1) summary += " in " + std::to_string(content_pieces) + " pieces";
    summary += ">";
    r.lines.insert(r.lines.begin(), summary);
    for (auto& h : preview_lines(content_bytes, options.content_header_lines))
      r.lines.push_back(std::move(h));
    open_content.reset();
    content_bytes.clear();
    content_pieces = content_len = 0;
  };

  // Client command rows still waiting for a server reply (computed latency only).
  std::vector<std::pair<size_t, int64_t>> awaiting_reply;

  for (const auto& e : events) {
    const std::string type = transcript::field_text(e, "type");
    auto v = transcript::view_data(e);
    const std::string annotation = transcript::annotation(e);
    // Decoders already say when mailtap dropped or wrote a line; saying it twice reads as noise.
    const bool said = annotation.find("mailtap") != std::string::npos;
    const std::string note = join_notes(v && !said ? routing_note(*v) : "", annotation);

    if (v && transcript::is_content_frame(v->frame)) {
      const bool continues =
          open_content && rows[*open_content].speaker == v->speaker && content_frame == v->frame;
      if (!continues) {
        close_content();
        Row r;
        r.kind = RowKind::content;
        r.offset_us = offset(e);
        r.speaker = v->speaker;
        r.tls = v->tls;
        rows.push_back(std::move(r));
        open_content = rows.size() - 1;
        content_frame = v->frame;
      }
      Row& r = rows[*open_content];
      // Keep only what the header preview can use.
      if (content_bytes.size() < 16 * 1024) content_bytes += v->bytes.substr(0, 16 * 1024);
      content_len += v->len;
      ++content_pieces;
      // The first piece's note describes the content; later pieces only repeat it with other
      // offsets, and a message in thousands of pieces must not make a note of thousands of parts.
      if (r.note.empty()) r.note = note;
      for (auto& w : transcript::line_warnings(e)) r.warnings.push_back(std::move(w));
      if (auto l = decoded_latency(e)) r.latency_us = l;
      continue;
    }
    close_content();

    Row r;
    r.offset_us = offset(e);
    r.note = note;
    r.warnings = transcript::line_warnings(e);
    r.latency_us = decoded_latency(e);
    if (v) {
      r.kind = RowKind::data;
      r.speaker = v->speaker;
      r.tls = v->tls;
      if (v->binary) {
        r.lines.push_back("<" + std::to_string(v->len) + " binary bytes>");
      } else if (v->bytes == "\r\n" || v->bytes == "\n") {
        // A bare line end (e.g. what ends an IMAP command after its literal) would show as an
        // empty line that reads like nothing was sent.
        r.lines.push_back(v->bytes == "\n" ? "<LF>" : "<CRLF>");
      } else {
        r.lines = transcript::display_lines(v->bytes, options.max_line_chars);
      }
      if (!decoder_latency && time_of(e)) {
        if (v->speaker == "S" && !v->dropped) {
          for (auto [row, t] : awaiting_reply) {
            rows[row].latency_us = *time_of(e) - t;
            rows[row].latency_computed = true;
          }
          awaiting_reply.clear();
        }
        if (is_client_command(*v)) awaiting_reply.emplace_back(rows.size(), *time_of(e));
      }
    } else {
      r.kind = type == "warning" || type == "error"  ? RowKind::alert
               : type == "tls" || type == "starttls" ? RowKind::boundary
                                                     : RowKind::event;
      r.lines.push_back(transcript::describe_event(e));
    }
    rows.push_back(std::move(r));
  }
  close_content();
  return rows;
}

}  // namespace mailtap::show
