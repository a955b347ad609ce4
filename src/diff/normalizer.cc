#include "mailtap/diff/normalizer.h"

namespace mailtap::diff {
namespace {

constexpr const char* kMonth = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)";
constexpr const char* kWeekday = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)";

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool has_run(std::string_view s, size_t n, bool hex) {
  size_t run = 0;
  for (char c : s) {
    const bool digit =
        (c >= '0' && c <= '9') || (hex && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
    run = digit ? run + 1 : 0;
    if (run >= n) return true;
  }
  return false;
}

// The cheap tests of a rule (see Rule); `low` is the lower-cased text.
bool may_match(const Rule& r, std::string_view s, const std::string& low) {
  if (!r.needles.empty()) {
    bool found = false;
    for (const auto& n : r.needles)
      found =
          found || (r.needle_at_start ? low.rfind(n, 0) == 0 : low.find(n) != std::string::npos);
    if (!found) return false;
  }
  for (const auto& n : r.required)
    if (low.find(n) == std::string::npos) return false;
  if (r.digit_run && !has_run(s, r.digit_run, false)) return false;
  if (r.hex_run && !has_run(s, r.hex_run, true)) return false;
  return true;
}

std::string apply(const std::vector<Rule>& rules, std::string s) {
  if (rules.empty()) return s;
  std::string low = lower(s.substr(0, kMaxRuleInput));
  for (const auto& r : rules) {
    if (!may_match(r, std::string_view(s).substr(0, kMaxRuleInput), low)) continue;
    std::string out;
    if (s.size() <= kMaxRuleInput) {
      out = std::regex_replace(s, r.compiled, r.replacement);
    } else {
      out = std::regex_replace(s.substr(0, kMaxRuleInput), r.compiled, r.replacement) +
            s.substr(kMaxRuleInput);
    }
    if (out != s) {
      s = std::move(out);
      low = lower(s.substr(0, kMaxRuleInput));
    }
  }
  return s;
}

Rule& add(std::vector<Rule>& rules, const char* name, const std::string& pattern,
          const char* replacement, bool icase = false, std::vector<std::string> needles = {},
          size_t digit_run = 0, size_t hex_run = 0) {
  rules.push_back(make_rule(name, pattern, replacement, icase));
  rules.back().needles = std::move(needles);
  rules.back().digit_run = digit_run;
  rules.back().hex_run = hex_run;
  return rules.back();
}

// Every one of `required` must occur too (see Rule).
void require(Rule& r, std::vector<std::string> required) {
  r.required = std::move(required);
}

const std::vector<std::string> kMonths = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};

}  // namespace

Rule make_rule(std::string name, std::string pattern, std::string replacement, bool ignore_case) {
  auto flags = std::regex::ECMAScript | std::regex::optimize;
  if (ignore_case) flags |= std::regex::icase;
  try {
    std::regex re(pattern, flags);
    return Rule{std::move(name),
                std::move(pattern),
                std::move(replacement),
                std::move(re),
                {},
                0,
                0,
                {},
                false};
  } catch (const std::regex_error& e) {
    throw RuleError(name + ": not a valid regular expression: " + pattern + " (" + e.what() + ")");
  }
}

std::vector<Rule> builtin_rules(Protocol protocol) {
  std::vector<Rule> r;
  const std::string month = kMonth, weekday = kWeekday;
  // Dates first, so that their digits are gone before the id rules look for tokens.
  add(r, "date",
      "(?:" + weekday + ",?\\s+)?\\b\\d{1,2}\\s+" + month +
          "\\s+\\d{2,4}\\s+\\d{1,2}:\\d{2}(?::\\d{2})?(?:\\s*[+-]\\d{4})?(?:\\s*\\([A-Za-z ]+\\))?",
      "<date>", false, kMonths, 2);
  require(r.back(), {":"});
  add(r, "date", weekday + "\\s+" + month + "\\s+\\d{1,2}\\s+\\d{2}:\\d{2}:\\d{2}\\s+\\d{4}",
      "<date>", false, kMonths, 2);
  require(r.back(), {":"});
  add(r, "date", "\\b\\d{1,2}-" + month + "-\\d{4} \\d{2}:\\d{2}:\\d{2} [+-]\\d{4}", "<date>",
      false, kMonths, 4);
  require(r.back(), {":", "-"});
  add(r, "timestamp",
      "\\b\\d{4}-\\d{2}-\\d{2}[T ]\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d+)?)?(?:Z|[+-]\\d{2}:?\\d{2})?",
      "<timestamp>", false, {":"}, 4);
  require(r.back(), {"-"});
  add(r, "timestamp", "\\b\\d{14}(?:\\.\\d+)?\\b", "<timestamp>", false, {}, 14);
  add(r, "message-id",
      "^((?:Message-ID|In-Reply-To|References|Resent-Message-ID|Content-ID)[ \\t]*:[ \\t]*).*",
      "$1<message-id>", true,
      {"message-id", "in-reply-to", "references", "resent-message-id", "content-id"});
  r.back().needle_at_start = true;
  // Server timings: Dovecot "(0.001 + 0.000 secs)", Cyrus "(0.001 secs 2 calls)".
  add(r, "timing", "\\(\\d+\\.\\d+(?: \\+ \\d+\\.\\d+)* secs?(?: \\d+ calls?)?\\)", "(<timing>)",
      false, {"sec"}, 1);
  require(r.back(), {"(", "."});
  add(r, "session-id", "\\b(session(?:[ -]?id)?[:= ]\\s*)(?:<[^<>\\s]*>|[A-Za-z0-9+/=._-]{6,})",
      "$1<session-id>", true, {"session"});
  // Long hex strings: nonces, digests, POP3 UIDLs, Dovecot GUIDs.
  add(r, "nonce", "\\b[0-9A-Fa-f]{16,}\\b", "<nonce>", false, {}, 0, 16);
  switch (protocol) {
    case Protocol::smtp:
      add(r, "queue-id", "\\b(queued as|queued with id|message accepted as)\\s+[A-Za-z0-9._-]+",
          "$1 <queue-id>", true, {"queued", "accepted as"});
      add(r, "queue-id", "\\bid=[A-Za-z0-9._-]+", "id=<queue-id>", false, {"id="});
      break;
    case Protocol::imap:
      add(r, "uidvalidity", "\\b(UIDVALIDITY\\s+)\\d+", "$1<uidvalidity>", true, {"uidvalidity"});
      add(r, "uidvalidity", "\\[(APPENDUID|COPYUID)\\s+\\d+", "[$1 <uidvalidity>", true,
          {"appenduid", "copyuid"});
      add(r, "modseq", "\\b(HIGHESTMODSEQ\\s+|MODSEQ\\s+\\()\\d+", "$1<modseq>", true, {"modseq"});
      add(r, "object-id", "\\b((?:MAILBOXID|EMAILID|THREADID)\\s+\\()[^)]*", "$1<object-id>", true,
          {"mailboxid", "emailid", "threadid"});
      break;
    case Protocol::pop3:
      break;
  }
  // Ids in Received: header fields of message content, whichever MTA added them:
  // "with ESMTPSA id 8D167A72738", "\tid HQ84JhjiAmvpGAAAg+zDdQ", Exim "id 1tX0ab-000Abc-Xy".
  add(r, "queue-id", "\\b(with\\s+\\S+\\s+id\\s+)[A-Za-z0-9+/=._-]+", "$1<queue-id>", true,
      {"with"});
  require(r.back(), {"id"});
  add(r, "queue-id", "^(\\s+id\\s+)[A-Za-z0-9+/=._-]{6,}", "$1<queue-id>", false, {" ", "\t"});
  r.back().needle_at_start = true;
  require(r.back(), {"id"});
  add(r, "queue-id", "\\bid [0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4}\\b", "id <queue-id>",
      false, {"id "});
  require(r.back(), {"-"});
  return r;
}

Normalizer::Normalizer(Protocol protocol, NormalizeOptions options)
    : protocol_(protocol), options_(std::move(options)), builtin_(diff::builtin_rules(protocol)) {
  if (options_.ignore_hosts) {
    add(hosts_, "host",
        "\\b(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z][A-Za-z0-9-]*[A-Za-z]\\b",
        "<host>", false, {"."});
    add(hosts_, "ip", "\\b\\d{1,3}(?:\\.\\d{1,3}){3}\\b", "<ip>", false, {"."}, 1);
    add(hosts_, "ip", "\\b(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}\\b", "<ip>", false,
        {"::", ":"});
  }
  if (protocol_ == Protocol::pop3) {
    // APOP (RFC 1939 7): the greeting carries a timestamp that changes with every connection.
    add(greeting_, "apop-timestamp", "<[^<>@\\s]+@[^<>\\s]+>", "<apop-timestamp>", false, {"@"});
  }
}

std::string Normalizer::text(std::string_view line) const {
  std::string s = apply(builtin_, std::string(line));
  s = apply(hosts_, std::move(s));
  return apply(options_.user_rules, std::move(s));
}

std::string Normalizer::greeting(std::string_view line) const {
  return text(apply(greeting_, std::string(line)));
}

bool Normalizer::drops_element(std::string_view element) const {
  std::string e(element.substr(0, kMaxRuleInput));
  for (const auto& r : options_.user_rules) {
    if (std::regex_search(e, r.compiled)) return true;
  }
  return false;
}

}  // namespace mailtap::diff
