// The user's own normalisation rules for `mailtap diff --rules FILE`: one rule per line.
//
//   # comment (also after a rule, when preceded by whitespace and not inside the pattern)
//   ignore REGEX                    every match becomes <ignored>
//   replace REGEX => REPLACEMENT    every match becomes REPLACEMENT ($1 for a group)
//   ignore-hosts                    same as --ignore-hosts
//   ignore-banners                  same as --ignore-banners
//
// A rule may start with a protocol ("imap: ignore ..."): it then applies to that protocol only.
// Patterns are ECMAScript regular expressions matched against one line of text at a time; an
// `ignore` pattern that matches a capability or other set element leaves that element out.
#pragma once

#include <filesystem>
#include <istream>
#include <optional>
#include <string>
#include <vector>

#include "mailtap/diff/normalizer.h"

namespace mailtap::diff {

struct RuleSpec {
  std::string name;  // "FILE:LINE" or "--ignore"
  std::string pattern;
  std::string replacement = "<ignored>";
  std::optional<Protocol> protocol;  // only for this protocol
};

struct RuleSet {
  std::vector<RuleSpec> rules;
  bool ignore_hosts = false;
  bool ignore_banners = false;
};

// Parses a rules file; throws RuleError naming file and line on anything it does not understand
// (including a pattern that does not compile).
RuleSet read_rules(std::istream& in, const std::string& source);
RuleSet read_rules_file(const std::filesystem::path& path);

// The compiled rules that apply to `protocol`, in file order.
std::vector<Rule> compile_rules(const std::vector<RuleSpec>& specs, Protocol protocol);

}  // namespace mailtap::diff
