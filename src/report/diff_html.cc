// The comparison of two sessions as an HTML table: A's step and B's step side by side, with the
// facets that differ spelled out under each changed pair.
#include <algorithm>

#include "mailtap/diff/render.h"
#include "mailtap/report/html.h"
#include "mailtap/report/report.h"
#include "mailtap/show/rows.h"

namespace mailtap::report {
namespace {

constexpr size_t kMaxStepLines = 12;
constexpr size_t kContext = 2;

void write_step(const diff::Step& s, std::ostream& out) {
  out << "<div class=\"label\">" << text(diff::step_title(s));
  if (s.latency_us)
    out << " <span class=\"latency\">" << text(show::format_duration(*s.latency_us)) << "</span>";
  out << "</div>";
  const auto& lines = s.server_lines;
  if (lines.empty()) return;
  out << "<pre class=\"reply\">";
  for (size_t i = 0; i < lines.size() && i < kMaxStepLines; ++i)
    out << (i ? "\n" : "") << text(lines[i]);
  const size_t total = std::max(lines.size(), s.server_lines_total);
  if (total > kMaxStepLines)
    out << "\n<span class=\"more\">... " << total - kMaxStepLines << " more lines</span>";
  out << "</pre>";
}

void write_values(const std::string& tag, const std::vector<std::string>& items, bool missing,
                  const char* cls, std::ostream& out) {
  out << "<div class=\"" << cls << "\"><span class=\"side-tag\">" << tag << "</span> ";
  if (missing) {
    out << "<em>(none)</em>";
  } else {
    constexpr size_t kMaxItems = 200;
    for (size_t i = 0; i < items.size() && i < kMaxItems; ++i)
      out << (i ? " " : "") << "<code>" << text(items[i]) << "</code>";
    if (items.size() > kMaxItems)
      out << " <span class=\"more\">... " << items.size() - kMaxItems << " more</span>";
  }
  out << "</div>";
}

void write_difference(const diff::FacetDifference& d, std::ostream& out) {
  out << "<li><span class=\"facet\">" << text(d.facet) << "</span>";
  switch (d.kind) {
    case diff::Facet::Kind::value:
      write_values("A", {d.a.empty() && !d.missing_a ? "(empty)" : d.a}, d.missing_a, "a-val", out);
      write_values("B", {d.b.empty() && !d.missing_b ? "(empty)" : d.b}, d.missing_b, "b-val", out);
      break;
    case diff::Facet::Kind::set:
      if (d.missing_a || d.missing_b) {  // one side has none at all: the other's whole set
        write_values("A", d.only_a, d.missing_a, "a-val", out);
        write_values("B", d.only_b, d.missing_b, "b-val", out);
        break;
      }
      if (!d.only_a.empty()) write_values("only in A", d.only_a, false, "a-val", out);
      if (!d.only_b.empty()) write_values("only in B", d.only_b, false, "b-val", out);
      break;
    case diff::Facet::Kind::lines: {
      std::vector<bool> show(d.lines.size(), false);
      for (size_t i = 0; i < d.lines.size(); ++i) {
        if (d.lines[i].mark == ' ') continue;
        for (size_t k = i >= kContext ? i - kContext : 0;
             k < std::min(d.lines.size(), i + kContext + 1); ++k)
          show[k] = true;
      }
      out << "<pre class=\"line-diff\">";
      bool gap = false, first = true;
      for (size_t i = 0; i < d.lines.size(); ++i) {
        if (!show[i]) {
          gap = true;
          continue;
        }
        if (!first) out << "\n";
        if (gap) out << "<span class=\"more\">...</span>\n";
        gap = false;
        first = false;
        const auto& l = d.lines[i];
        const char* cls = l.mark == '-' ? "a-line" : l.mark == '+' ? "b-line" : "ctx-line";
        out << "<span class=\"" << cls << "\">" << l.mark << " " << text(l.text) << "</span>";
      }
      if (gap) out << "\n<span class=\"more\">...</span>";
      out << "</pre>";
      break;
    }
  }
  out << "</li>";
}

const char* status_class(diff::PairStatus s) {
  switch (s) {
    case diff::PairStatus::same:
      return "same";
    case diff::PairStatus::changed:
      return "changed";
    case diff::PairStatus::only_a:
      return "only-a";
    case diff::PairStatus::only_b:
      return "only-b";
  }
  return "same";
}

const char* status_mark(diff::PairStatus s) {
  switch (s) {
    case diff::PairStatus::same:
      return "=";
    case diff::PairStatus::changed:
      return "~";
    case diff::PairStatus::only_a:
      return "&minus;";
    case diff::PairStatus::only_b:
      return "+";
  }
  return "=";
}

}  // namespace

void write_diff(const diff::SessionDiff& d, const std::string& a_name, const std::string& b_name,
                std::ostream& out) {
  out << "<section class=\"diff\" id=\"diff\">\n<h2>How A and B differ</h2>\n";
  out << "<p class=\"summary " << (d.identical() ? "identical" : "different") << "\">";
  if (d.identical()) {
    out << "No differences: " << d.same << " steps mean the same.";
  } else {
    out << "<strong>" << d.changed << "</strong> changed, <strong>" << d.only_a
        << "</strong> only in A, <strong>" << d.only_b << "</strong> only in B, " << d.same
        << " the same.";
  }
  out << " Volatile values (dates, queue ids, Message-IDs, UIDVALIDITY, nonces, timings) are "
         "replaced by &lt;placeholders&gt; before comparing.</p>\n";
  out << "<p class=\"sides\"><span class=\"side-tag a-tag\">A</span> " << text(a_name)
      << " &nbsp; <span class=\"side-tag b-tag\">B</span> " << text(b_name) << "</p>\n";
  if (!d.notes.empty() || d.a.truncated || d.b.truncated) {
    out << "<ul class=\"notes\">";
    for (const auto& n : d.notes) out << "<li class=\"note\">" << text(n) << "</li>";
    for (const auto* side : {&d.a, &d.b})
      if (side->truncated)
        out << "<li class=\"note\">" << (side == &d.a ? "A" : "B")
            << " ends with a line cut off mid-write (the capture was interrupted): steps missing "
               "at its end may only be missing from the file.</li>";
    out << "</ul>\n";
  }
  if (!d.header.empty()) {
    out << "<ul class=\"differences header-differences\">";
    for (const auto& h : d.header) {
      diff::FacetDifference f;
      f.facet = h.field;
      f.a = h.a;
      f.b = h.b;
      write_difference(f, out);
    }
    out << "</ul>\n";
  }
  out << "<p class=\"controls\"><label><input type=\"checkbox\" id=\"only-differences\"> show only "
         "differences</label></p>\n";
  out << "<table class=\"diff-table\">\n<thead><tr><th class=\"mark\"></th><th>A: " << text(a_name)
      << "</th><th>B: " << text(b_name) << "</th></tr></thead>\n<tbody>\n";
  for (const auto& p : d.pairs) {
    const char* cls = status_class(p.status);
    out << "<tr class=\"pair " << cls << "\"><td class=\"mark\">" << status_mark(p.status)
        << "</td><td class=\"side a\">";
    if (p.a) write_step(d.a.steps[*p.a], out);
    out << "</td><td class=\"side b\">";
    if (p.b) write_step(d.b.steps[*p.b], out);
    out << "</td></tr>\n";
    if (!p.differences.empty()) {
      out << "<tr class=\"details " << cls << "\"><td class=\"mark\"></td><td colspan=\"2\">"
          << "<ul class=\"differences\">";
      for (const auto& f : p.differences) write_difference(f, out);
      out << "</ul></td></tr>\n";
    }
  }
  out << "</tbody></table>\n</section>\n";
}

}  // namespace mailtap::report
