// Terminal rendering: a header block, then one line per row with time, speaker, text, the
// decoder's note and the command's latency; TLS transitions as ruled lines, alerts in red.
#include <cctype>
#include <string>

#include "mailtap/show/render.h"
#include "mailtap/transcript/line_view.h"

namespace mailtap::show {
namespace {

constexpr const char* kReset = "\x1b[0m";
constexpr const char* kDim = "\x1b[2m";
constexpr const char* kClient = "\x1b[32m";
constexpr const char* kServer = "\x1b[36m";
constexpr const char* kProxy = "\x1b[35m";
constexpr const char* kRule = "\x1b[33m";
constexpr const char* kAlert = "\x1b[1;31m";

constexpr size_t kNoteColumn = 58;  // text before the note is padded to this width
constexpr size_t kRuleWidth = 100;

using transcript::field_text;

class Painter {
 public:
  Painter(std::ostream& out, bool color) : out_(out), color_(color) {}
  Painter& operator()(const char* color, const std::string& text) {
    if (color_ && color)
      out_ << color << text << kReset;
    else
      out_ << text;
    return *this;
  }
  Painter& operator()(const std::string& text) {
    out_ << text;
    return *this;
  }

 private:
  std::ostream& out_;
  bool color_;
};

const char* speaker_color(const std::string& s) {
  return s == "C" ? kClient : s == "S" ? kServer : kProxy;
}

void header_block(const nlohmann::json& h, size_t event_count, Painter& p) {
  const nlohmann::json& l = h.contains("listener") && h["listener"].is_object()
                                ? h["listener"]
                                : nlohmann::json::object();
  p(kRule, "mailtap transcript " + field_text(h, "session") + " (" + field_text(h, "protocol") +
               ")")("\n");
  auto row = [&](const std::string& name, const std::string& value) {
    if (value.empty()) return;
    std::string label = "  " + name;
    label.resize(14, ' ');
    p(label + value + "\n");
  };
  row("client",
      field_text(h, "client") +
          (field_text(l, "client_tls").empty() ? "" : ", TLS " + field_text(l, "client_tls")));
  std::string listener = field_text(l, "name");
  if (auto listen = field_text(l, "listen"); !listen.empty() && listen != listener)
    listener += listener.empty() ? listen : " on " + listen;
  row("listener", listener);
  std::string upstream = field_text(l, "upstream");
  if (auto tls = field_text(l, "upstream_tls"); !tls.empty()) upstream += ", TLS " + tls;
  if (l.value("upstream_insecure", false)) upstream += ", certificate NOT verified (--insecure)";
  row("upstream", upstream);
  row("started", field_text(h, "started"));
  row("mailtap", field_text(h, "mailtap_version"));
  row("events", std::to_string(event_count));
  p("\n");
}

std::string time_column(const Row& r) {
  std::string t = r.offset_us ? format_offset(*r.offset_us) : "";
  if (t.size() < 12) t.insert(0, 12 - t.size(), ' ');
  return t + "  ";
}

std::string note_text(const Row& r) {
  std::string out = r.note;
  if (r.latency_us) {
    std::string l =
        (r.latency_computed ? "reply after " : "latency ") + format_duration(*r.latency_us);
    out = out.empty() ? l : out + " [" + l + "]";
  }
  return out;
}

}  // namespace

void render_text(const nlohmann::json& header, const std::vector<nlohmann::json>& events,
                 std::ostream& out, const RenderOptions& options) {
  Painter p(out, options.color);
  header_block(header, events.size(), p);
  const std::string indent(14, ' ');
  for (const Row& r : build_rows(header, events, options.rows)) {
    switch (r.kind) {
      case RowKind::data:
      case RowKind::content: {
        const std::string note = note_text(r);
        for (size_t i = 0; i < r.lines.size(); ++i) {
          const bool first = i == 0;
          std::string text;
          if (r.kind == RowKind::content && !first) {
            text = "     | " + r.lines[i];  // message header preview
          } else {
            text = r.speaker + ": " + r.lines[i];
          }
          p(first ? time_column(r) : indent);
          const bool last_text_line = r.kind == RowKind::content ? first : i + 1 == r.lines.size();
          if (last_text_line && !note.empty()) {
            if (text.size() < kNoteColumn) text.resize(kNoteColumn, ' ');
            p(speaker_color(r.speaker), text)("  ")(kDim, "# " + note)("\n");
          } else {
            p(speaker_color(r.speaker), text)("\n");
          }
        }
        break;
      }
      case RowKind::boundary: {
        std::string text = "---- " + r.lines.front() + " ";
        if (text.size() < kRuleWidth) text.resize(kRuleWidth, '-');
        p(time_column(r))(kRule, text)("\n");
        break;
      }
      case RowKind::alert: {
        std::string text = r.lines.front();
        // "warning code: message" -> "!! WARNING code: message"
        for (size_t i = 0; i < text.size() && text[i] != ' '; ++i)
          text[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(text[i])));
        p(time_column(r))(kAlert, "!! " + text);
        if (!r.note.empty()) p("  ")(kDim, "# " + r.note);
        p("\n");
        break;
      }
      case RowKind::event:
        p(time_column(r))(kDim, "== " + r.lines.front());
        if (!r.note.empty()) p("  ")(kDim, "# " + r.note);
        p("\n");
        break;
    }
    for (const auto& w : r.warnings) {
      p(indent)(kAlert, "!! WARNING " + (w.code.empty() ? "" : w.code + ": ") + w.message)("\n");
    }
  }
}

}  // namespace mailtap::show
