#include "mailtap/run/expectation.h"

#include <gtest/gtest.h>

namespace mailtap::run {
namespace {

using Kind = Expectation::Kind;

std::vector<Expectation> block(std::initializer_list<const char*> lines) {
  std::vector<Expectation> out;
  size_t n = 0;
  for (const char* l : lines) out.push_back(parse_expectation(l, {"t", ++n}));
  return out;
}

// Lines of consecutive responses: {"a", "b"} and {"c"} -> responses 0 and 1.
std::vector<ReceivedLine> responses(std::initializer_list<std::vector<std::string>> rs) {
  std::vector<ReceivedLine> out;
  size_t index = 0;
  for (const auto& r : rs) {
    for (const auto& line : r) out.push_back({line, index});
    ++index;
  }
  return out;
}

TEST(RunExpectation, Classification) {
  EXPECT_EQ(parse_expectation("250 2.1.0 Ok", {}).kind, Kind::text);
  EXPECT_EQ(parse_expectation("250-AUTH ...", {}).kind, Kind::prefix);
  EXPECT_EQ(parse_expectation("250-AUTH ...", {}).pattern, "250-AUTH ");
  EXPECT_EQ(parse_expectation("250", {}).kind, Kind::status);
  EXPECT_EQ(parse_expectation("2xx", {}).kind, Kind::status);
  EXPECT_EQ(parse_expectation("+OK", {}).kind, Kind::status);
  EXPECT_EQ(parse_expectation("-ERR", {}).kind, Kind::status);
  EXPECT_EQ(parse_expectation("a1 OK", {}).kind, Kind::status);
  EXPECT_EQ(parse_expectation(". no", {}).kind, Kind::status);
  EXPECT_EQ(parse_expectation("+", {}).kind, Kind::status);
  EXPECT_EQ(parse_expectation("* OK", {}).kind, Kind::status);
  EXPECT_EQ(parse_expectation("~ ^250 .*queued", {}).kind, Kind::regex);
  EXPECT_EQ(parse_expectation("...", {}).kind, Kind::any_lines);
  EXPECT_EQ(parse_expectation("a1 OK Logged in", {}).kind, Kind::text);
  EXPECT_EQ(parse_expectation("600", {}).kind, Kind::text);
  EXPECT_THROW(parse_expectation("~ (", {"f", 3}), ScriptError);
}

TEST(RunExpectation, GlobWildcardsAndLiteralUntaggedStar) {
  EXPECT_TRUE(glob_match("250 2.0.0 Ok: queued as *", "250 2.0.0 Ok: queued as 941731C4"));
  EXPECT_TRUE(
      glob_match("* OK [UIDVALIDITY *] UIDs valid", "* OK [UIDVALIDITY 1594507084] UIDs valid"));
  EXPECT_FALSE(glob_match("* OK *", "a1 OK done"));  // "* " is IMAP's untagged marker
  EXPECT_TRUE(glob_match("* * EXISTS", "* 12 EXISTS"));
  EXPECT_TRUE(glob_match("a1 OK *", "a1 OK"));  // a trailing " *" may be nothing at all
  EXPECT_TRUE(glob_match("334 ", "334"));       // trailing white space is ignored
  EXPECT_TRUE(glob_match("334", "334 "));
  EXPECT_FALSE(glob_match("250 Ok", "250 Okay"));
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("(\\Seen \\*)", "(\\Seen \\*)"));  // IMAP's \* still matches itself
}

TEST(RunExpectation, ExactAndPrefixLines) {
  auto lines = responses({{"250-mail.example.com", "250-AUTH PLAIN LOGIN", "250 DSN"}});
  EXPECT_TRUE(match_block(block({"250-mail.example.com", "250-AUTH ...", "250 DSN"}), lines).ok);
  BlockMatch m =
      match_block(block({"250-mail.example.com", "250-AUTH CRAM-MD5", "250 DSN"}), lines);
  EXPECT_FALSE(m.ok);
  EXPECT_EQ(m.expectation, 1u);
  EXPECT_EQ(m.line, 1u);
  EXPECT_NE(m.reason.find("250-AUTH PLAIN LOGIN"), std::string::npos);
}

TEST(RunExpectation, StatusOnlyTakesAWholeSmtpReply) {
  auto ehlo = responses({{"250-mail.example.com", "250-PIPELINING", "250 DSN"}, {"250 2.1.0 Ok"}});
  EXPECT_TRUE(match_block(block({"250", "250 2.1.0 Ok"}), ehlo).ok);
  EXPECT_TRUE(match_block(block({"2xx", "2xx"}), ehlo).ok);
  BlockMatch m = match_block(block({"550", "250 2.1.0 Ok"}), ehlo);
  EXPECT_FALSE(m.ok);
  EXPECT_NE(m.reason.find("expected status \"550\""), std::string::npos);
  // A status line may also stand for exactly one line: "334 " with its empty challenge.
  EXPECT_TRUE(match_block(block({"334"}), responses({{"334 "}})).ok);
}

TEST(RunExpectation, StatusOnlyTakesImapUntaggedDataAndPop3Bodies) {
  auto list = responses({{"* LIST (\\HasNoChildren) \".\" INBOX", "* LIST () \".\" Sent",
                          "a2 OK List completed (0.001 + 0.000 secs)."}});
  EXPECT_TRUE(match_block(block({"a2 OK"}), list).ok);
  EXPECT_TRUE(match_block(block({"* LIST (\\HasNoChildren) \".\" INBOX", "a2 OK"}), list).ok);
  EXPECT_FALSE(match_block(block({"a2 NO"}), list).ok);
  EXPECT_FALSE(match_block(block({"a3 OK"}), list).ok);

  auto retr = responses({{"+OK 120 octets", "Subject: hi", "", "body", "."}});
  EXPECT_TRUE(match_block(block({"+OK"}), retr).ok);
  // ...or just the status line, when the script spells out the body.
  EXPECT_TRUE(match_block(block({"+OK", "Subject: hi", "...", "."}), retr).ok);
  EXPECT_FALSE(match_block(block({"-ERR"}), retr).ok);
}

TEST(RunExpectation, RegexIsSearchedInTheLine) {
  auto lines = responses({{"250 2.0.0 Ok: queued as 941731C4"}});
  EXPECT_TRUE(match_block(block({"~ ^250 .*queued"}), lines).ok);
  EXPECT_TRUE(match_block(block({"~ queued as [0-9A-F]+$"}), lines).ok);
  EXPECT_FALSE(match_block(block({"~ ^554"}), lines).ok);
}

TEST(RunExpectation, AnyLinesSkipsWhatTheScriptDoesNotCareAbout) {
  auto lines = responses({{"250-a", "250-b", "250-AUTH PLAIN", "250-c", "250 d"}});
  EXPECT_TRUE(match_block(block({"250-a", "...", "250-AUTH ...", "...", "250 *"}), lines).ok);
  EXPECT_TRUE(match_block(block({"...", "250 d"}), lines).ok);
  EXPECT_TRUE(match_block(block({"..."}), responses({})).ok);
  EXPECT_FALSE(match_block(block({"...", "250-AUTH LOGIN", "..."}), lines).ok);
}

TEST(RunExpectation, MissingAndExtraLinesAreNamed) {
  auto lines = responses({{"250 2.1.0 Ok"}});
  BlockMatch missing = match_block(block({"250 2.1.0 Ok", "250 2.1.5 Ok"}), lines);
  EXPECT_FALSE(missing.ok);
  EXPECT_TRUE(missing.wanted_more_lines);
  EXPECT_NE(missing.reason.find("said nothing more"), std::string::npos);
  BlockMatch extra = match_block(block({}), lines);
  EXPECT_FALSE(extra.ok);
  EXPECT_FALSE(extra.wanted_more_lines);
  EXPECT_NE(extra.reason.find("more than the script expects"), std::string::npos);
}

TEST(RunExpectation, DifferenceAlignsTheRestAndPointsAtTheColumn) {
  auto expected = block({"250-mail.example.com", "250-SIZE 10240000", "250-ETRN", "250 DSN"});
  auto lines = responses({{"250-mail.example.com", "250-SIZE 52428800", "250-ETRN", "250 DSN"}});
  BlockMatch m = match_block(expected, lines);
  ASSERT_FALSE(m.ok);
  std::string diff = render_difference(expected, lines, m, "");
  EXPECT_NE(diff.find("  250-mail.example.com\n"), std::string::npos) << diff;
  EXPECT_NE(diff.find("- 250-SIZE 10240000    (t:2)\n"), std::string::npos) << diff;
  EXPECT_NE(diff.find("+ 250-SIZE 52428800\n"), std::string::npos) << diff;
  // The lines after the change line up again instead of all showing as different.
  EXPECT_NE(diff.find("  250-ETRN\n  250 DSN\n"), std::string::npos) << diff;
  EXPECT_NE(diff.find("first difference at column 10"), std::string::npos) << diff;
}

TEST(RunExpectation, LargeBlocksStayFast) {
  // A 20,000-line FETCH body matched exactly, then with a "..." in front.
  std::vector<std::string> body;
  std::vector<Expectation> exact;
  for (int i = 0; i < 20000; ++i) {
    body.push_back("line " + std::to_string(i));
    exact.push_back(parse_expectation(body.back(), {}));
  }
  auto lines = responses({body});
  EXPECT_TRUE(match_block(exact, lines).ok);
  EXPECT_TRUE(match_block(block({"...", "line 19999"}), lines).ok);
}

}  // namespace
}  // namespace mailtap::run
