// One session as an HTML timeline: a row per line, in the client's or the server's column, built
// from the same rows `mailtap show` prints (show::build_rows), so both read a session alike.
#include <regex>

#include "mailtap/report/html.h"
#include "mailtap/report/report.h"
#include "mailtap/show/rows.h"
#include "mailtap/transcript/line_view.h"

namespace mailtap::report {
namespace {

// Which rows belong to an authentication exchange: from the client's AUTH / AUTHENTICATE /
// LOGIN / USER command up to and including the server's final answer to it (not a SASL
// challenge). Marked so a reader finds the decoded AUTH steps at a glance.
std::vector<bool> auth_rows(const std::vector<show::Row>& rows, const std::string& protocol) {
  static const std::regex command("^(?:([A-Za-z0-9.]+) )?(AUTH|AUTHENTICATE|LOGIN|USER|APOP)( |$)",
                                  std::regex::icase);
  static const std::regex smtp_final("^[0-9]{3}( |$)");
  std::vector<bool> marked(rows.size(), false);
  bool open = false;
  std::string tag;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    if (r.kind != show::RowKind::data || r.lines.empty()) continue;
    const std::string first = r.lines.front().substr(0, 80);
    if (!open && r.speaker == "C") {
      std::smatch m;
      if (!std::regex_search(first, m, command)) continue;
      const bool imap = protocol == "imap";
      if (imap != m[1].matched) continue;  // IMAP commands carry a tag, the others none
      tag = m[1].str();
      open = true;
      marked[i] = true;
      continue;
    }
    if (!open) continue;
    marked[i] = true;
    if (r.speaker != "S") continue;
    bool final_reply;
    if (protocol == "imap") {
      final_reply = first.rfind(tag + " ", 0) == 0;
    } else if (protocol == "pop3") {
      final_reply = first.rfind("+OK", 0) == 0 || first.rfind("-ERR", 0) == 0;
    } else {
      final_reply = std::regex_search(first, smtp_final) && first.rfind("334", 0) != 0;
    }
    if (final_reply) open = false;
  }
  return marked;
}

void write_lines(const std::vector<std::string>& lines, std::ostream& out) {
  out << "<pre>";
  for (size_t i = 0; i < lines.size(); ++i) out << (i ? "\n" : "") << text(lines[i]);
  out << "</pre>";
}

void write_note(const show::Row& r, std::ostream& out) {
  out << "<td class=\"note\">";
  if (!r.note.empty()) out << "<div>" << text(r.note) << "</div>";
  for (const auto& w : r.warnings) {
    out << "<div class=\"warn\"><span class=\"badge warn-badge\">warning</span> ";
    if (!w.code.empty()) out << "<code>" << text(w.code) << "</code> ";
    out << text(w.message) << "</div>";
  }
  out << "</td>";
}

void write_latency(const show::Row& r, std::ostream& out) {
  out << "<td class=\"latency\">";
  if (r.latency_us) {
    out << "<span title=\""
        << (r.latency_computed ? "estimated: time until the next server data"
                               : "time until the reply (from the decoder)")
        << "\">" << (r.latency_computed ? "~" : "") << text(show::format_duration(*r.latency_us))
        << "</span>";
  }
  out << "</td>";
}

std::string offset_cell(const show::Row& r) {
  return "<td class=\"time\">" + (r.offset_us ? text(show::format_offset(*r.offset_us)) : "") +
         (r.tls && (r.kind == show::RowKind::data || r.kind == show::RowKind::content)
              ? "<br><span class=\"tls-mark\" title=\"travelled over TLS\">TLS</span>"
              : "") +
         "</td>";
}

}  // namespace

void write_timeline(const ReportSession& session, size_t index, std::ostream& out) {
  const auto& t = session.transcript;
  const auto rows = show::build_rows(t.header, t.events);
  size_t commands = 0, warnings = 0, boundaries = 0;
  for (const auto& r : rows) {
    if (r.kind == show::RowKind::data && r.speaker == "C") ++commands;
    if (r.kind == show::RowKind::alert) ++warnings;
    if (r.kind == show::RowKind::boundary) ++boundaries;
    warnings += r.warnings.size();
  }
  out << "<section class=\"session\" id=\"session-" << index << "\">\n";
  out << "<h2>" << text(session.name) << "</h2>\n";
  out << "<p class=\"header\">" << text(transcript::describe_header(t.header)) << "</p>\n";
  out << "<p class=\"stats\">" << commands << " client lines, " << boundaries << " TLS events, "
      << warnings << " warning" << (warnings == 1 ? "" : "s");
  if (t.truncated) out << ", <strong>the last line was cut off mid-write and is not shown</strong>";
  out << "</p>\n";
  const auto auth = auth_rows(rows, transcript::field_text(t.header, "protocol"));
  out << "<table class=\"timeline\">\n<thead><tr><th class=\"time\">time (s)</th>"
         "<th>client</th><th>server</th><th>meaning</th><th class=\"latency\">latency</th>"
         "</tr></thead>\n<tbody>\n";
  for (size_t row_index = 0; row_index < rows.size(); ++row_index) {
    const show::Row& r = rows[row_index];
    switch (r.kind) {
      case show::RowKind::boundary:
        out << "<tr class=\"boundary\">" << offset_cell(r)
            << "<td colspan=\"4\"><span class=\"badge tls-badge\">TLS</span> "
            << text(r.lines.empty() ? "" : r.lines.front()) << "</td></tr>\n";
        continue;
      case show::RowKind::alert:
        out << "<tr class=\"alert\">" << offset_cell(r)
            << "<td colspan=\"4\"><span class=\"badge warn-badge\">mailtap</span> "
            << text(r.lines.empty() ? "" : r.lines.front()) << "</td></tr>\n";
        continue;
      case show::RowKind::event:
        out << "<tr class=\"event\">" << offset_cell(r) << "<td colspan=\"4\">"
            << text(r.lines.empty() ? "" : r.lines.front()) << "</td></tr>\n";
        continue;
      case show::RowKind::data:
      case show::RowKind::content:
        break;
    }
    std::string classes = r.speaker == "C" ? "c" : r.speaker == "S" ? "s" : "p";
    if (r.kind == show::RowKind::content) classes += " content";
    if (auth[row_index]) classes += " auth";
    if (!r.warnings.empty()) classes += " warned";
    if (r.tls) classes += " tls";
    out << "<tr class=\"" << classes << "\">" << offset_cell(r);
    auto cell = [&](const char* extra) {
      out << "<td class=\"line" << extra << "\">";
      if (auth[row_index]) out << "<span class=\"badge auth-badge\">AUTH</span>";
      if (r.kind == show::RowKind::content) {
        out << "<details><summary>" << text(r.lines.empty() ? "" : r.lines.front()) << "</summary>";
        write_lines(
            std::vector<std::string>(r.lines.begin() + (r.lines.empty() ? 0 : 1), r.lines.end()),
            out);
        out << "</details>";
      } else {
        write_lines(r.lines, out);
      }
      out << "</td>";
    };
    if (r.speaker == "S") {
      out << "<td></td>";
      cell("");
    } else if (r.speaker == "C") {
      cell("");
      out << "<td></td>";
    } else {
      // bytes mailtap wrote itself span both columns
      out << "<td colspan=\"2\" class=\"line proxy\">";
      out << "<span class=\"badge proxy-badge\">mailtap</span>";
      write_lines(r.lines, out);
      out << "</td>";
    }
    write_note(r, out);
    write_latency(r, out);
    out << "</tr>\n";
  }
  out << "</tbody></table>\n</section>\n";
}

}  // namespace mailtap::report
