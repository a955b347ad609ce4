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
  if (missing) return "(absent)";
  if (v.empty()) return "(empty)";
  return printable(v);
}

// Set elements on one line; a long list is cut (--format json has them all).
std::string join(const std::vector<std::string>& items) {
  constexpr size_t kMaxItems = 40;
  std::string out;
  for (size_t i = 0; i < items.size() && i < kMaxItems; ++i)
    out += (out.empty() ? "" : " ") + printable(items[i]);
  if (items.size() > kMaxItems) out += " ... (" + std::to_string(items.size() - kMaxItems) + " more)";
  return out;
}

void render_difference(const FacetDifference& d, std::ostream& out, const Painter& paint,
                       const std::string& a_tag, const std::string& b_tag) {
  const std::string indent = "      ";
  const std::string name = d.facet + ":";
  std::string pad(std::max<size_t>(name.size() + 1, 18) - name.size(), ' ');
  const std::string cont(indent.size() + name.size() + pad.size(), ' ');
  out << indent << paint(kBold, printable(name)) << pad;
  switch (d.kind) {
    case Facet::Kind::value:
      out << paint(kRed, a_tag + ": " + quoted_value(d.a, d.missing_a)) << "\n"
          << cont << paint(kGreen, b_tag + ": " + quoted_value(d.b, d.missing_b)) << "\n";
      return;
    case Facet::Kind::set: {
      if (!d.missing_a && !d.missing_b && d.only_a.size() == 1 && d.only_b.size() == 1) {
        // one element each: read it as "this became that"
        out << paint(kRed, a_tag + ": " + printable(d.only_a.front())) << "\n"
            << cont << paint(kGreen, b_tag + ": " + printable(d.only_b.front())) << "\n";
        return;
      }
      bool first = true;
      auto line = [&](const std::string& text) {
        out << (first ? "" : cont) << text << "\n";
        first = false;
      };
      if (d.missing_a) line(paint(kRed, a_tag + ": (absent)"));
      if (!d.only_a.empty()) line(paint(kRed, "only in " + a_tag + ": " + join(d.only_a)));
      if (d.missing_b) line(paint(kGreen, b_tag + ": (absent)"));
      if (!d.only_b.empty()) line(paint(kGreen, "only in " + b_tag + ": " + join(d.only_b)));
      if (first) line("(differ)");
      return;
    }
    case Facet::Kind::lines: {
      out << (d.missing_a ? a_tag + " has none" : d.missing_b ? b_tag + " has none" : "")
          << "\n";
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
        if (gap) out << cont << paint(kDim, "...") << "\n";
        gap = false;
        const auto& l = d.lines[i];
        const std::string text = std::string(1, l.mark) + " " + printable(l.text);
        out << cont
            << (l.mark == '-'   ? paint(kRed, text)
                : l.mark == '+' ? paint(kGreen, text)
                                : paint(kDim, text))
            << "\n";
      }
      if (gap) out << cont << paint(kDim, "...") << "\n";
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
    out << "  " << paint(kBold, h.field + ":") << " " << paint(kRed, "A: " + printable(h.a))
        << "  " << paint(kGreen, "B: " + printable(h.b)) << "\n";
  }
  out << "\n";
  for (const auto& p : diff.pairs) {
    const Step* a = p.a ? &diff.a.steps[*p.a] : nullptr;
    const Step* b = p.b ? &diff.b.steps[*p.b] : nullptr;
    const Step& s = a ? *a : *b;
    std::string title = printable(step_title(s));
    std::string latency;
    auto lat = [](const Step* x) { return x && x->latency_us ? show::format_duration(*x->latency_us) : std::string("-"); };
    if (s.kind == StepKind::command && ((a && a->latency_us) || (b && b->latency_us)))
      latency = "  " + paint(kDim, "(" + lat(a) + " / " + lat(b) + ")");
    switch (p.status) {
      case PairStatus::same:
        if (options.show_same) out << paint(kDim, "  = " + title) << latency << "\n";
        break;
      case PairStatus::changed:
        out << paint(kYellow, "  ~ ") << paint(kBold, title) << latency << "\n";
        for (const auto& d : p.differences) render_difference(d, out, paint, "A", "B");
        break;
      case PairStatus::only_a:
        out << paint(kRed, "  - " + title) << "  " << paint(kDim, "(only in A)") << "\n";
        break;
      case PairStatus::only_b:
        out << paint(kGreen, "  + " + title) << "  " << paint(kDim, "(only in B)") << "\n";
        break;
    }
  }
  if (diff.a.truncated || diff.b.truncated)
    out << paint(kCyan, "  note: ") << (diff.a.truncated ? "A" : "B")
        << " ends with a line cut off mid-write; it was left out\n";
}

}  // namespace mailtap::diff
