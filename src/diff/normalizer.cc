#include "mailtap/diff/normalizer.h"

namespace mailtap::diff {
namespace {

constexpr const char* kMonth = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)";
constexpr const char* kWeekday = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)";

std::string apply(const std::vector<Rule>& rules, std::string s) {
  for (const auto& r : rules) {
    if (s.size() <= kMaxRuleInput) {
      s = std::regex_replace(s, r.compiled, r.replacement);
    } else {
      std::string head = std::regex_replace(s.substr(0, kMaxRuleInput), r.compiled, r.replacement);
      s = head + s.substr(kMaxRuleInput);
    }
  }
  return s;
}

void add(std::vector<Rule>& rules, const char* name, const std::string& pattern,
         const char* replacement, bool icase = false) {
  rules.push_back(make_rule(name, pattern, replacement, icase));
}

}  // namespace

Rule make_rule(std::string name, std::string pattern, std::string replacement, bool ignore_case) {
  auto flags = std::regex::ECMAScript | std::regex::optimize;
  if (ignore_case) flags |= std::regex::icase;
  try {
    std::regex re(pattern, flags);
    return Rule{std::move(name), std::move(pattern), std::move(replacement), std::move(re)};
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
      "<date>");
  add(r, "date", weekday + "\\s+" + month + "\\s+\\d{1,2}\\s+\\d{2}:\\d{2}:\\d{2}\\s+\\d{4}",
      "<date>");
  add(r, "date", "\\b\\d{1,2}-" + month + "-\\d{4} \\d{2}:\\d{2}:\\d{2} [+-]\\d{4}", "<date>");
  add(r, "timestamp",
      "\\b\\d{4}-\\d{2}-\\d{2}[T ]\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d+)?)?(?:Z|[+-]\\d{2}:?\\d{2})?",
      "<timestamp>");
  add(r, "timestamp", "\\b\\d{14}(?:\\.\\d+)?\\b", "<timestamp>");
  add(r, "message-id",
      "^((?:Message-ID|In-Reply-To|References|Resent-Message-ID|Content-ID)[ \\t]*:[ \\t]*).*",
      "$1<message-id>", true);
  // Server timings: Dovecot "(0.001 + 0.000 secs)", Cyrus "(0.001 secs 2 calls)".
  add(r, "timing", "\\(\\d+\\.\\d+(?: \\+ \\d+\\.\\d+)* secs?(?: \\d+ calls?)?\\)", "(<timing>)");
  add(r, "session-id", "\\b(session(?:[ -]?id)?[:= ]\\s*)(?:<[^<>\\s]*>|[A-Za-z0-9+/=._-]{6,})",
      "$1<session-id>", true);
  // Long hex strings: nonces, digests, POP3 UIDLs, Dovecot GUIDs.
  add(r, "nonce", "\\b[0-9A-Fa-f]{16,}\\b", "<nonce>");
  switch (protocol) {
    case Protocol::smtp:
      add(r, "queue-id", "\\b(queued as|queued with id|message accepted as)\\s+[A-Za-z0-9._-]+",
          "$1 <queue-id>", true);
      add(r, "queue-id", "\\bid=[A-Za-z0-9._-]+", "id=<queue-id>");
      break;
    case Protocol::imap:
      add(r, "uidvalidity", "\\b(UIDVALIDITY\\s+)\\d+", "$1<uidvalidity>", true);
      add(r, "uidvalidity", "\\[(APPENDUID|COPYUID)\\s+\\d+", "[$1 <uidvalidity>", true);
      add(r, "modseq", "\\b(HIGHESTMODSEQ\\s+|MODSEQ\\s+\\()\\d+", "$1<modseq>", true);
      add(r, "object-id", "\\b((?:MAILBOXID|EMAILID|THREADID)\\s+\\()[^)]*", "$1<object-id>",
          true);
      break;
    case Protocol::pop3:
      break;
  }
  // Ids in Received: header fields of message content, whichever MTA added them:
  // "with ESMTPSA id 8D167A72738", "\tid HQ84JhjiAmvpGAAAg+zDdQ", Exim "id 1tX0ab-000Abc-Xy".
  add(r, "queue-id", "\\b(with\\s+\\S+\\s+id\\s+)[A-Za-z0-9+/=._-]+", "$1<queue-id>", true);
  add(r, "queue-id", "^(\\s+id\\s+)[A-Za-z0-9+/=._-]{6,}", "$1<queue-id>");
  add(r, "queue-id", "\\bid [0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4}\\b", "id <queue-id>");
  return r;
}

Normalizer::Normalizer(Protocol protocol, NormalizeOptions options)
    : protocol_(protocol), options_(std::move(options)), builtin_(diff::builtin_rules(protocol)) {
  if (options_.ignore_hosts) {
    add(hosts_, "host",
        "\\b(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z][A-Za-z0-9-]*[A-Za-z]\\b",
        "<host>");
    add(hosts_, "ip", "\\b\\d{1,3}(?:\\.\\d{1,3}){3}\\b", "<ip>");
    add(hosts_, "ip", "\\b(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}\\b", "<ip>");
  }
  if (protocol_ == Protocol::pop3) {
    // APOP (RFC 1939 7): the greeting carries a timestamp that changes with every connection.
    add(greeting_, "apop-timestamp", "<[^<>@\\s]+@[^<>\\s]+>", "<apop-timestamp>");
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
