#include "mailtap/run/expectation.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>

namespace mailtap::run {
namespace {

std::string_view trim_right(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(a[i])) !=
        std::toupper(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

bool is_smtp_code_token(std::string_view t) {
  if (t.size() != 3 || t[0] < '1' || t[0] > '5') return false;
  for (size_t i = 1; i < 3; ++i)
    if (!std::isdigit(static_cast<unsigned char>(t[i])) && t[i] != 'x' && t[i] != 'X') return false;
  return true;
}

bool is_imap_status_word(std::string_view w) {
  for (const char* s : {"OK", "NO", "BAD", "BYE", "PREAUTH"})
    if (iequal(w, s)) return true;
  return false;
}

bool is_status_token(std::string_view t) {
  if (is_smtp_code_token(t)) return true;
  if (iequal(t, "+OK") || iequal(t, "-ERR") || t == "+") return true;
  size_t sp = t.find(' ');
  if (sp == std::string_view::npos || sp == 0) return false;
  std::string_view tag = t.substr(0, sp);
  std::string_view word = t.substr(sp + 1);
  return tag.find_first_of(" \t") == std::string_view::npos && is_imap_status_word(word);
}

// Plain `*` glob, iterative with one backtrack point (linear in practice).
bool glob(std::string_view p, std::string_view t) {
  size_t pi = 0, ti = 0, star = std::string_view::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (pi < p.size() && p[pi] == t[ti]) {
      ++pi;
      ++ti;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

// Whether a line begins with a status: the token, then the end of the line or a space (SMTP also
// '-' is a continuation, which is not a final line).
bool line_has_status(std::string_view token, std::string_view line, bool smtp_final_only) {
  line = trim_right(line);
  if (is_smtp_code_token(token)) {
    if (line.size() < 3) return false;
    for (size_t i = 0; i < 3; ++i) {
      char want = token[i];
      if (want == 'x' || want == 'X') {
        if (!std::isdigit(static_cast<unsigned char>(line[i]))) return false;
      } else if (line[i] != want) {
        return false;
      }
    }
    if (line.size() == 3) return true;
    return line[3] == ' ' || (!smtp_final_only && line[3] == '-');
  }
  if (line.size() < token.size()) return false;
  bool head_ok = token == "+" ? line[0] == '+' : false;
  if (token != "+") {
    size_t sp = token.find(' ');
    if (sp == std::string_view::npos) {
      head_ok = iequal(line.substr(0, token.size()), token);
    } else {  // IMAP: the tag exactly, the status word in any case
      head_ok = line.compare(0, sp + 1, token.substr(0, sp + 1)) == 0 &&
                iequal(line.substr(sp + 1, token.size() - sp - 1), token.substr(sp + 1));
    }
  }
  return head_ok && (line.size() == token.size() || line[token.size()] == ' ');
}

bool status_on_first_line(std::string_view token) {
  return iequal(token, "+OK") || iequal(token, "-ERR");
}

bool line_matches(const Expectation& e, std::string_view line) {
  switch (e.kind) {
    case Expectation::Kind::text:
      return glob_match(e.pattern, line);
    case Expectation::Kind::prefix:
      return glob_match(e.pattern + "*", line);
    case Expectation::Kind::regex:
      return std::regex_search(std::string(line), *e.compiled);
    default:
      return false;
  }
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

struct Consumed {
  size_t expectation, first_line, end_line;
};

class Matcher {
 public:
  Matcher(const std::vector<Expectation>& block, const std::vector<ReceivedLine>& lines)
      : block_(block), lines_(lines), response_end_(lines.size()) {
    for (size_t k = lines.size(); k-- > 0;)
      response_end_[k] = (k + 1 < lines.size() && lines[k + 1].response == lines[k].response)
                             ? response_end_[k + 1]
                             : k + 1;
  }

  BlockMatch run() {
    BlockMatch result;
    if (search(0, 0)) {
      result.ok = true;
      result.expectation = block_.size();
      result.line = lines_.size();
      return result;
    }
    return best_;
  }

  const std::vector<Consumed>& best_path() const { return best_path_; }

 private:
  bool search(size_t i, size_t j) {
    size_t depth = path_.size();
    bool ok = walk(i, j);
    if (!ok) path_.resize(depth);
    return ok;
  }

  bool walk(size_t i, size_t j) {
    const size_t m = block_.size(), n = lines_.size();
    while (true) {
      if (i == m) {
        if (j == n) return true;
        fail(i, j, "the server sent more than the script expects: " + quote(lines_[j].text), false);
        return false;
      }
      const Expectation& e = block_[i];
      if (e.kind == Expectation::Kind::any_lines) {
        if (failed_.count({i, j})) return false;
        for (size_t k = j; k <= n; ++k) {
          path_.push_back({i, j, k});
          if (search(i + 1, k)) return true;
          path_.pop_back();
        }
        failed_.insert({i, j});
        return false;
      }
      if (j == n) {
        fail(i, j, "expected " + quote(e.written) + ", but the server said nothing more", true);
        return false;
      }
      if (e.kind == Expectation::Kind::status) {
        bool single = line_has_status(e.pattern, lines_[j].text, !status_on_first_line(e.pattern));
        size_t end = response_end_[j];
        bool rest = status_on_first_line(e.pattern)
                        ? line_has_status(e.pattern, lines_[j].text, false)
                        : line_has_status(e.pattern, lines_[end - 1].text, true);
        if (!single && !rest) {
          fail(i, j, "expected status " + quote(e.pattern) + ", received " + quote(lines_[j].text),
               false);
          return false;
        }
        if (single && rest && end != j + 1) {
          if (failed_.count({i, j})) return false;
          for (size_t k : {end, j + 1}) {
            path_.push_back({i, j, k});
            if (search(i + 1, k)) return true;
            path_.pop_back();
          }
          failed_.insert({i, j});
          return false;
        }
        size_t k = rest ? end : j + 1;
        path_.push_back({i, j, k});
        i += 1;
        j = k;
        continue;
      }
      if (!line_matches(e, lines_[j].text)) {
        fail(i, j, "expected " + quote(e.written) + ", received " + quote(lines_[j].text), false);
        return false;
      }
      path_.push_back({i, j, j + 1});
      ++i;
      ++j;
    }
  }

  void fail(size_t i, size_t j, std::string reason, bool wanted_more) {
    bool deeper =
        !have_best_ || i > best_.expectation || (i == best_.expectation && j > best_.line);
    if (!deeper) return;
    have_best_ = true;
    best_.ok = false;
    best_.expectation = i;
    best_.line = j;
    best_.reason = std::move(reason);
    best_.wanted_more_lines = wanted_more;
    best_path_ = path_;
  }

  const std::vector<Expectation>& block_;
  const std::vector<ReceivedLine>& lines_;
  std::vector<size_t> response_end_;
  std::set<std::pair<size_t, size_t>> failed_;
  std::vector<Consumed> path_;
  std::vector<Consumed> best_path_;
  BlockMatch best_;
  bool have_best_ = false;
};

}  // namespace

Expectation parse_expectation(std::string_view text, const SourceLocation& where) {
  Expectation e;
  e.where = where;
  e.written = std::string(trim_right(text));
  std::string_view t = e.written;
  if (!t.empty() && t[0] == '~') {
    t.remove_prefix(1);
    if (!t.empty() && t[0] == ' ') t.remove_prefix(1);
    e.kind = Expectation::Kind::regex;
    e.pattern = std::string(t);
    try {
      e.compiled = std::make_shared<const std::regex>(e.pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& err) {
      throw ScriptError(where, "bad regular expression \"" + e.pattern + "\": " + err.what());
    }
    return e;
  }
  if (t == "...") {
    e.kind = Expectation::Kind::any_lines;
    return e;
  }
  if (is_status_token(t)) {
    e.kind = Expectation::Kind::status;
    e.pattern = std::string(t);
    return e;
  }
  if (t.size() > 3 && t.substr(t.size() - 3) == "...") {
    e.kind = Expectation::Kind::prefix;
    e.pattern = std::string(t.substr(0, t.size() - 3));
    return e;
  }
  e.kind = Expectation::Kind::text;
  e.pattern = std::string(t);
  return e;
}

bool glob_match(std::string_view pattern, std::string_view text) {
  pattern = trim_right(pattern);
  text = trim_right(text);
  // IMAP's untagged "* " is literal, so "* OK" does not match a tagged "a1 OK".
  if (pattern.size() >= 2 && pattern[0] == '*' && pattern[1] == ' ') {
    if (text.size() < 2 || text[0] != '*' || text[1] != ' ') return false;
    pattern.remove_prefix(2);
    text.remove_prefix(2);
  }
  if (glob(pattern, text)) return true;
  // "a1 OK *" also matches a bare "a1 OK": the wildcard stands for optional text.
  if (pattern.size() >= 2 && pattern.substr(pattern.size() - 2) == " *")
    return glob(pattern.substr(0, pattern.size() - 2), text);
  return false;
}

BlockMatch match_block(const std::vector<Expectation>& block,
                       const std::vector<ReceivedLine>& lines) {
  Matcher matcher(block, lines);
  return matcher.run();
}

std::string render_difference(const std::vector<Expectation>& block,
                              const std::vector<ReceivedLine>& lines, const BlockMatch& result,
                              const std::string& indent) {
  // What matched before the difference, from the best attempt.
  Matcher matcher(block, lines);
  matcher.run();
  std::vector<std::string> matched;
  for (const Consumed& c : matcher.best_path())
    for (size_t k = c.first_line; k < c.end_line; ++k) matched.push_back(lines[k].text);

  // After it, align the rest line by line (longest common subsequence), so one changed line
  // shows as one -/+ pair and not as everything after it.
  const size_t i0 = std::min(result.expectation, block.size());
  const size_t j0 = std::min(result.line, lines.size());
  const size_t a = block.size() - i0, b = lines.size() - j0;
  auto same = [&](size_t i, size_t j) {
    const Expectation& e = block[i0 + i];
    const std::string& text = lines[j0 + j].text;
    if (e.kind == Expectation::Kind::status)
      return line_has_status(e.pattern, text, !status_on_first_line(e.pattern));
    return e.kind != Expectation::Kind::any_lines && line_matches(e, text);
  };
  enum class Op { keep, expected, received };
  std::vector<std::pair<Op, size_t>> ops;  // index into block (expected/keep) or lines (received)
  if (a * b <= 4'000'000) {
    std::vector<uint32_t> lcs((a + 1) * (b + 1), 0);
    auto at = [&](size_t i, size_t j) -> uint32_t& { return lcs[i * (b + 1) + j]; };
    for (size_t i = a; i-- > 0;)
      for (size_t j = b; j-- > 0;)
        at(i, j) = same(i, j) ? at(i + 1, j + 1) + 1 : std::max(at(i + 1, j), at(i, j + 1));
    size_t i = 0, j = 0;
    while (i < a || j < b) {
      if (i < a && j < b && same(i, j)) {
        ops.push_back({Op::keep, j0 + j});
        ++i, ++j;
      } else if (i < a && (j == b || at(i + 1, j) >= at(i, j + 1))) {
        ops.push_back({Op::expected, i0 + i++});
      } else {
        ops.push_back({Op::received, j0 + j++});
      }
    }
  } else {
    for (size_t i = 0; i < a; ++i) ops.push_back({Op::expected, i0 + i});
    for (size_t j = 0; j < b; ++j) ops.push_back({Op::received, j0 + j});
  }

  std::ostringstream out;
  constexpr size_t kContext = 3, kMaxChanged = 40;
  if (matched.size() > kContext)
    out << indent << "  ... " << (matched.size() - kContext) << " line(s) as expected\n";
  for (size_t k = matched.size() > kContext ? matched.size() - kContext : 0; k < matched.size();
       ++k)
    out << indent << "  " << matched[k] << "\n";
  size_t changed = 0;
  std::string last_where;
  for (size_t k = 0; k < ops.size(); ++k) {
    auto [op, index] = ops[k];
    if (op == Op::keep) {
      size_t run = 0;
      while (k + run < ops.size() && ops[k + run].first == Op::keep) ++run;
      if (run > 2 * kContext) {
        for (size_t r = 0; r < kContext; ++r)
          out << indent << "  " << lines[ops[k + r].second].text << "\n";
        out << indent << "  ... " << (run - 2 * kContext) << " line(s) as expected\n";
        for (size_t r = run - kContext; r < run; ++r)
          out << indent << "  " << lines[ops[k + r].second].text << "\n";
      } else {
        for (size_t r = 0; r < run; ++r)
          out << indent << "  " << lines[ops[k + r].second].text << "\n";
      }
      k += run - 1;
      continue;
    }
    if (++changed > kMaxChanged) {
      out << indent << "... and more differences\n";
      break;
    }
    if (op == Op::expected) {
      std::string where = block[index].where.str();
      out << indent << "- " << block[index].written;
      if (where != last_where) out << "    (" << where << ")";
      out << "\n";
      last_where = where;
    } else {
      out << indent << "+ " << lines[index].text << "\n";
    }
  }
  if (result.expectation < block.size() && result.line < lines.size() &&
      block[result.expectation].kind == Expectation::Kind::text) {
    std::string_view want = block[result.expectation].pattern;
    std::string_view got = lines[result.line].text;
    size_t col = 0;
    while (col < want.size() && col < got.size() && want[col] == got[col] && want[col] != '*')
      ++col;
    out << indent << "first difference at column " << (col + 1) << ": expected "
        << quote(want.substr(col, 40)) << ", received " << quote(got.substr(col, 40)) << "\n";
  }
  return out.str();
}

}  // namespace mailtap::run
