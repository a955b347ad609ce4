// POP3 framing: single-line replies, dot-terminated lists (CAPA, LIST, UIDL, AUTH) as lines,
// message bodies (RETR, TOP) as body frames with the terminator its own line, -ERR opening
// nothing, SASL challenges, pipelined commands paired in order; every script fed whole, split at
// every byte, byte by byte and coalesced.
#include <gtest/gtest.h>

#include "session/framing_test_support.h"

namespace mailtap::session::test {
namespace {

constexpr Protocol kPop3 = Protocol::pop3;

TEST(Pop3Framing, RetrAndTopBodiesVersusListsVersusSingleLines) {
  std::string message = "From: a@example.org\r\n\r\n..stuffed\r\n+OK not a reply\r\n.x\r\n";
  Script s{
      {Side::server, "+OK POP3 ready\r\n"},
      {Side::client, "USER alice\r\n"},
      {Side::server, "+OK\r\n"},
      {Side::client, "LIST\r\n"},
      {Side::server, "+OK 2 messages\r\n1 120\r\n2 200\r\n.\r\n"},
      {Side::client, "LIST 1\r\n"},
      {Side::server, "+OK 1 120\r\n"},
      {Side::client, "RETR 1\r\n"},
      {Side::server, "+OK 120 octets\r\n" + message + ".\r\n"},
      {Side::client, "TOP 2 0\r\n"},
      {Side::server, "+OK\r\nSubject: y\r\n\r\n.\r\n"},
      {Side::client, "UIDL\r\n"},
      {Side::server, "+OK\r\n1 abc\r\n.\r\n"},
      {Side::client, "QUIT\r\n"},
      {Side::server, "+OK bye\r\n"},
  };
  expect_frames(kPop3, s,
                {sl("+OK POP3 ready\r\n"),
                 cl("USER alice\r\n"),
                 sl("+OK\r\n"),
                 cl("LIST\r\n"),
                 sl("+OK 2 messages\r\n"),
                 sl("1 120\r\n"),
                 sl("2 200\r\n"),
                 sl(".\r\n"),
                 cl("LIST 1\r\n"),
                 sl("+OK 1 120\r\n"),
                 cl("RETR 1\r\n"),
                 sl("+OK 120 octets\r\n"),
                 sbody(message),
                 sl(".\r\n"),
                 cl("TOP 2 0\r\n"),
                 sl("+OK\r\n"),
                 sbody("Subject: y\r\n\r\n"),
                 sl(".\r\n"),
                 cl("UIDL\r\n"),
                 sl("+OK\r\n"),
                 sl("1 abc\r\n"),
                 sl(".\r\n"),
                 cl("QUIT\r\n"),
                 sl("+OK bye\r\n")});
}

TEST(Pop3Framing, ErrOpensNoListAndNoBody) {
  Script s{
      {Side::server, "+OK hi\r\n"},
      {Side::client, "RETR 9\r\nCAPA\r\nNOOP\r\n"},
      {Side::server, "-ERR no such message\r\n-ERR no CAPA\r\n+OK\r\n"},
  };
  expect_frames(kPop3, s,
                {sl("+OK hi\r\n"), cl("RETR 9\r\n"), cl("CAPA\r\n"), cl("NOOP\r\n"),
                 sl("-ERR no such message\r\n"), sl("-ERR no CAPA\r\n"), sl("+OK\r\n")});
}

TEST(Pop3Framing, PipelinedCommandsPairInOrder) {
  Script s{
      {Side::server, "+OK hi\r\n"},
      {Side::client, "STAT\r\nLIST\r\nRETR 1\r\nDELE 1\r\nQUIT\r\n"},
      {Side::server, "+OK 1 5\r\n+OK\r\n1 5\r\n.\r\n+OK\r\nabc\r\n.\r\n+OK\r\n+OK bye\r\n"},
  };
  expect_frames(
      kPop3, s,
      {sl("+OK hi\r\n"), cl("STAT\r\n"), cl("LIST\r\n"), cl("RETR 1\r\n"), cl("DELE 1\r\n"),
       cl("QUIT\r\n"), sl("+OK 1 5\r\n"), sl("+OK\r\n"), sl("1 5\r\n"), sl(".\r\n"), sl("+OK\r\n"),
       sbody("abc\r\n"), sl(".\r\n"), sl("+OK\r\n"), sl("+OK bye\r\n")});
}

TEST(Pop3Framing, CapaAndAuthListsAndASaslExchange) {
  Script s{
      {Side::server, "+OK hi\r\n"},
      {Side::client, "CAPA\r\n"},
      {Side::server, "+OK\r\nSTLS\r\nSASL PLAIN\r\n.\r\n"},
      {Side::client, "AUTH\r\n"},
      {Side::server, "+OK\r\nPLAIN\r\n.\r\n"},
      {Side::client, "AUTH PLAIN\r\n"},
      {Side::server, "+ \r\n"},
      {Side::client, "AGFsaWNlAHNlY3JldA==\r\n"},
      {Side::server, "+OK logged in\r\n"},
      {Side::client, "RETR 1\r\n"},
      {Side::server, "+OK\r\nhi\r\n.\r\n"},
  };
  expect_frames(
      kPop3, s,
      {sl("+OK hi\r\n"), cl("CAPA\r\n"), sl("+OK\r\n"), sl("STLS\r\n"), sl("SASL PLAIN\r\n"),
       sl(".\r\n"), cl("AUTH\r\n"), sl("+OK\r\n"), sl("PLAIN\r\n"), sl(".\r\n"),
       cl("AUTH PLAIN\r\n"), sl("+ \r\n"), cl("AGFsaWNlAHNlY3JldA==\r\n"), sl("+OK logged in\r\n"),
       cl("RETR 1\r\n"), sl("+OK\r\n"), sbody("hi\r\n"), sl(".\r\n")});
}

TEST(Pop3Framing, EmptyBodyAndDotLinesInside) {
  Script s{
      {Side::server, "+OK hi\r\n"},
      {Side::client, "TOP 1 0\r\n"},
      {Side::server, "+OK\r\n.\r\n"},
      {Side::client, "RETR 1\r\n"},
      {Side::server, "+OK\r\n..\r\n.\r\r\n..\r\n\r\n.\r\n"},
  };
  expect_frames(kPop3, s,
                {sl("+OK hi\r\n"), cl("TOP 1 0\r\n"), sl("+OK\r\n"), sl(".\r\n"), cl("RETR 1\r\n"),
                 sl("+OK\r\n"), sbody("..\r\n.\r\r\n..\r\n\r\n"), sl(".\r\n")});
}

TEST(Pop3Framing, LineLimits) {
  std::string at_limit = "USER " + std::string(505, 'u') + "\r\n";
  ASSERT_EQ(at_limit.size(), 512u);
  EXPECT_FALSE(run_framing(kPop3, {{Side::client, at_limit}}, {}).error);
  auto run = run_framing(kPop3, {{Side::client, "USER " + std::string(600, 'u') + "\r\n"}}, {});
  ASSERT_TRUE(run.error);
  EXPECT_EQ(run.error->code, "line_too_long");
  run = run_framing(kPop3, {{Side::server, "+OK " + std::string(5000, 's') + "\r\n"}}, {});
  ASSERT_TRUE(run.error);
  // A message body is not a line: its lines may be longer than any limit.
  Script body{{Side::server, "+OK hi\r\n"},
              {Side::client, "RETR 1\r\n"},
              {Side::server, "+OK\r\n" + std::string(100000, 'b') + "\r\n.\r\n"}};
  EXPECT_FALSE(run_framing(kPop3, body, {}).error);
}

TEST(Pop3Framing, ConservesBytes) {
  expect_conservation(kPop3, {{Side::server, "+OK hi\r\n"},
                              {Side::client, "RETR 1\r\nLIST\r\nQU"},
                              {Side::server, "+OK\r\nx\r\n.\r\n+OK\r\n1 2\r\n.\r\n+O"}});
}

}  // namespace
}  // namespace mailtap::session::test
