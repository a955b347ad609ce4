#include "mailtap/run/script_parser.h"

#include <gtest/gtest.h>

namespace mailtap::run {
namespace {

using Kind = ScriptItem::Kind;

// The error message for a script that must not parse, or "" when it parses.
std::string error_of(const std::string& text) {
  try {
    parse_script(text, "t.mtscript");
  } catch (const ScriptError& e) {
    return e.what();
  }
  return "";
}

TEST(RunScriptParser, ReadsSeedStyleLines) {
  Script s = parse_script(
      "# a comment\n"
      "\n"
      "S: 220 mail.example.com ESMTP Postfix (Debian)\n"
      "C: EHLO localhost\n"
      "   S: 250-mail.example.com\n"  // indented, as in the seeds
      "server: 250 DSN\r\n"           // long form, CRLF file
      "client: QUIT\n"
      "c: lower-case role\n",
      "t.mtscript");
  ASSERT_EQ(s.items.size(), 6u);
  EXPECT_EQ(s.items[0].kind, Kind::expect);
  EXPECT_EQ(s.items[0].text, "220 mail.example.com ESMTP Postfix (Debian)");
  EXPECT_EQ(s.items[0].where.str(), "t.mtscript:3");
  EXPECT_EQ(s.items[1].kind, Kind::send);
  EXPECT_EQ(s.items[1].text, "EHLO localhost");
  EXPECT_EQ(s.items[2].text, "250-mail.example.com");
  EXPECT_EQ(s.items[3].text, "250 DSN");
  EXPECT_EQ(s.items[3].where.line, 6u);
  EXPECT_EQ(s.items[4].text, "QUIT");
  EXPECT_EQ(s.items[5].text, "lower-case role");
}

TEST(RunScriptParser, EmptyClientLineSendsAnEmptyLine) {
  Script s = parse_script("C:\nC: \nC:  two spaces\n", "t");
  ASSERT_EQ(s.items.size(), 3u);
  EXPECT_EQ(s.items[0].text, "");
  EXPECT_EQ(s.items[1].text, "");
  EXPECT_EQ(s.items[2].text, " two spaces");  // only one space after the colon is layout
}

TEST(RunScriptParser, HeaderDirectivesAndActions) {
  Script s = parse_script(
      "!proto imap\n!tls implicit\n!target mail.example.com:993\n!timeout 2.5\n"
      "set user=alice\n"
      "!auth cram-md5\n!auth PLAIN a9\n!starttls\n!sleep 0.1\n!close\n!expect-close\n",
      "t");
  EXPECT_EQ(s.protocol, Protocol::imap);
  EXPECT_EQ(s.tls, TlsMode::implicit);
  EXPECT_EQ(s.target, "mail.example.com:993");
  EXPECT_EQ(s.timeout_seconds, 2.5);
  ASSERT_EQ(s.items.size(), 7u);
  EXPECT_EQ(s.items[0].kind, Kind::set);
  EXPECT_EQ(s.items[0].name, "user");
  EXPECT_EQ(s.items[0].text, "alice");
  EXPECT_EQ(s.items[1].kind, Kind::auth);
  EXPECT_EQ(s.items[1].name, "CRAM-MD5");
  EXPECT_EQ(s.items[2].tag, "a9");
  EXPECT_EQ(s.items[3].kind, Kind::starttls);
  EXPECT_EQ(s.items[4].kind, Kind::sleep);
  EXPECT_DOUBLE_EQ(s.items[4].seconds, 0.1);
  EXPECT_EQ(s.items[5].kind, Kind::close);
  EXPECT_EQ(s.items[6].kind, Kind::expect_close);
}

TEST(RunScriptParser, ExactBytesLine) {
  Script s = parse_script("C=: ..\\r\\n\nC=: bare\\n\\x00\\\\\n", "t");
  ASSERT_EQ(s.items.size(), 2u);
  EXPECT_TRUE(s.items[0].raw);
  EXPECT_EQ(s.items[0].text, "..\r\n");
  EXPECT_EQ(s.items[1].text, std::string("bare\n\0\\", 7));
}

TEST(RunScriptParser, ErrorsNameFileLineAndProblem) {
  EXPECT_EQ(error_of("C: EHLO x\nthis is prose\n"),
            "t.mtscript:2: expected a line starting with C:, S:, client:, server:, set, ! or #, "
            "got \"this is prose\"");
  EXPECT_EQ(error_of("\n\n!frobnicate\n").rfind("t.mtscript:3: unknown directive !frobnicate", 0),
            0u);
  EXPECT_EQ(error_of("C: ${user\n").rfind("t.mtscript:1: ", 0), 0u);
  EXPECT_NE(error_of("C: x\nS: ${nosuch:a}\n").find("t.mtscript:2: unknown helper"),
            std::string::npos);
  EXPECT_NE(error_of("S: ~ ^250 (unclosed\n").find("t.mtscript:1: bad regular expression"),
            std::string::npos);
  EXPECT_NE(error_of("C: EHLO x\n!proto smtp\n").find("t.mtscript:2: !proto must come before"),
            std::string::npos);
  EXPECT_NE(error_of("!proto gopher\n").find("unknown protocol"), std::string::npos);
  EXPECT_NE(error_of("!tls sometimes\n").find("unknown TLS mode"), std::string::npos);
  EXPECT_NE(error_of("!target nocolon\n").find("HOST:PORT"), std::string::npos);
  EXPECT_NE(error_of("!sleep soon\n").find("seconds"), std::string::npos);
  EXPECT_NE(error_of("set novalue\n").find("t.mtscript:1: set needs name=value"),
            std::string::npos);
  EXPECT_NE(error_of("set bad name=1\n").find("not a variable name"), std::string::npos);
  EXPECT_NE(error_of("C=: \\q\n").find("t.mtscript:1: C=: unknown escape"), std::string::npos);
  EXPECT_NE(error_of("!auth\n").find("usage: !auth"), std::string::npos);
  EXPECT_EQ(error_of("# fine\nC: x\n"), "");
}

TEST(RunScriptParser, MissingFileIsAScriptError) {
  try {
    load_script_file("/nonexistent/dir/x.mtscript");
    FAIL() << "no error";
  } catch (const ScriptError& e) {
    EXPECT_EQ(e.where().file, "/nonexistent/dir/x.mtscript");
    EXPECT_NE(std::string(e.what()).find("cannot read"), std::string::npos);
  }
}

TEST(RunScriptParser, GuessesTheProtocolFromWhatTheScriptSays) {
  EXPECT_EQ(guess_protocol(parse_script("S: 220 hi\nC: EHLO x\n", "t")), Protocol::smtp);
  EXPECT_EQ(guess_protocol(parse_script("C: a1 LOGIN u p\n", "t")), Protocol::imap);
  EXPECT_EQ(guess_protocol(parse_script("C: . LOGIN hello world\n", "t")), Protocol::imap);
  EXPECT_EQ(guess_protocol(parse_script("S: +OK ready\n", "t")), Protocol::pop3);
  EXPECT_EQ(guess_protocol(parse_script("C: USER alice\n", "t")), Protocol::pop3);
  EXPECT_EQ(guess_protocol(parse_script("C: hello\n", "t")), std::nullopt);
}

}  // namespace
}  // namespace mailtap::run
