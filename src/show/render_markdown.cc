// Markdown rendering for bug reports: a small table describing the session, then one table row
// per exchange (time, who, what, meaning). Protocol text goes in code spans so nothing in it is
// taken for markup; '|' is escaped so it cannot split a cell.
#include <algorithm>
#include <string>

#include "mailtap/show/render.h"
#include "mailtap/transcript/line_view.h"

namespace mailtap::show {
namespace {

using transcript::field_text;

// Escapes text for a table cell outside code spans.
std::string cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|' || c == '\\' || c == '*' || c == '_' || c == '`' || c == '<' || c == '>' ||
        c == '[' || c == ']')
      out += '\\';
    out += c;
  }
  return out;
}

// A code span that survives backticks and pipes in the content (GFM tables honour "\|" inside
// code spans).
std::string code(const std::string& s) {
  if (s.empty()) return "";
  size_t longest = 0, run = 0;
  for (char c : s) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  std::string fence(longest + 1, '`');
  std::string body;
  for (char c : s) {
    if (c == '|') body += '\\';
    body += c;
  }
  const bool pad = body.front() == '`' || body.back() == '`' || body.front() == ' ';
  return fence + (pad ? " " : "") + body + (pad ? " " : "") + fence;
}

std::string who(const Row& r) {
  switch (r.kind) {
    case RowKind::data:
    case RowKind::content:
      return r.speaker + (r.tls ? " (TLS)" : "");
    case RowKind::boundary:
      return "TLS";
    case RowKind::alert:
      return "**!!**";
    case RowKind::event:
      return "==";
  }
  return "";
}

}  // namespace

void render_markdown(const nlohmann::json& header, const std::vector<nlohmann::json>& events,
                     std::ostream& out, const RenderOptions& options) {
  const nlohmann::json& l = header.contains("listener") && header["listener"].is_object()
                                ? header["listener"]
                                : nlohmann::json::object();
  out << "### mailtap transcript " << code(field_text(header, "session")) << " ("
      << cell(field_text(header, "protocol")) << ")\n\n";
  out << "| | |\n|---|---|\n";
  auto meta = [&](const std::string& name, const std::string& value) {
    if (!value.empty()) out << "| " << name << " | " << value << " |\n";
  };
  meta("client",
       code(field_text(header, "client")) + (field_text(l, "client_tls").empty()
                                                 ? ""
                                                 : ", TLS " + cell(field_text(l, "client_tls"))));
  std::string listener = code(field_text(l, "name"));
  if (auto listen = field_text(l, "listen"); !listen.empty())
    listener += (listener.empty() ? "" : " on ") + code(listen);
  meta("listener", listener);
  std::string upstream = code(field_text(l, "upstream"));
  if (auto tls = field_text(l, "upstream_tls"); !tls.empty()) upstream += ", TLS " + cell(tls);
  if (l.value("upstream_insecure", false)) upstream += ", **certificate NOT verified**";
  meta("upstream", upstream);
  meta("started", cell(field_text(header, "started")));
  meta("mailtap", cell(field_text(header, "mailtap_version")));
  meta("events", std::to_string(events.size()));
  out << "\n| time (s) | who | what | meaning |\n|---:|---|---|---|\n";

  for (const Row& r : build_rows(header, events, options.rows)) {
    std::string what;
    switch (r.kind) {
      case RowKind::data:
        for (size_t i = 0; i < r.lines.size(); ++i) what += (i ? "<br>" : "") + code(r.lines[i]);
        break;
      case RowKind::content:
        what = cell(r.lines.front());
        for (size_t i = 1; i < r.lines.size(); ++i) what += "<br>" + code(r.lines[i]);
        break;
      case RowKind::boundary:
        what = "**" + cell(r.lines.front()) + "**";
        break;
      case RowKind::alert:
        what = "**" + cell(r.lines.front()) + "**";
        break;
      case RowKind::event:
        what = cell(r.lines.front());
        break;
    }
    std::string meaning = cell(r.note);
    if (r.latency_us) {
      std::string lat =
          (r.latency_computed ? "reply after " : "latency ") + format_duration(*r.latency_us);
      meaning += meaning.empty() ? lat : " (" + lat + ")";
    }
    for (const auto& w : r.warnings) {
      meaning += (meaning.empty() ? "" : "<br>") + std::string("**warning** ") +
                 cell((w.code.empty() ? "" : w.code + ": ") + w.message);
    }
    out << "| " << (r.offset_us ? format_offset(*r.offset_us) : "") << " | " << who(r) << " | "
        << what << " | " << meaning << " |\n";
  }
}

}  // namespace mailtap::show
