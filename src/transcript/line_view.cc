#include "mailtap/transcript/line_view.h"

#include "mailtap/transcript/transcript_writer.h"

namespace mailtap::transcript {
namespace {

// Cuts `s` to at most `n` bytes without splitting a UTF-8 sequence.
size_t utf8_cut(std::string_view s, size_t n) {
  if (n >= s.size()) return s.size();
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xc0) == 0x80) --n;
  return n;
}

std::string leg_of(const nlohmann::json& line) {
  std::string leg = field_text(line, "leg");
  if (leg.empty()) return "";
  return leg == "both" ? " both legs" : " " + leg + " leg";
}

}  // namespace

std::string field_text(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

bool is_content_frame(std::string_view frame) {
  return frame == "body" || frame == "literal" || frame == "chunk";
}

std::optional<DataView> view_data(const nlohmann::json& line) {
  if (!line.is_object() || line.value("type", "") != "data") return std::nullopt;
  DataView v;
  v.from = field_text(line, "from");
  v.to = field_text(line, "to");
  v.frame = field_text(line, "frame");
  v.tls = line.value("tls", false);
  v.binary = line.contains("b64");
  v.redacted = line.value("redacted", false);
  v.dropped = v.to == "mailtap";
  v.speaker = v.from == "client" ? "C" : v.from == "server" ? "S" : "P";
  try {
    v.bytes = decode_bytes(line);
  } catch (const std::exception&) {
    v.bytes.clear();
  }
  auto len = line.find("len");
  v.len = len != line.end() && len->is_number_unsigned() ? len->get<size_t>() : v.bytes.size();
  return v;
}

std::vector<std::string> display_lines(std::string_view bytes, size_t max_chars) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < bytes.size()) {
    size_t nl = bytes.find('\n', start);
    size_t end = nl == std::string_view::npos ? bytes.size() : nl;
    std::string_view piece = bytes.substr(start, end - start);
    if (!piece.empty() && piece.back() == '\r') piece.remove_suffix(1);
    size_t keep = utf8_cut(piece, max_chars);
    std::string shown;
    for (char c : piece.substr(0, keep)) {
      if (c == '\r')
        shown += "\\r";
      else
        shown += c;
    }
    if (keep < piece.size())
      shown += "... (" + std::to_string(piece.size() - keep) + " more bytes)";
    out.push_back(std::move(shown));
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  if (out.empty()) out.emplace_back();
  return out;
}

std::string annotation(const nlohmann::json& line) {
  std::string note = field_text(line, "note");
  if (!note.empty()) return note;
  if (auto d = line.find("decoded"); d != line.end() && d->is_object()) {
    return field_text(*d, "summary");
  }
  return "";
}

std::vector<LineWarning> line_warnings(const nlohmann::json& line) {
  std::vector<LineWarning> out;
  auto w = line.find("warnings");
  if (w == line.end() || !w->is_array()) return out;
  for (const auto& item : *w) {
    if (item.is_object()) {
      out.push_back({field_text(item, "code"), field_text(item, "message")});
    } else if (item.is_string()) {
      out.push_back({"", item.get<std::string>()});
    }
  }
  return out;
}

std::string describe_event(const nlohmann::json& line) {
  const std::string type = field_text(line, "type");
  std::string out;
  if (type == "connect") {
    out = "connected" + leg_of(line);
    if (auto peer = field_text(line, "peer"); !peer.empty()) out += " " + peer;
  } else if (type == "tls") {
    out = "TLS" + leg_of(line);
    for (const char* key : {"version", "cipher"}) {
      if (auto v = field_text(line, key); !v.empty()) out += " " + v;
    }
    if (auto sni = field_text(line, "sni"); !sni.empty()) out += " sni=" + sni;
    if (auto cert = line.find("peer_certificate"); cert != line.end() && cert->is_object()) {
      if (auto subject = field_text(*cert, "subject"); !subject.empty())
        out += " peer=\"" + subject + "\"";
    }
    if (auto v = line.find("verification"); v != line.end()) {
      if (v->is_string())
        out += " verify=" + v->get<std::string>();
      else if (v->is_object())
        out +=
            " verify=" + (field_text(*v, "result").empty() ? v->dump() : field_text(*v, "result"));
      else
        out += " verify=" + v->dump();
    }
  } else if (type == "starttls") {
    out = "STARTTLS" + leg_of(line);
    if (auto phase = field_text(line, "phase"); !phase.empty()) out += " " + phase;
    if (auto by = field_text(line, "handled_by"); !by.empty()) out += " (handled by " + by + ")";
  } else if (type == "warning" || type == "error") {
    out = type;
    if (auto code = field_text(line, "code"); !code.empty()) out += " " + code;
    if (auto msg = field_text(line, "message"); !msg.empty()) out += ": " + msg;
  } else if (type == "close") {
    out = "close" + leg_of(line);
    if (auto by = field_text(line, "by"); !by.empty()) out += " by " + by;
    if (auto reason = field_text(line, "reason"); !reason.empty()) out += " (" + reason + ")";
    if (auto in = field_text(line, "bytes_in"); !in.empty()) out += " in=" + in;
    if (auto outb = field_text(line, "bytes_out"); !outb.empty()) out += " out=" + outb;
    // A whole-session close carries both legs' counts.
    for (const char* leg : {"client", "server"}) {
      std::string in = field_text(line, (std::string(leg) + "_bytes_in").c_str());
      std::string o = field_text(line, (std::string(leg) + "_bytes_out").c_str());
      if (!in.empty() || !o.empty()) out += std::string(" ") + leg + " in=" + in + " out=" + o;
    }
  } else {
    // A type this build does not know: name it and show its own fields compactly.
    out = type.empty() ? "event" : type;
    nlohmann::json rest = line.is_object() ? line : nlohmann::json::object();
    for (const char* k : {"t", "seq", "type", "note", "decoded", "warnings"}) rest.erase(k);
    if (!rest.empty()) out += " " + rest.dump();
  }
  return out;
}

std::string describe_header(const nlohmann::json& h) {
  const nlohmann::json& l = h.contains("listener") && h["listener"].is_object()
                                ? h["listener"]
                                : nlohmann::json::object();
  std::string out = "session " + field_text(h, "session") + " " + field_text(h, "protocol");
  if (auto c = field_text(h, "client"); !c.empty()) out += " from " + c;
  if (auto name = field_text(l, "name"); !name.empty()) out += " via " + name;
  if (auto tls = field_text(l, "client_tls"); !tls.empty()) out += " (client TLS " + tls + ")";
  if (auto up = field_text(l, "upstream"); !up.empty()) out += " to " + up;
  if (auto tls = field_text(l, "upstream_tls"); !tls.empty()) {
    out += " (upstream TLS " + tls;
    if (l.value("upstream_insecure", false)) out += ", certificate NOT verified";
    out += ")";
  }
  return out;
}

std::vector<std::string> message_header_lines(std::string_view content, size_t max_lines) {
  std::vector<std::string> out;
  size_t start = 0;
  while (out.size() < max_lines && start < content.size()) {
    size_t nl = content.find('\n', start);
    if (nl == std::string_view::npos) break;  // only complete lines
    std::string_view line = content.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;  // end of the header section
    bool continuation = line[0] == ' ' || line[0] == '\t';
    if (!continuation) {
      size_t colon = line.find(':');
      if (colon == 0 || colon == std::string_view::npos) break;
      for (char c : line.substr(0, colon))
        if (c <= ' ' || c > '~') return out;  // not a header field name: not a message
    } else if (out.empty()) {
      break;
    }
    out.push_back(display_lines(line, 120).front());
    start = nl + 1;
  }
  return out;
}

}  // namespace mailtap::transcript
