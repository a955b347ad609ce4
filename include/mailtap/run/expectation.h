// Expectations on S: lines and how a block of them is matched against what a server said.
//
//   S: 250 2.1.0 Ok            exact (trailing white space ignored); `*` matches any run of
//                              characters, except a leading "* " (IMAP untagged) which is literal
//   S: 250-AUTH ...            prefix: the line starts with what comes before "..."
//   S: 250                     status only: a line that starts with this status, or the rest of
//   S: +OK   S: a1 OK   S: +   the response when it ends with this status (SMTP code, 2xx allowed;
//                              POP3 +OK/-ERR; IMAP "tag OK|NO|BAD|BYE|PREAUTH"; continuation +)
//   S: ~ ^250 .*queued         ECMAScript regular expression, searched in the line
//   S: ...                     any number of lines (also none)
#pragma once

#include <memory>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "mailtap/run/script.h"

namespace mailtap::run {

struct Expectation {
  enum class Kind { text, prefix, status, regex, any_lines };
  Kind kind = Kind::text;
  std::string pattern;  // text/prefix: glob; status: the status token(s); regex: its source
  std::string written;  // the S: line as written (after variable expansion)
  SourceLocation where;
  std::shared_ptr<const std::regex> compiled;  // regex only
};

// Classifies one S: line (text after "S:", variables already expanded). Throws ScriptError for a
// regular expression that does not compile.
Expectation parse_expectation(std::string_view text, const SourceLocation& where);

// `*` wildcards; a leading "* " is literal. Trailing white space of both sides is ignored.
bool glob_match(std::string_view pattern, std::string_view text);

// One line the server sent, without its line end, and the response it belongs to.
struct ReceivedLine {
  std::string text;
  size_t response = 0;  // index of the response, in the order read
};

struct BlockMatch {
  bool ok = false;
  // Where the best attempt stopped, for the difference shown to people.
  size_t expectation = 0;  // index into the block (== size: all expectations were met)
  size_t line = 0;         // index into the lines (== size: the server said nothing more)
  std::string reason;      // one sentence: what differs
  // How many lines the best attempt consumed (the rest were unexpected). When !ok and every
  // expectation was met, the server sent more than the block expects.
  bool wanted_more_lines = false;  // the block expects lines the server has not (yet) sent
};

BlockMatch match_block(const std::vector<Expectation>& block,
                       const std::vector<ReceivedLine>& lines);

// A readable difference: the expected block and the received lines, aligned like a unified diff,
// with the first difference pointed out. Lines are indented by `indent`.
std::string render_difference(const std::vector<Expectation>& block,
                              const std::vector<ReceivedLine>& lines, const BlockMatch& result,
                              const std::string& indent);

}  // namespace mailtap::run
