#include "mailtap/diff/rules_file.h"

#include <fstream>

namespace mailtap::diff {
namespace {

std::string trim(std::string s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

// Splits off the first whitespace-separated word.
std::string first_word(std::string& rest) {
  size_t end = rest.find_first_of(" \t");
  std::string word = rest.substr(0, end);
  rest = end == std::string::npos ? "" : trim(rest.substr(end));
  return word;
}

}  // namespace

RuleSet read_rules(std::istream& in, const std::string& source) {
  RuleSet set;
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    const std::string where = source + ":" + std::to_string(number);
    std::string rest = trim(line);
    if (rest.empty() || rest[0] == '#') continue;
    std::string word = first_word(rest);
    std::optional<Protocol> protocol;
    if (!word.empty() && word.back() == ':') {
      protocol = parse_protocol(word.substr(0, word.size() - 1));
      if (!protocol)
        throw RuleError(where + ": unknown protocol '" + word + "' (smtp, imap, pop3)");
      word = first_word(rest);
    }
    if (word == "ignore-hosts" || word == "ignore-banners") {
      if (!rest.empty()) throw RuleError(where + ": '" + word + "' takes no argument");
      (word == "ignore-hosts" ? set.ignore_hosts : set.ignore_banners) = true;
      continue;
    }
    RuleSpec spec;
    spec.name = where;
    spec.protocol = protocol;
    if (word == "ignore") {
      spec.pattern = rest;
    } else if (word == "replace") {
      size_t arrow = rest.find(" => ");
      if (arrow == std::string::npos)
        throw RuleError(where + ": replace needs 'REGEX => REPLACEMENT'");
      spec.pattern = trim(rest.substr(0, arrow));
      spec.replacement = trim(rest.substr(arrow + 4));
    } else {
      throw RuleError(where + ": unknown rule '" + word +
                      "' (ignore, replace, ignore-hosts, ignore-banners)");
    }
    if (spec.pattern.empty()) throw RuleError(where + ": '" + word + "' needs a pattern");
    make_rule(spec.name, spec.pattern, spec.replacement);  // reports a bad pattern now
    set.rules.push_back(std::move(spec));
  }
  return set;
}

RuleSet read_rules_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw RuleError(path.string() + ": cannot open the rules file");
  return read_rules(in, path.string());
}

std::vector<Rule> compile_rules(const std::vector<RuleSpec>& specs, Protocol protocol) {
  std::vector<Rule> out;
  for (const auto& s : specs) {
    if (s.protocol && *s.protocol != protocol) continue;
    out.push_back(make_rule(s.name, s.pattern, s.replacement));
  }
  return out;
}

}  // namespace mailtap::diff
