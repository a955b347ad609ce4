// The report page: document head (inline style and script, allowed by hash in a strict
// Content-Security-Policy, so that nothing else can run or load even if some text slipped
// through unescaped), a table of contents, the diff and every session's timeline.
#include "mailtap/report/html.h"
#include "mailtap/report/report.h"
#include "mailtap/transcript/line_view.h"

namespace mailtap::report {
namespace {

constexpr const char* kStyle = R"CSS(
:root { --c: #1d4ed8; --s: #15803d; --p: #7c3aed; --warn: #b45309; --a: #b91c1c; --b: #15803d;
        --line: #e5e7eb; --muted: #6b7280; --bg-c: #eff6ff; --bg-s: #f0fdf4; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111827;
       margin: 0; background: #f9fafb; }
header.page { background: #111827; color: #f9fafb; padding: 14px 24px; }
header.page h1 { margin: 0; font-size: 20px; }
header.page p { margin: 4px 0 0; color: #d1d5db; }
main { padding: 8px 24px 40px; }
nav.toc ul { margin: 4px 0; padding-left: 20px; }
nav.toc a { color: var(--c); }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px;
          margin: 16px 0; }
h2 { font-size: 17px; margin: 4px 0 8px; word-break: break-all; }
p.header, p.stats, p.sides { color: var(--muted); margin: 2px 0; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 6px; vertical-align: top;
         text-align: left; }
th { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
th.time, td.time { width: 92px; color: var(--muted); font: 12px ui-monospace, monospace; }
th.latency, td.latency { width: 84px; text-align: right; font: 12px ui-monospace, monospace; }
table.timeline th:nth-child(2), table.timeline th:nth-child(3) { width: 30%; }
pre { margin: 0; white-space: pre-wrap; word-break: break-all;
      font: 12.5px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; }
tr.c td.line { background: var(--bg-c); border-left: 3px solid var(--c); }
tr.s td.line { background: var(--bg-s); border-left: 3px solid var(--s); }
td.proxy { background: #f5f3ff; border-left: 3px solid var(--p); }
tr.auth td.line { box-shadow: inset 0 0 0 2px #f59e0b; }
td.note { color: #374151; font-size: 12.5px; }
tr.boundary td { background: #fef9c3; font-weight: 600; border-top: 2px solid #ca8a04; }
tr.alert td { background: #fff7ed; color: var(--warn); font-weight: 600; }
tr.event td { color: var(--muted); font-size: 12px; }
.warn { color: var(--warn); margin-top: 2px; }
.badge { display: inline-block; font-size: 10.5px; font-weight: 700; border-radius: 4px;
         padding: 0 5px; margin: 0 4px 2px 0; vertical-align: middle; }
.warn-badge { background: #fed7aa; color: #7c2d12; }
.auth-badge { background: #fde68a; color: #78350f; }
.tls-badge { background: #e0e7ff; color: #3730a3; }
.proxy-badge { background: #ede9fe; color: #5b21b6; }
.tls-mark { font: 700 9.5px system-ui, sans-serif; color: #3730a3; background: #e0e7ff;
            border-radius: 3px; padding: 0 3px; }
details summary { cursor: pointer; font: 12.5px ui-monospace, monospace; }
table.diff-table th { text-transform: none; letter-spacing: 0; word-break: break-all; }
table.diff-table td.mark, table.diff-table th.mark { width: 28px; text-align: center;
  font-weight: 700; }
tr.pair.same td { color: var(--muted); }
tr.pair.changed td.mark { color: #a16207; background: #fef9c3; }
tr.pair.only-a td.mark, tr.pair.only-a td.side.a { background: #fef2f2; }
tr.pair.only-a td.mark { color: var(--a); }
tr.pair.only-b td.mark, tr.pair.only-b td.side.b { background: #f0fdf4; }
tr.pair.only-b td.mark { color: var(--b); }
tr.details td { border-top: none; padding-top: 0; }
.label { font: 600 13px ui-monospace, monospace; }
span.latency { color: var(--muted); font-weight: 400; }
pre.reply { color: #374151; margin-top: 2px; }
ul.differences { margin: 2px 0 6px; padding-left: 18px; }
ul.differences li { margin: 3px 0; }
.facet { font-weight: 700; margin-right: 6px; }
.a-val, .b-val { margin-left: 12px; }
.a-val code, .a-line { color: var(--a); }
.b-val code, .b-line { color: var(--b); }
.ctx-line, .more { color: var(--muted); }
code { font: 12.5px ui-monospace, monospace; background: #f3f4f6; border-radius: 3px;
       padding: 0 3px; word-break: break-all; }
.side-tag { font-weight: 700; font-size: 11px; color: var(--muted); }
.a-tag { color: var(--a); } .b-tag { color: var(--b); }
p.summary.identical { color: var(--s); font-weight: 600; }
p.summary.different { color: #a16207; }
ul.notes { color: #0e7490; font-size: 13px; }
body.hide-same tr.pair.same { display: none; }
)CSS";

constexpr const char* kScript = R"JS(
(function () {
  var box = document.getElementById('only-differences');
  if (box) {
    box.addEventListener('change', function () {
      document.body.classList.toggle('hide-same', box.checked);
    });
  }
  var open = document.getElementById('expand-content');
  if (open) {
    open.addEventListener('click', function () {
      var all = document.querySelectorAll('details');
      for (var i = 0; i < all.length; i++) all[i].open = true;
    });
  }
  document.body.setAttribute('data-ready', 'yes');
})();
)JS";

}  // namespace

void write_report(const std::vector<ReportSession>& sessions,
                  const std::optional<diff::SessionDiff>& diff, std::ostream& out,
                  const ReportOptions& options) {
  out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      << "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src "
      << csp_hash(kStyle) << "; script-src " << csp_hash(kScript)
      << "; img-src 'none'; form-action 'none'; base-uri 'none'\">\n"
      << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      << "<meta name=\"generator\" content=\"mailtap " << text(MAILTAP_VERSION) << "\">\n"
      << "<title>" << text(options.title) << "</title>\n<style>" << kStyle << "</style>\n"
      << "</head>\n<body>\n";
  out << "<header class=\"page\"><h1>" << text(options.title) << "</h1><p>" << sessions.size()
      << " session" << (sessions.size() == 1 ? "" : "s") << (diff ? ", compared side by side" : "")
      << " &middot; written by mailtap " << text(MAILTAP_VERSION) << "</p></header>\n<main>\n";
  out << "<nav class=\"toc\"><ul>";
  if (diff) out << "<li><a href=\"#diff\">How A and B differ</a></li>";
  for (size_t i = 0; i < sessions.size(); ++i) {
    out << "<li><a href=\"#session-" << i << "\">"
        << (diff && i < 2 ? (i == 0 ? "A: " : "B: ") : "") << text(sessions[i].name)
        << "</a> <span class=\"side-tag\">"
        << text(transcript::field_text(sessions[i].transcript.header, "protocol"))
        << "</span></li>";
  }
  out << "</ul><button type=\"button\" id=\"expand-content\">open all message contents</button>"
      << "</nav>\n";
  if (diff) write_diff(*diff, sessions[0].name, sessions[1].name, out);
  for (size_t i = 0; i < sessions.size(); ++i) write_timeline(sessions[i], i, out);
  out << "</main>\n<script>" << kScript << "</script>\n</body>\n</html>\n";
}

}  // namespace mailtap::report
