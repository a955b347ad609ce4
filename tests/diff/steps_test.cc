#include "mailtap/diff/steps.h"

#include <gtest/gtest.h>

#include "diff/diff_test_util.h"

namespace mailtap::diff {
namespace {

using testing::SessionBuilder;

std::vector<std::string> verbs(const SessionSteps& s) {
  std::vector<std::string> out;
  for (const auto& st : s.steps) out.push_back(st.verb);
  return out;
}

std::string value(const Step& s, const std::string& facet) {
  const Facet* f = s.facet(facet);
  return f ? f->value : "(absent)";
}

std::set<std::string> items(const Step& s, const std::string& facet) {
  const Facet* f = s.facet(facet);
  return f ? f->items : std::set<std::string>{};
}

TEST(DiffStepsSmtp, PipelinedRepliesGoToTheirCommandsInOrder) {
  SessionBuilder b("smtp");
  b.s("220 mx ESMTP")
      .c("EHLO client")
      .s("250-mx")
      .s("250-PIPELINING")
      .s("250-SIZE 1000")
      .s("250 AUTH PLAIN LOGIN")
      .c("MAIL FROM:<a@x>")
      .c("RCPT TO:<b@x>")
      .c("DATA")
      .s("250 2.1.0 Ok")
      .s("550 5.1.1 <b@x>: no such user")
      .s("554 5.5.1 Error: no valid recipients")
      .c("QUIT")
      .s("221 2.0.0 Bye");
  auto s = b.steps();
  ASSERT_EQ(verbs(s),
            (std::vector<std::string>{"greeting", "EHLO", "MAIL", "RCPT", "DATA", "QUIT"}));
  EXPECT_EQ(value(s.steps[2], "reply"), "250");
  EXPECT_EQ(value(s.steps[3], "reply"), "550");
  EXPECT_EQ(value(s.steps[3], "enhanced code"), "5.1.1");
  EXPECT_EQ(value(s.steps[3], "text"), "<b@x>: no such user");
  EXPECT_EQ(value(s.steps[4], "reply"), "554");
  EXPECT_EQ(items(s.steps[1], "extensions"), (std::set<std::string>{"PIPELINING", "SIZE", "AUTH"}));
  EXPECT_EQ(items(s.steps[1], "auth mechanisms"), (std::set<std::string>{"PLAIN", "LOGIN"}));
  EXPECT_EQ(value(s.steps[1], "extension SIZE"), "1000");
  EXPECT_EQ(value(s.steps[1], "text"), "mx");
}

TEST(DiffStepsSmtp, AuthContinuationsAndDataBodyStayInTheirStep) {
  SessionBuilder b("smtp");
  b.s("220 mx")
      .c("AUTH CRAM-MD5")
      .s("334 PDEyMzQ1Ni4xNzk1QG14Pg==")
      .c("YWxpY2UgNjQ3ZjBjZjk=")
      .s("235 2.7.0 Authentication successful")
      .c("DATA")
      .s("354 go ahead")
      .c("Subject: hi\r\nDate: Sun, 22 Nov 2026 13:51:30 +0000\r\n\r\nbody\r\n", "body")
      .c(".")
      .s("250 2.0.0 Ok: queued as ABC123DEF");
  auto s = b.steps();
  ASSERT_EQ(verbs(s), (std::vector<std::string>{"greeting", "AUTH", "DATA"}));
  const Step& auth = s.steps[1];
  EXPECT_EQ(value(auth, "sasl mechanism"), "CRAM-MD5");
  EXPECT_EQ(value(auth, "sasl outcome"), "success");
  ASSERT_NE(auth.facet("continuations"), nullptr);
  // the CRAM-MD5 challenge is a nonce: never compared
  EXPECT_EQ(auth.facet("continuations")->lines, (std::vector<std::string>{"334 <challenge>"}));
  EXPECT_EQ(auth.client_lines.size(), 2u);
  const Step& data = s.steps[2];
  EXPECT_EQ(value(data, "reply"), "250");
  EXPECT_EQ(value(data, "text"), "Ok: queued as <queue-id>");
  ASSERT_NE(data.facet("message"), nullptr);
  EXPECT_EQ(data.facet("message")->lines,
            (std::vector<std::string>{"Subject: hi", "Date: <date>", "", "body"}));
}

TEST(DiffStepsSmtp, TlsAndWarningsBecomeStepsOfTheirOwn) {
  nlohmann::json cert = {
      {"subject", "CN=mx"}, {"issuer", "CN=ca"}, {"names", {"mx", "127.0.0.1"}}, {"sha256", "ab"}};
  SessionBuilder b("smtp");
  b.s("220 mx").c("STARTTLS").tls("server", "TLSv1.3", cert).s("220 2.0.0 Ready").tls("client");
  b.warning("pipelined_after_starttls", "dropped 6 bytes");
  auto s = b.steps();
  ASSERT_EQ(verbs(s), (std::vector<std::string>{"greeting", "STARTTLS", "TLS server", "TLS client",
                                                "warning"}));
  EXPECT_EQ(value(s.steps[1], "reply"), "220");  // the reply after the handshake event
  EXPECT_EQ(value(s.steps[2], "version"), "TLSv1.3");
  EXPECT_EQ(items(s.steps[2], "certificate names"), (std::set<std::string>{"mx", "127.0.0.1"}));
  EXPECT_EQ(s.steps[4].key, "warning pipelined_after_starttls");
}

TEST(DiffStepsImap, TaggedCompletionsUntaggedDataAndLiterals) {
  SessionBuilder b("imap");
  b.s("* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] ready")
      .c("a1 SELECT INBOX")
      .s("* FLAGS (\\Seen \\Answered)")
      .s("* 2 EXISTS")
      .s("* OK [UIDVALIDITY 123456] UIDs valid")
      .s("a1 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).")
      .c("a2 APPEND INBOX {11}")
      .s("+ Ready for literal data")
      .c("hello world", "literal")
      .c("")
      .s("a2 OK [APPENDUID 123456 3] Append completed")
      .c("a3 UID FETCH 3 (FLAGS BODY[])")
      .s("* 2 FETCH (UID 3 FLAGS (\\Seen \\Recent) BODY[] {5}")
      .s("hello", "literal")
      .s(")")
      .s("a3 OK done");
  auto s = b.steps();
  ASSERT_EQ(verbs(s), (std::vector<std::string>{"greeting", "SELECT", "APPEND", "UID FETCH"}));
  const Step& greeting = s.steps[0];
  EXPECT_EQ(value(greeting, "status"), "OK");
  EXPECT_EQ(items(greeting, "capabilities"), (std::set<std::string>{"IMAP4REV1", "STARTTLS"}));
  EXPECT_EQ(items(greeting, "auth mechanisms"), (std::set<std::string>{"PLAIN"}));
  const Step& select = s.steps[1];
  EXPECT_EQ(select.key, "SELECT INBOX");  // no tag
  EXPECT_EQ(value(select, "status"), "OK");
  EXPECT_EQ(value(select, "response code"), "READ-WRITE");
  EXPECT_EQ(value(select, "text"), "Select completed (<timing>).");
  EXPECT_EQ(items(select, "flags"), (std::set<std::string>{"\\Answered", "\\Seen"}));
  EXPECT_EQ(items(select, "untagged OK [UIDVALIDITY]"),
            (std::set<std::string>{"[UIDVALIDITY <uidvalidity>] UIDs valid"}));
  EXPECT_EQ(items(select, "untagged EXISTS"), (std::set<std::string>{"2"}));
  const Step& append = s.steps[2];
  EXPECT_EQ(append.key, "APPEND INBOX {n}");
  EXPECT_EQ(value(append, "response code"), "APPENDUID <uidvalidity> 3");
  ASSERT_NE(append.facet("client content"), nullptr);
  EXPECT_EQ(append.facet("client content")->lines, (std::vector<std::string>{"hello world"}));
  const Step& fetch = s.steps[3];
  EXPECT_EQ(items(fetch, "FETCH"),
            (std::set<std::string>{"2 UID 3", "2 FLAGS (\\Recent \\Seen)", "2 BODY[] {n}"}));
  ASSERT_NE(fetch.facet("server content"), nullptr);
  EXPECT_EQ(fetch.facet("server content")->lines, (std::vector<std::string>{"hello"}));
}

TEST(DiffStepsImap, AuthenticateContinuationsAndOutcome) {
  SessionBuilder b("imap");
  b.s("* OK ready")
      .c("A1 AUTHENTICATE CRAM-MD5")
      .s("+ PDc2NTg4NjY5Mjc1ODcyNTEuMTc5NTM1MjAzM0B2bT4=")
      .c("<redacted len=52 h=81c3ec18>")
      .s("A1 NO [AUTHENTICATIONFAILED] Authentication failed.")
      .c("A2 LOGOUT")
      .s("* BYE bye")
      .s("A2 OK done");
  auto s = b.steps();
  ASSERT_EQ(verbs(s), (std::vector<std::string>{"greeting", "AUTHENTICATE", "LOGOUT"}));
  EXPECT_EQ(value(s.steps[1], "sasl outcome"), "failure");
  EXPECT_EQ(value(s.steps[1], "response code"), "AUTHENTICATIONFAILED");
  EXPECT_EQ(s.steps[1].facet("continuations")->lines, (std::vector<std::string>{"+ <challenge>"}));
  EXPECT_EQ(items(s.steps[2], "untagged BYE"), (std::set<std::string>{"bye"}));
}

TEST(DiffStepsImap, UntaggedDataBetweenCommandsIsUnsolicited) {
  SessionBuilder b("imap");
  b.s("* OK ready").c("a IDLE").s("+ idling").s("* 3 EXISTS").c("DONE").s("a OK idle done");
  b.s("* 4 EXISTS");
  auto s = b.steps();
  ASSERT_EQ(verbs(s), (std::vector<std::string>{"greeting", "IDLE", "unsolicited"}));
  EXPECT_EQ(s.steps[1].client_lines.size(), 2u);  // IDLE and DONE
  EXPECT_EQ(items(s.steps[2], "untagged EXISTS"), (std::set<std::string>{"4"}));
}

TEST(DiffStepsPop3, MultiLineResponsesAndCapabilities) {
  SessionBuilder b("pop3");
  b.s("+OK server ready <1896.697170952@dbc.mtview.ca.us>")
      .c("CAPA")
      .s("+OK")
      .s("TOP")
      .s("SASL PLAIN CRAM-MD5")
      .s("IMPLEMENTATION Shlemazle-Plotz-v302")
      .s(".")
      .c("UIDL")
      .s("+OK")
      .s("1 whqtswO00WBw418f9t5JxYwZ")
      .s(".")
      .c("RETR 1")
      .s("+OK 12 octets")
      .s("Subject: x\r\n\r\nhi\r\n", "body")
      .s(".")
      .c("DELE 9")
      .s("-ERR [SYS/PERM] no such message");
  auto s = b.steps();
  ASSERT_EQ(verbs(s), (std::vector<std::string>{"greeting", "CAPA", "UIDL", "RETR", "DELE"}));
  EXPECT_EQ(value(s.steps[0], "text"), "server ready <apop-timestamp>");
  EXPECT_EQ(items(s.steps[1], "capabilities"),
            (std::set<std::string>{"TOP", "SASL", "IMPLEMENTATION"}));
  EXPECT_EQ(items(s.steps[1], "auth mechanisms"), (std::set<std::string>{"PLAIN", "CRAM-MD5"}));
  EXPECT_EQ(value(s.steps[1], "capability IMPLEMENTATION"), "Shlemazle-Plotz-v302");
  EXPECT_EQ(items(s.steps[2], "unique ids"), (std::set<std::string>{"1 <uidl>"}));
  EXPECT_EQ(s.steps[3].facet("content")->lines, (std::vector<std::string>{"Subject: x", "", "hi"}));
  EXPECT_EQ(value(s.steps[4], "status"), "-ERR");
  EXPECT_EQ(value(s.steps[4], "response code"), "SYS/PERM");
}

TEST(DiffStepsReal, PostfixSwaksCaptureReadsAsItsCommands) {
  auto s = testing::fixture_steps("postfix-swaks-1");
  EXPECT_EQ(verbs(s),
            (std::vector<std::string>{"greeting", "EHLO", "STARTTLS", "TLS server", "TLS client",
                                      "EHLO", "AUTH", "MAIL", "RCPT", "DATA", "QUIT"}));
  EXPECT_EQ(value(s.steps[6], "sasl outcome"), "success");
  ASSERT_TRUE(s.steps[1].latency_us.has_value());
}

}  // namespace
}  // namespace mailtap::diff

namespace mailtap::diff {
namespace {

TEST(DiffSteps, DisplayLinesAreCappedButCountedAndFacetsKeepEverything) {
  testing::SessionBuilder b("smtp");
  b.s("220 mx").c("EHLO c").s("250-mx");
  for (int i = 0; i < 100; ++i) b.s("250-X-EXT-" + std::to_string(i));
  b.s("250 SIZE 10").c("QUIT").s("221 Bye");
  SessionSteps s = b.steps();
  ASSERT_EQ(s.steps.size(), 3u);
  const Step& ehlo = s.steps[1];
  EXPECT_EQ(ehlo.server_lines.size(), Step::kMaxDisplayLines);
  EXPECT_EQ(ehlo.server_lines_total, 102u);
  EXPECT_EQ(ehlo.server_lines.front(), "250-mx");
  ASSERT_NE(ehlo.facet("extensions"), nullptr);
  EXPECT_EQ(ehlo.facet("extensions")->items.size(), 101u);  // every keyword is compared
  EXPECT_EQ(s.steps[2].server_lines_total, 1u);
}

}  // namespace
}  // namespace mailtap::diff
