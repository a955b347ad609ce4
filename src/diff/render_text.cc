#include <algorithm>
#include <cstdio>

#include "mailtap/diff/render.h"
#include "mailtap/show/rows.h"
#include "mailtap/transcript/line_view.h"

namespace mailtap::diff {
namespace {

constexpr const char* kReset = "\x1b[0m";
constexpr const char* kDim = "\x1b[2m";
constexpr const char* kBold = "\x1b[1m";
constexpr const char* kRed = "\x1b[31m";
constexpr const char* kGreen = "\x1b[32m";
constexpr const char* kYellow = "\x1b[33m";
constexpr const char* kCyan = "\x1b[36m";

// Context lines shown around each change of a line-by-line facet.
constexpr size_t kContext = 2;

class Painter {
 public:
  explicit Painter(bool on) : on_(on) {}
  std::string operator()(const char* style, const std::string& text) const {
    return on_ ? std::string(style) + text + kReset : text;
  }

 private:
  bool on_;
};

std::string side_line(const SessionSteps& s, const std::string& name) {
  std::string out = name + "  " + std::string(to_string(s.protocol));
  if (s.runner) out += "  (mailtap run)";
  auto l = s.header.find("listener");
  if (l != s.header.end() && l->is_object()) {
    if (auto up = transcript::field_text(*l, "upstream"); !up.empty()) out += "  server " + up;
  }
  if (auto id = transcript::field_text(s.header, "session"); !id.empty()) out += "  session " + id;
  if (auto t = transcript::field_text(s.header, "started"); !t.empty()) out += "  " + t;
  out += "  (" + std::to_string(s.steps.size()) + " steps)";
  return printable(out);
}

std::string quoted_value(const std::string& v, bool missing) {
  if (missing) return "(none)";
  if (v.empty()) return "(empty)";
  return printable(v);
}

// Set elements, wrapped onto as many lines as they need (every element is shown: the point of the
// report is to say exactly what differs). The first line starts after `lead`; the others after
// as many spaces as `lead` is wide (the caller indents them).
std::vector<std::string> wrap(const std::string& lead, const std::vector<std::string>& items,
                              size_t first_column) {
  constexpr size_t kWidth = 100;
  std::vector<std::string> lines{lead};
  bool line_empty = true;
  for (const auto& item : items) {
    const std::string word = printable(item);
    if (!line_empty && first_column + lines.back().size() + 1 + word.size() > kWidth) {
      lines.emplace_back(lead.size(), ' ');
      line_empty = true;
    }
    if (!line_empty) lines.back() += ' ';
    lines.back() += word;
    line_empty = false;
  }
  return lines;
}

// Width of the facet-name column of one step: every name of the step fits, so its values line up.
size_t name_width(const std::vector<FacetDifference>& ds) {
  size_t w = 18;
  for (const auto& d : ds) w = std::max(w, d.facet.size() + 2);
  return w;
}

void render_difference(const FacetDifference& d, std::ostream& out, const Painter& paint,
                       const std::string& a_tag, const std::string& b_tag, size_t width) {
  const std::string indent = "      ";
  const std::string name = d.facet + ":";
  const std::string pad(width - name.size(), ' ');
  const std::string cont(indent.size() + width, ' ');
  out << indent << paint(kBold, printable(name)) << pad;
  bool first = true;
  auto line = [&](const std::string& text) {
    out << (first ? "" : cont) << text << "\n";
    first = false;
  };
  auto lines_of = [&](const char* style, const std::string& lead,
                      const std::vector<std::string>& items) {
    for (const auto& l : wrap(lead, items, cont.size())) line(paint(style, l));
  };
  switch (d.kind) {
    case Facet::Kind::value:
      line(paint(kRed, a_tag + ": " + quoted_value(d.a, d.missing_a)));
      line(paint(kGreen, b_tag + ": " + quoted_value(d.b, d.missing_b)));
      return;
    case Facet::Kind::set: {
      if (d.missing_a || d.missing_b) {
        // one side has none at all: show the other's whole set
        if (d.missing_a)
          line(paint(kRed, a_tag + ": (none)"));
        else
          lines_of(kRed, a_tag + ": ", d.only_a);
        if (d.missing_b)
          line(paint(kGreen, b_tag + ": (none)"));
        else
          lines_of(kGreen, b_tag + ": ", d.only_b);
        return;
      }
      if (d.only_a.size() == 1 && d.only_b.size() == 1) {
        // one element each: read it as "this became that"
        line(paint(kRed, a_tag + ": " + printable(d.only_a.front())));
        line(paint(kGreen, b_tag + ": " + printable(d.only_b.front())));
        return;
      }
      if (!d.only_a.empty()) lines_of(kRed, "only in " + a_tag + ": ", d.only_a);
      if (!d.only_b.empty()) lines_of(kGreen, "only in " + b_tag + ": ", d.only_b);
      if (first) line("(differ)");
      return;
    }
    case Facet::Kind::lines: {
      size_t removed = 0, added = 0, kept = 0;
      for (const auto& l : d.lines) (l.mark == '-' ? removed : l.mark == '+' ? added : kept)++;
      if (removed <= 1 && added <= 1 && kept == 0) {
        // one line each (or none): read it like a value
        auto text_of = [&](char mark, bool missing) {
          for (const auto& l : d.lines)
            if (l.mark == mark) return quoted_value(l.text, false);
          return std::string(missing ? "(none)" : "(no line)");
        };
        line(paint(kRed, a_tag + ": " + text_of('-', d.missing_a)));
        line(paint(kGreen, b_tag + ": " + text_of('+', d.missing_b)));
        return;
      }
      if (d.missing_a) line(paint(kRed, a_tag + ": (none)"));
      if (d.missing_b) line(paint(kGreen, b_tag + ": (none)"));
      if (first) line(paint(kDim, "- " + a_tag + "  + " + b_tag));
      std::vector<bool> show(d.lines.size(), false);
      for (size_t i = 0; i < d.lines.size(); ++i) {
        if (d.lines[i].mark == ' ') continue;
        size_t from = i >= kContext ? i - kContext : 0;
        for (size_t k = from; k < std::min(d.lines.size(), i + kContext + 1); ++k) show[k] = true;
      }
      bool gap = false;
      for (size_t i = 0; i < d.lines.size(); ++i) {
        if (!show[i]) {
          gap = true;
          continue;
        }
        if (gap) line(paint(kDim, "..."));
        gap = false;
        const auto& l = d.lines[i];
        const std::string text = std::string(1, l.mark) + " " + printable(l.text);
        line(l.mark == '-'   ? paint(kRed, text)
             : l.mark == '+' ? paint(kGreen, text)
                             : paint(kDim, text));
      }
      if (gap) line(paint(kDim, "..."));
      return;
    }
  }
}

}  // namespace

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    // C1 controls are U+0080..U+009F, encoded in UTF-8 as C2 80..C2 9F.
    const bool c1 = c == 0xc2 && i + 1 < text.size() &&
                    static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
                    static_cast<unsigned char>(text[i + 1]) <= 0x9f;
    if ((c < 0x20 && c != '\t') || c == 0x7f || c1) {
      char buf[8];
      unsigned code = c1 ? static_cast<unsigned char>(text[++i]) : c;
      std::snprintf(buf, sizeof buf, "\\x%02x", code);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string step_title(const Step& s) {
  if (!s.label.empty()) return s.label;
  return s.verb.empty() ? std::string(to_string(s.kind)) : s.verb;
}

void render_text(const SessionDiff& diff, std::ostream& out, const TextOptions& options) {
  const Painter paint(options.color);
  const size_t differing = diff.changed + diff.only_a + diff.only_b;
  out << paint(kBold, "mailtap diff: ");
  if (diff.identical()) {
    out << paint(kGreen, "no differences") << " (" << diff.same << " steps compared)\n";
  } else {
    out << paint(kYellow, std::to_string(differing + diff.header.size()) + " difference" +
                              (differing + diff.header.size() == 1 ? "" : "s"))
        << ": " << diff.changed << " changed, " << diff.only_a << " only in A, " << diff.only_b
        << " only in B; " << diff.same << " the same\n";
  }
  out << "  " << paint(kRed, "A") << " " << side_line(diff.a, options.a_name) << "\n";
  out << "  " << paint(kGreen, "B") << " " << side_line(diff.b, options.b_name) << "\n";
  for (const auto& h : diff.header) {
    out << "  " << paint(kBold, h.field + ":") << " " << paint(kRed, "A: " + printable(h.a)) << "  "
        << paint(kGreen, "B: " + printable(h.b)) << "\n";
  }
  // Notes (what was deliberately not compared), wrapped like set elements.
  std::vector<std::string> notes = diff.notes;
  for (const auto* side : {&diff.a, &diff.b})
    if (side->truncated)
      notes.push_back(std::string(side == &diff.a ? "A" : "B") +
                      " ends with a line cut off mid-write (the capture was interrupted): that "
                      "line is left out, so steps missing at its end may only be missing from the "
                      "file");
  for (const auto& n : notes) {
    std::vector<std::string> words;
    for (size_t at = 0; at < n.size();) {
      size_t end = n.find(' ', at);
      if (end == std::string::npos) end = n.size();
      if (end > at) words.push_back(n.substr(at, end - at));
      at = end + 1;
    }
    auto lines = wrap("      ", words, 2);  // the first six columns become "note: "
    for (size_t i = 0; i < lines.size(); ++i)
      out << "  " << (i == 0 ? paint(kCyan, "note: ") + lines[i].substr(6) : lines[i]) << "\n";
  }
  out << "\n";
  for (const auto& p : diff.pairs) {
    const Step* a = p.a ? &diff.a.steps[*p.a] : nullptr;
    const Step* b = p.b ? &diff.b.steps[*p.b] : nullptr;
    const Step& s = a ? *a : *b;
    std::string title = printable(step_title(s));
    std::string latency;
    auto lat = [](const Step* x) {
      return x && x->latency_us ? show::format_duration(*x->latency_us) : std::string("-");
    };
    if (s.kind == StepKind::command && ((a && a->latency_us) || (b && b->latency_us)))
      latency = "  " + paint(kDim, "(" + lat(a) + " / " + lat(b) + ")");
    switch (p.status) {
      case PairStatus::same:
        if (options.show_same) out << paint(kDim, "  = " + title) << latency << "\n";
        break;
      case PairStatus::changed:
        out << paint(kYellow, "  ~ ") << paint(kBold, title) << latency << "\n";
        for (const auto& d : p.differences)
          render_difference(d, out, paint, "A", "B", name_width(p.differences));
        break;
      case PairStatus::only_a:
        out << paint(kRed, "  - " + title) << "  " << paint(kDim, "(only in A)") << "\n";
        break;
      case PairStatus::only_b:
        out << paint(kGreen, "  + " + title) << "  " << paint(kDim, "(only in B)") << "\n";
        break;
    }
  }
}

}  // namespace mailtap::diff
