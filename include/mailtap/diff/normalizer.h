// Volatile values two captures of the same conversation never share (dates, queue ids, Message-IDs,
// UIDVALIDITY, nonces, server timings...) replaced by placeholders, so that `mailtap diff` compares
// what the servers mean rather than when they said it. Built-in rules per protocol, then the user's
// own (--ignore PATTERN, --rules FILE).
#pragma once

#include <cstddef>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "mailtap/core/protocol.h"

namespace mailtap::diff {

struct Rule {
  std::string name;         // "date", "queue-id", "--ignore", "rules.txt:4"...
  std::string pattern;      // as written, for messages and `--format json`
  std::string replacement;  // ECMAScript format: $1 refers to a group
  std::regex compiled;
  // Cheap tests that must pass before the (slow) regular expression runs: one of `needles`
  // (lower case) occurs in the lower-cased text (at its start when `needle_at_start`), every one
  // of `required` occurs, and a run of `digit_run` decimal or `hex_run` hexadecimal digits occurs.
  // Empty / 0: no such test. Built-in rules only. They decide the speed of `mailtap diff` on
  // message content: most lines of a message pass none of them.
  std::vector<std::string> needles;
  size_t digit_run = 0;
  size_t hex_run = 0;
  std::vector<std::string> required;
  bool needle_at_start = false;
};

// A pattern that does not compile; what() names the rule and says why.
class RuleError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Compiles a rule; throws RuleError (with `name` in the message) on a bad regular expression.
Rule make_rule(std::string name, std::string pattern, std::string replacement,
               bool ignore_case = false);

struct NormalizeOptions {
  bool ignore_hosts = false;     // host names and IP addresses become <host>/<ip>
  bool ignore_banners = false;   // greeting and EHLO texts are not compared
  std::vector<Rule> user_rules;  // applied after the built-in rules, in order
};

// Text longer than this is normalised only in its first kMaxRuleInput bytes: std::regex recurses
// per character on some patterns, and transcripts carry arbitrary peer-controlled lines.
inline constexpr size_t kMaxRuleInput = 8192;

class Normalizer {
 public:
  explicit Normalizer(Protocol protocol, NormalizeOptions options = {});

  // Every rule (built-in, host, user) applied to one line of text.
  std::string text(std::string_view line) const;
  // A greeting line: also the per-protocol greeting rules (POP3 APOP timestamp).
  std::string greeting(std::string_view line) const;
  // True when a user rule matches a capability or similar set element: it is left out of sets.
  bool drops_element(std::string_view element) const;

  bool ignore_banners() const { return options_.ignore_banners; }
  bool ignore_hosts() const { return options_.ignore_hosts; }
  Protocol protocol() const { return protocol_; }

  // Built-in rules in the order they apply (for documentation and `--list-rules`).
  const std::vector<Rule>& builtin_rules() const { return builtin_; }
  const std::vector<Rule>& user_rules() const { return options_.user_rules; }

 private:
  Protocol protocol_;
  NormalizeOptions options_;
  std::vector<Rule> builtin_;
  std::vector<Rule> hosts_;
  std::vector<Rule> greeting_;
};

// The built-in rules for a protocol, in order.
std::vector<Rule> builtin_rules(Protocol protocol);

}  // namespace mailtap::diff
