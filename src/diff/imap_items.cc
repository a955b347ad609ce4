#include "diff/imap_items.h"

#include <algorithm>

#include "diff/step_reader.h"

namespace mailtap::diff::detail {
namespace {

void skip_spaces(std::string_view s, size_t& i) {
  while (i < s.size() && s[i] == ' ') ++i;
}

// A balanced "( ... )" starting at s[i], quoted strings respected; i ends after it.
std::string read_list(std::string_view s, size_t& i) {
  const size_t start = i;
  int depth = 0;
  bool quoted = false;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (quoted) {
      if (c == '\\' && i + 1 < s.size())
        ++i;
      else if (c == '"')
        quoted = false;
      continue;
    }
    if (c == '"')
      quoted = true;
    else if (c == '(')
      ++depth;
    else if (c == ')' && --depth == 0) {
      ++i;
      break;
    }
  }
  return std::string(s.substr(start, i - start));
}

// An item name or atom value: up to a space or parenthesis outside "[...]" (section specs hold
// spaces and parentheses), then an optional "<partial>".
std::string read_atom(std::string_view s, size_t& i) {
  const size_t start = i;
  int brackets = 0;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '[')
      ++brackets;
    else if (c == ']' && brackets > 0)
      --brackets;
    else if (brackets == 0 && (c == ' ' || c == '(' || c == ')'))
      break;
  }
  return std::string(s.substr(start, i - start));
}

std::string read_value(std::string_view s, size_t& i) {
  if (i >= s.size()) return "";
  if (s[i] == '(') return read_list(s, i);
  if (s[i] == '"') {
    const size_t start = i++;
    for (; i < s.size(); ++i) {
      if (s[i] == '\\' && i + 1 < s.size())
        ++i;
      else if (s[i] == '"') {
        ++i;
        break;
      }
    }
    return std::string(s.substr(start, i - start));
  }
  return read_atom(s, i);
}

}  // namespace

std::vector<std::pair<std::string, std::string>> fetch_items(std::string_view list) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t i = 0;
  skip_spaces(list, i);
  if (i >= list.size() || list[i] != '(') return {};
  ++i;
  while (true) {
    skip_spaces(list, i);
    if (i >= list.size()) return {};  // unbalanced
    if (list[i] == ')') break;
    std::string name = upper(read_atom(list, i));
    if (name.empty()) return {};
    skip_spaces(list, i);
    std::string value = read_value(list, i);
    if (name == "FLAGS") {
      std::string sorted = "(";
      for (const auto& f : flag_list(value)) sorted += (sorted.size() > 1 ? " " : "") + f;
      value = sorted + ")";
    }
    out.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

std::vector<std::string> flag_list(std::string_view list) {
  std::string inner(list);
  if (!inner.empty() && inner.front() == '(') inner.erase(0, 1);
  if (!inner.empty() && inner.back() == ')') inner.pop_back();
  std::vector<std::string> flags;
  std::string rest = inner;
  while (!rest.empty()) {
    std::string f = first_word(rest);
    if (!f.empty()) flags.push_back(f);
    rest = after_first_word(rest);
  }
  std::sort(flags.begin(), flags.end(),
            [](const std::string& a, const std::string& b) { return upper(a) < upper(b); });
  flags.erase(std::unique(flags.begin(), flags.end()), flags.end());
  return flags;
}

}  // namespace mailtap::diff::detail
