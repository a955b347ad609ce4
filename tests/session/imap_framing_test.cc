// IMAP framing: lines both ways, literals ({n}, {n+}, {n-}, ~{n}) both ways streamed as literal
// frames whatever they contain, the line continuing after a literal, bounded lines, absurd
// literal sizes refused; every script fed whole, split at every byte, byte by byte, coalesced.
#include <gtest/gtest.h>

#include "session/framing_test_support.h"

namespace mailtap::session::test {
namespace {

using namespace std::string_literals;

constexpr Protocol kImap = Protocol::imap;

TEST(ImapFraming, ClientLiteralIsDataWhateverItReads) {
  Script s{
      {Side::server, "* OK ready\r\n"},
      {Side::client, "a APPEND INBOX (\\Seen) {28}\r\n"},
      {Side::server, "+ Ready for literal data\r\n"},
      {Side::client, "b STARTTLS\r\nc LOGIN {5}\r\nx\r\n\r\n"},
      {Side::server, "a OK APPEND completed\r\n"},
  };
  expect_frames(kImap, s,
                {sl("* OK ready\r\n"), cl("a APPEND INBOX (\\Seen) {28}\r\n"),
                 sl("+ Ready for literal data\r\n"), clit("b STARTTLS\r\nc LOGIN {5}\r\nx\r\n"),
                 cl("\r\n"), sl("a OK APPEND completed\r\n")});
}

TEST(ImapFraming, SeveralLiteralsInOneCommand) {
  Script s{
      {Side::client, "a LOGIN {5}\r\n"},      {Side::server, "+ go\r\n"},
      {Side::client, "alice {6}\r\n"},        {Side::server, "+ go\r\n"},
      {Side::client, "secret\r\nb NOOP\r\n"},
  };
  expect_frames(kImap, s,
                {cl("a LOGIN {5}\r\n"), sl("+ go\r\n"), clit("alice"), cl(" {6}\r\n"),
                 sl("+ go\r\n"), clit("secret"), cl("\r\n"), cl("b NOOP\r\n")});
}

TEST(ImapFraming, NonSynchronizingAndBinaryLiterals) {
  Script s{
      {Side::client, "a LOGIN {5+}\r\nalice {6-}\r\nsecret\r\n"},
      {Side::client, "b APPEND INBOX ~{4}\r\n\x00\x01\r\n\r\n"s},
      {Side::client, "c APPEND INBOX {0+}\r\n\r\n"},
  };
  expect_frames(kImap, s,
                {cl("a LOGIN {5+}\r\n"), clit("alice"), cl(" {6-}\r\n"), clit("secret"), cl("\r\n"),
                 cl("b APPEND INBOX ~{4}\r\n"), clit("\x00\x01\r\n"s), cl("\r\n"),
                 cl("c APPEND INBOX {0+}\r\n"), cl("\r\n")});
}

TEST(ImapFraming, ServerLiteralIsDataWhateverItReads) {
  std::string body = "a2 OK Begin TLS negotiation now\r\n* BYE\r\n";
  Script s{
      {Side::client, "a1 FETCH 1 BODY[]\r\n"},
      {Side::server, "* 1 FETCH (BODY[] {" + std::to_string(body.size()) + "}\r\n" + body +
                         " FLAGS (\\Seen))\r\na1 OK done\r\n"},
  };
  expect_frames(kImap, s,
                {cl("a1 FETCH 1 BODY[]\r\n"),
                 sl("* 1 FETCH (BODY[] {" + std::to_string(body.size()) + "}\r\n"), slit(body),
                 sl(" FLAGS (\\Seen))\r\n"), sl("a1 OK done\r\n")});
}

TEST(ImapFraming, BracesThatAreNotLiteralsAreText) {
  Script s{
      {Side::server, "* OK [ALERT] {not a literal}\r\n* OK }\r\n* OK {+5}\r\n* OK {}\r\n"},
      {Side::client, "a SEARCH SUBJECT \"{3}\"\r\n"},
  };
  expect_frames(kImap, s,
                {sl("* OK [ALERT] {not a literal}\r\n"), sl("* OK }\r\n"), sl("* OK {+5}\r\n"),
                 sl("* OK {}\r\n"), cl("a SEARCH SUBJECT \"{3}\"\r\n")});
}

TEST(ImapFraming, AbsurdLiteralsAreRefusedLegalOnesStreamed) {
  for (Side side : {Side::client, Side::server}) {
    for (std::string size : {"99999999999999999999", "4294967296", "18446744073709551616"}) {
      SCOPED_TRACE(size);
      auto run = run_framing(kImap, {{side, "a APPEND INBOX {" + size + "}\r\n"}}, {});
      ASSERT_TRUE(run.error);
      EXPECT_EQ(run.error->code, "bad_literal");
    }
    auto framing = make_framing(kImap, {});
    std::vector<Frame> frames;
    EXPECT_FALSE(framing->feed(side, "a APPEND INBOX {4294967295}\r\n", frames));
    // 4 GiB announced: streamed as it comes, nothing buffered in between.
    EXPECT_FALSE(framing->feed(side, std::string(1 << 16, 'z'), frames));
    ASSERT_EQ(frames.size(), 2u);
    EXPECT_EQ(frames[1].kind, transcript::FrameKind::literal);
    EXPECT_EQ(frames[1].bytes.size(), size_t{1} << 16);
    EXPECT_EQ(framing->take_pending(side), "");
  }
}

TEST(ImapFraming, LineLimitsBothWays) {
  std::string client_line = "a1 NOOP " + std::string(8192 - 10, 'x') + "\r\n";
  ASSERT_EQ(client_line.size(), 8192u);
  EXPECT_FALSE(run_framing(kImap, {{Side::client, client_line}}, {}).error);
  auto run = run_framing(kImap, {{Side::client, "a1 NOOP " + std::string(8200, 'x')}}, {});
  ASSERT_TRUE(run.error);
  EXPECT_EQ(run.error->code, "line_too_long");
  // Server lines may be long (a FETCH of many flags), up to 1 MiB by default.
  std::string server_line = "* OK " + std::string(100000, 's') + "\r\n";
  EXPECT_FALSE(run_framing(kImap, {{Side::server, server_line}}, {}).error);
  run = run_framing(kImap, {{Side::server, std::string((1 << 20) + 1, 's')}}, {});
  ASSERT_TRUE(run.error);
  // A literal is not a line: it may be far longer than the line limit.
  LineLimits small;
  small.client_command = 32;
  Script big{{Side::client, "a APPEND INBOX {1000}\r\n"},
             {Side::client, std::string(1000, 'q') + "\r\n"}};
  run = run_framing(kImap, big, small);
  EXPECT_FALSE(run.error);
}

TEST(ImapFraming, TakePendingReturnsThePartialLine) {
  auto framing = make_framing(kImap, {});
  std::vector<Frame> frames;
  EXPECT_FALSE(framing->feed(Side::server, "* 1 EXI", frames));
  EXPECT_TRUE(frames.empty());
  EXPECT_EQ(framing->take_pending(Side::server), "* 1 EXI");
  EXPECT_EQ(framing->take_pending(Side::client), "");
}

// A synchronizing literal is only sent after the server's "+": when the server refuses the
// command instead, no literal follows and the client's next line is a command.
TEST(ImapFraming, RefusedSynchronizingLiteralIsNotAwaited) {
  Script s{
      {Side::client, "a APPEND INBOX {100}\r\n"},
      {Side::server, "a NO [TOOBIG] too big\r\n"},
      {Side::client, "b STARTTLS\r\n"},
  };
  expect_frames(
      kImap, s,
      {cl("a APPEND INBOX {100}\r\n"), sl("a NO [TOOBIG] too big\r\n"), cl("b STARTTLS\r\n")});
}

TEST(ImapFraming, ConservesBytes) {
  expect_conservation(kImap, {{Side::client, "a LOGIN {5+}\r\nalice {3+}\r\nabc\r\nb N"},
                              {Side::server, "* 1 FETCH (X {2}\r\nab)\r\n* OK"}});
}

}  // namespace
}  // namespace mailtap::session::test
