// SMTP framing: command lines, DATA bodies after a 354 (dot-stuffing kept, terminator its own
// line), BDAT chunks, AUTH 334 exchanges, PIPELINING pairing of replies with commands; every
// script fed whole, split at every byte, byte by byte and coalesced.
#include <gtest/gtest.h>

#include "session/framing_test_support.h"

namespace mailtap::session::test {
namespace {

constexpr Protocol kSmtp = Protocol::smtp;

TEST(SmtpFraming, DataBodyAfter354WithDotStuffing) {
  Script s{
      {Side::server, "220 mail.example.net ESMTP\r\n"},
      {Side::client, "EHLO x\r\n"},
      {Side::server, "250-mail.example.net\r\n250 PIPELINING\r\n"},
      {Side::client, "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"},
      {Side::server, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n"},
      {Side::client, "Subject: t\r\n\r\n..leading dot\r\n.x\r\n.\r\r\n\r\n.\r\nQUIT\r\n"},
      {Side::server, "250 2.0.0 queued\r\n221 2.0.0 Bye\r\n"},
  };
  expect_frames(
      kSmtp, s,
      {sl("220 mail.example.net ESMTP\r\n"), cl("EHLO x\r\n"), sl("250-mail.example.net\r\n"),
       sl("250 PIPELINING\r\n"), cl("MAIL FROM:<a@example.org>\r\n"),
       cl("RCPT TO:<b@example.net>\r\n"), cl("DATA\r\n"), sl("250 2.1.0 Ok\r\n"),
       sl("250 2.1.5 Ok\r\n"), sl("354 go ahead\r\n"),
       cbody("Subject: t\r\n\r\n..leading dot\r\n.x\r\n.\r\r\n\r\n"), cl(".\r\n"), cl("QUIT\r\n"),
       sl("250 2.0.0 queued\r\n"), sl("221 2.0.0 Bye\r\n")});
}

// A client that starts the message before the 354 arrives: those held bytes begin the body,
// ahead of what it sends after (found by framing_fuzz: they used to come after, reordered).
TEST(SmtpFraming, BytesSentBefore354BeginTheBody) {
  Script s{
      {Side::server, "220 hi\r\n"}, {Side::client, "DATA\r\nSub"},
      {Side::server, "354 go\r\n"}, {Side::client, "ject: t\r\n.\r\n"},
      {Side::server, "250 ok\r\n"},
  };
  expect_frames(kSmtp, s,
                {sl("220 hi\r\n"), cl("DATA\r\n"), sl("354 go\r\n"), cbody("Subject: t\r\n"),
                 cl(".\r\n"), sl("250 ok\r\n")});
}

TEST(SmtpFraming, EmptyBodyAndTwoMessagesInARow) {
  Script s{
      {Side::server, "220 hi\r\n"},           {Side::client, "DATA\r\n"},
      {Side::server, "354 go\r\n"},           {Side::client, ".\r\nDATA\r\n"},
      {Side::server, "250 ok\r\n354 go\r\n"}, {Side::client, "a\r\n.\r\n"},
      {Side::server, "250 ok\r\n"},
  };
  expect_frames(
      kSmtp, s,
      {sl("220 hi\r\n"), cl("DATA\r\n"), sl("354 go\r\n"), cl(".\r\n"), cl("DATA\r\n"),
       sl("250 ok\r\n"), sl("354 go\r\n"), cbody("a\r\n"), cl(".\r\n"), sl("250 ok\r\n")});
}

TEST(SmtpFraming, RefusedDataLeavesCommandMode) {
  Script s{
      {Side::server, "220 hi\r\n"},
      {Side::client, "MAIL FROM:<a@example.org>\r\nRCPT TO:<nobody@example.net>\r\nDATA\r\n"},
      {Side::server, "250 ok\r\n550 5.1.1 no such user\r\n554 5.5.1 no valid recipients\r\n"},
      {Side::client, "RSET\r\n.\r\n"},
  };
  expect_frames(kSmtp, s,
                {sl("220 hi\r\n"), cl("MAIL FROM:<a@example.org>\r\n"),
                 cl("RCPT TO:<nobody@example.net>\r\n"), cl("DATA\r\n"), sl("250 ok\r\n"),
                 sl("550 5.1.1 no such user\r\n"), sl("554 5.5.1 no valid recipients\r\n"),
                 cl("RSET\r\n"), cl(".\r\n")});
}

// A 354 pairs with the command it answers: for anything but DATA it opens no body.
TEST(SmtpFraming, A354ForAnotherCommandOpensNoBody) {
  Script s{
      {Side::server, "220 hi\r\n"},
      {Side::client, "NOOP\r\n"},
      {Side::server, "354 odd\r\n"},
      {Side::client, "QUIT\r\n"},
  };
  expect_frames(kSmtp, s, {sl("220 hi\r\n"), cl("NOOP\r\n"), sl("354 odd\r\n"), cl("QUIT\r\n")});
}

TEST(SmtpFraming, MultiLineRepliesPairOnTheirLastLine) {
  Script s{
      {Side::server, "220-hi\r\n220 there\r\n"},
      {Side::client, "EHLO x\r\nDATA\r\n"},
      {Side::server, "250-a\r\n250-b\r\n250 c\r\n354-odd but\r\n354 legal\r\n"},
      {Side::client, "body\r\n.\r\n"},
  };
  expect_frames(kSmtp, s,
                {sl("220-hi\r\n"), sl("220 there\r\n"), cl("EHLO x\r\n"), cl("DATA\r\n"),
                 sl("250-a\r\n"), sl("250-b\r\n"), sl("250 c\r\n"), sl("354-odd but\r\n"),
                 sl("354 legal\r\n"), cbody("body\r\n"), cl(".\r\n")});
}

TEST(SmtpFraming, BdatChunksAreOpaque) {
  std::string chunk1 = "Subject: c\r\n\r\n.\r\nQUIT\r\n";
  std::string chunk2 = "BDAT 5\r\n";
  Script s{
      {Side::server, "220 hi\r\n"},
      {Side::client, "BDAT " + std::to_string(chunk1.size()) + "\r\n" + chunk1},
      {Side::server, "250 ok\r\n"},
      {Side::client, "BDAT " + std::to_string(chunk2.size()) + " LAST\r\n" + chunk2 + "NOOP\r\n"},
      {Side::server, "250 ok\r\n250 ok\r\n"},
      {Side::client, "BDAT 0 LAST\r\nQUIT\r\n"},
  };
  expect_frames(
      kSmtp, s,
      {sl("220 hi\r\n"), cl("BDAT " + std::to_string(chunk1.size()) + "\r\n"), cchunk(chunk1),
       sl("250 ok\r\n"), cl("BDAT " + std::to_string(chunk2.size()) + " LAST\r\n"), cchunk(chunk2),
       cl("NOOP\r\n"), sl("250 ok\r\n"), sl("250 ok\r\n"), cl("BDAT 0 LAST\r\n"), cl("QUIT\r\n")});
}

TEST(SmtpFraming, BdatWithoutAValidSizeIsAnError) {
  for (std::string bad : {"BDAT\r\n", "BDAT x\r\n", "BDAT -1\r\n", "BDAT 1234567890123456\r\n"}) {
    SCOPED_TRACE(bad);
    FramingRun run = run_framing(kSmtp, {{Side::client, bad}}, {});
    ASSERT_TRUE(run.error);
    EXPECT_EQ(run.error->code, "bad_chunk_size");
  }
}

TEST(SmtpFraming, AuthExchangeKeepsThePairing) {
  Script s{
      {Side::server, "220 hi\r\n"},           {Side::client, "AUTH LOGIN\r\n"},
      {Side::server, "334 VXNlcm5hbWU6\r\n"}, {Side::client, "YWxpY2U=\r\n"},
      {Side::server, "334 UGFzc3dvcmQ6\r\n"}, {Side::client, "c2VjcmV0\r\n"},
      {Side::server, "235 2.7.0 ok\r\n"},     {Side::client, "DATA\r\n"},
      {Side::server, "354 go\r\n"},           {Side::client, "x\r\n.\r\n"},
  };
  expect_frames(
      kSmtp, s,
      {sl("220 hi\r\n"), cl("AUTH LOGIN\r\n"), sl("334 VXNlcm5hbWU6\r\n"), cl("YWxpY2U=\r\n"),
       sl("334 UGFzc3dvcmQ6\r\n"), cl("c2VjcmV0\r\n"), sl("235 2.7.0 ok\r\n"), cl("DATA\r\n"),
       sl("354 go\r\n"), cbody("x\r\n"), cl(".\r\n")});
}

TEST(SmtpFraming, AuthCancelledAndFailedKeepThePairing) {
  Script s{
      {Side::server, "220 hi\r\n"},
      {Side::client, "AUTH PLAIN\r\n"},
      {Side::server, "334 \r\n"},
      {Side::client, "*\r\n"},
      {Side::server, "501 5.7.0 cancelled\r\n"},
      {Side::client, "AUTH PLAIN AGEAYg==\r\nDATA\r\n"},
      {Side::server, "535 5.7.8 failed\r\n354 go\r\n"},
      {Side::client, "y\r\n.\r\n"},
  };
  expect_frames(kSmtp, s,
                {sl("220 hi\r\n"), cl("AUTH PLAIN\r\n"), sl("334 \r\n"), cl("*\r\n"),
                 sl("501 5.7.0 cancelled\r\n"), cl("AUTH PLAIN AGEAYg==\r\n"), cl("DATA\r\n"),
                 sl("535 5.7.8 failed\r\n"), sl("354 go\r\n"), cbody("y\r\n"), cl(".\r\n")});
}

TEST(SmtpFraming, SaslResponsesMayBeLongButCommandsMayNot) {
  std::string response = std::string(10000, 'A') + "\r\n";
  Script ok{
      {Side::server, "220 hi\r\n"},
      {Side::client, "AUTH PLAIN\r\n"},
      {Side::server, "334 \r\n"},
      {Side::client, response},
  };
  FramingRun run = run_framing(kSmtp, ok, {});
  EXPECT_FALSE(run.error);
  Script bad{{Side::server, "220 hi\r\n"}, {Side::client, response}};
  run = run_framing(kSmtp, bad, {});
  ASSERT_TRUE(run.error);
  EXPECT_EQ(run.error->code, "line_too_long");
}

// Which limit applies must not depend on where TCP cut the line: "AU" + "TH PLAIN ..." is AUTH.
TEST(SmtpFraming, AuthLimitAppliesWhateverTheCut) {
  std::string auth = "AUTH PLAIN " + std::string(3000, 'A') + "\r\n";
  for (size_t at = 1; at < 8; ++at) {
    SCOPED_TRACE("cut at " + std::to_string(at));
    auto run = run_framing(kSmtp, {{Side::client, auth}}, {}, 0, at);
    EXPECT_FALSE(run.error) << run.error->message;
  }
}

TEST(SmtpFraming, LineLimitsAreExactAndHoldNoMore) {
  std::string at_limit = "NOOP " + std::string(505, 'x') + "\r\n";  // 512
  ASSERT_EQ(at_limit.size(), 512u);
  EXPECT_FALSE(run_framing(kSmtp, {{Side::client, at_limit}}, {}).error);
  std::string over = "NOOP " + std::string(506, 'x') + "\r\n";
  auto run = run_framing(kSmtp, {{Side::client, over}}, {});
  ASSERT_TRUE(run.error);
  EXPECT_EQ(run.error->code, "line_too_long");
  EXPECT_LE(run.pending[0].size(), 512u);
  // The same arriving byte by byte: refused when the 513th byte arrives, not later.
  run = run_framing(kSmtp, {{Side::client, over}}, {}, SIZE_MAX, 0, true);
  ASSERT_TRUE(run.error);
  EXPECT_LE(run.pending[0].size(), 512u);
  // Server lines: 2048 by default, configurable.
  LineLimits small;
  small.server_line = 16;
  run = run_framing(kSmtp, {{Side::server, "220 0123456789ab\r\n"}}, small);
  ASSERT_TRUE(run.error);
  EXPECT_NE(run.error->message.find("16"), std::string::npos) << run.error->message;
}

TEST(SmtpFraming, BareLineFeedsEndLines) {
  Script s{{Side::server, "220 hi\n"}, {Side::client, "EHLO x\nQUIT\r\n"}};
  expect_frames(kSmtp, s, {sl("220 hi\n"), cl("EHLO x\n"), cl("QUIT\r\n")});
}

TEST(SmtpFraming, TakePendingReturnsHeldBytes) {
  auto framing = make_framing(kSmtp, {});
  std::vector<Frame> frames;
  EXPECT_FALSE(framing->feed(Side::client, "EHLO par", frames));
  EXPECT_TRUE(frames.empty());
  EXPECT_EQ(framing->take_pending(Side::client), "EHLO par");
  EXPECT_EQ(framing->take_pending(Side::client), "");
  // A held "." of a possible body terminator is returned too.
  EXPECT_FALSE(framing->feed(Side::client, "DATA\r\n", frames));
  EXPECT_FALSE(framing->feed(Side::server, "354 go\r\n", frames));
  frames.clear();
  EXPECT_FALSE(framing->feed(Side::client, "a\r\n.", frames));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].bytes, "a\r\n");
  EXPECT_EQ(framing->take_pending(Side::client), ".");
}

TEST(SmtpFraming, ConservesBytes) {
  expect_conservation(kSmtp, {{Side::server, "220 hi\r\n"},
                              {Side::client, "DATA\r\n"},
                              {Side::server, "354 go\r\n"},
                              {Side::client, "..\r\n.\r\nBDAT 3\r\nab"}});
}

}  // namespace
}  // namespace mailtap::session::test
