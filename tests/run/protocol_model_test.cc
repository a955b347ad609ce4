// The runner's protocol models: what each client line causes, where the client must wait, and
// what the server's answers change (DATA content after 354, SASL lines after 334/+, literals).
#include "mailtap/run/protocol_model.h"

#include <gtest/gtest.h>

namespace mailtap::run {
namespace {

using transcript::FrameKind;

Response response(const Await& await, std::initializer_list<const char*> lines) {
  Response r;
  r.await = await;
  r.complete = true;
  for (const char* l : lines) r.frames.push_back({FrameKind::line, std::string(l) + "\r\n"});
  return r;
}

TEST(RunProtocolModel, SmtpDataContentFollowsOnly354) {
  auto m = make_protocol_model(Protocol::smtp);
  SendPlan data = m->plan("DATA\r\n");
  ASSERT_EQ(data.awaits.size(), 1u);
  EXPECT_TRUE(data.sync);
  m->on_response(response(data.awaits[0], {"354 End data with <CR><LF>.<CR><LF>"}));
  EXPECT_TRUE(m->in_message_body());
  SendPlan body = m->plan("Subject: x\r\n\r\nhello\r\n");
  EXPECT_TRUE(body.awaits.empty());
  ASSERT_EQ(body.frames.size(), 1u);
  EXPECT_EQ(body.frames[0].kind, FrameKind::body);
  SendPlan end = m->plan(".\r\n");
  ASSERT_EQ(end.awaits.size(), 1u);
  EXPECT_EQ(end.frames[0].kind, FrameKind::line);
  EXPECT_FALSE(m->in_message_body());

  auto refused = make_protocol_model(Protocol::smtp);
  SendPlan d2 = refused->plan("DATA\r\n");
  refused->on_response(response(d2.awaits[0], {"554 5.5.1 Error: no valid recipients"}));
  EXPECT_FALSE(refused->in_message_body());
}

TEST(RunProtocolModel, SmtpPipelinedCommandsEachAwaitAReply) {
  auto m = make_protocol_model(Protocol::smtp);
  SendPlan p = m->plan("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n");
  EXPECT_EQ(p.awaits.size(), 2u);
  EXPECT_FALSE(p.sync);
  EXPECT_EQ(p.awaits[1].answers, "RCPT");
}

TEST(RunProtocolModel, SmtpAuthContinuesWhileTheServerSays334) {
  auto m = make_protocol_model(Protocol::smtp);
  SendPlan auth = m->plan("AUTH LOGIN\r\n");
  EXPECT_EQ(auth.auth_mechanism, "LOGIN");
  EXPECT_TRUE(auth.sync);
  Response challenge = response(auth.awaits[0], {"334 VXNlcm5hbWU6"});
  m->on_response(challenge);
  EXPECT_TRUE(m->in_sasl());
  EXPECT_TRUE(m->continuation(challenge));
  EXPECT_EQ(m->challenge_text(challenge), "VXNlcm5hbWU6");
  SendPlan user = m->plan("YWxpY2U=\r\n");
  EXPECT_EQ(user.awaits[0].answers, "SASL");
  m->on_response(response(user.awaits[0], {"235 2.7.0 Authentication successful"}));
  EXPECT_FALSE(m->in_sasl());
  EXPECT_EQ(m->auth_command("PLAIN", "", std::string("")), "AUTH PLAIN =\r\n");
}

TEST(RunProtocolModel, SmtpBdatChunkIsCountedNotRead) {
  auto m = make_protocol_model(Protocol::smtp);
  SendPlan p = m->plan("BDAT 8 LAST\r\nQUIT\r\n\r\n");  // the chunk happens to look like a command
  ASSERT_EQ(p.awaits.size(), 1u);
  ASSERT_EQ(p.frames.size(), 2u);
  EXPECT_EQ(p.frames[1].kind, FrameKind::chunk);
  EXPECT_EQ(p.frames[1].bytes, "QUIT\r\n\r\n");
}

TEST(RunProtocolModel, SmtpStarttlsIsASyncPoint) {
  auto m = make_protocol_model(Protocol::smtp);
  SendPlan p = m->plan("STARTTLS\r\n");
  EXPECT_TRUE(p.starttls);
  EXPECT_TRUE(p.sync);
  EXPECT_TRUE(m->positive(response(p.awaits[0], {"220 2.0.0 Ready to start TLS"})));
  EXPECT_FALSE(m->positive(response(p.awaits[0], {"454 4.7.0 TLS not available"})));
}

TEST(RunProtocolModel, ImapTaggedCommandsAndSynchronizingLiterals) {
  auto m = make_protocol_model(Protocol::imap);
  SendPlan login = m->plan("a1 LOGIN {5}\r\n");
  ASSERT_EQ(login.awaits.size(), 1u);
  EXPECT_EQ(login.awaits[0].tag, "a1");
  EXPECT_EQ(login.awaits[0].answers, "LITERAL");
  EXPECT_TRUE(login.sync);
  EXPECT_TRUE(login.sync_literal);
  m->on_response(response(login.awaits[0], {"+ Ready for literal data"}));
  EXPECT_TRUE(m->in_literal());
  // "alice" is literal content, " {12}" the rest of the command with a second literal.
  SendPlan rest = m->plan("alice {12}\r\n");
  ASSERT_EQ(rest.frames.size(), 2u);
  EXPECT_EQ(rest.frames[0].kind, FrameKind::literal);
  EXPECT_EQ(rest.frames[0].bytes, "alice");
  EXPECT_EQ(rest.frames[1].bytes, " {12}\r\n");
  ASSERT_EQ(rest.awaits.size(), 1u);
  m->on_response(response(rest.awaits[0], {"+ Ready"}));
  SendPlan last = m->plan("alice-secret\r\n");
  ASSERT_EQ(last.awaits.size(), 1u);
  EXPECT_EQ(last.awaits[0].answers, "LOGIN");
  EXPECT_FALSE(m->in_literal());
}

TEST(RunProtocolModel, ImapNonSynchronizingLiteralDoesNotWait) {
  auto m = make_protocol_model(Protocol::imap);
  SendPlan p = m->plan("a1 LOGIN {5+}\r\nalice {12+}\r\nalice-secret\r\n");
  ASSERT_EQ(p.awaits.size(), 1u);
  EXPECT_FALSE(p.sync);
  EXPECT_EQ(p.awaits[0].tag, "a1");
}

TEST(RunProtocolModel, ImapLiteralContentIsNeverACommand) {
  auto m = make_protocol_model(Protocol::imap);
  SendPlan p = m->plan("a1 APPEND INBOX {13+}\r\nb2 STARTTLS\r\n\r\n");
  EXPECT_FALSE(p.starttls);
  ASSERT_EQ(p.awaits.size(), 1u);
  EXPECT_EQ(p.awaits[0].tag, "a1");
}

TEST(RunProtocolModel, ImapAuthenticateContinuations) {
  auto m = make_protocol_model(Protocol::imap);
  SendPlan p = m->plan("a4 AUTHENTICATE CRAM-MD5\r\n");
  EXPECT_EQ(p.auth_mechanism, "CRAM-MD5");
  Response challenge =
      response(p.awaits[0], {"+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"});
  m->on_response(challenge);
  EXPECT_TRUE(m->in_sasl());
  EXPECT_EQ(m->challenge_text(challenge),
            "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+");
  SendPlan answer = m->plan("dGltIGI5MTNhNjAy\r\n");
  EXPECT_EQ(answer.awaits[0].tag, "a4");
  EXPECT_EQ(answer.awaits[0].answers, "SASL");
  Response done = response(answer.awaits[0], {"* CAPABILITY IMAP4rev1", "a4 OK Logged in"});
  m->on_response(done);
  EXPECT_FALSE(m->in_sasl());
  EXPECT_TRUE(m->positive(done));
  EXPECT_EQ(m->auth_command("PLAIN", "x1", std::nullopt), "x1 AUTHENTICATE PLAIN\r\n");
}

TEST(RunProtocolModel, ImapGreetingAndNegativeCompletion) {
  auto m = make_protocol_model(Protocol::imap);
  EXPECT_TRUE(m->positive(response(m->greeting(), {"* OK [CAPABILITY IMAP4rev1] ready"})));
  EXPECT_FALSE(m->positive(response(m->greeting(), {"* BYE too busy"})));
  SendPlan p = m->plan("a1 LOGIN u p\r\n");
  EXPECT_FALSE(m->positive(response(p.awaits[0], {"a1 NO [AUTHENTICATIONFAILED] nope"})));
}

TEST(RunProtocolModel, Pop3MultiLineCommands) {
  auto m = make_protocol_model(Protocol::pop3);
  auto kind = [&](const char* line) { return m->plan(line).awaits.at(0).kind; };
  EXPECT_EQ(kind("RETR 1\r\n"), Await::Kind::pop3_body);
  EXPECT_EQ(kind("TOP 1 0\r\n"), Await::Kind::pop3_body);
  EXPECT_EQ(kind("LIST\r\n"), Await::Kind::pop3_list);
  EXPECT_EQ(kind("LIST 1\r\n"), Await::Kind::pop3_line);
  EXPECT_EQ(kind("UIDL\r\n"), Await::Kind::pop3_list);
  EXPECT_EQ(kind("CAPA\r\n"), Await::Kind::pop3_list);
  EXPECT_EQ(kind("USER alice\r\n"), Await::Kind::pop3_line);
  EXPECT_EQ(kind("AUTH\r\n"), Await::Kind::pop3_list);
}

TEST(RunProtocolModel, Pop3AuthAndStls) {
  auto m = make_protocol_model(Protocol::pop3);
  SendPlan stls = m->plan("STLS\r\n");
  EXPECT_TRUE(stls.starttls);
  SendPlan auth = m->plan("AUTH CRAM-MD5\r\n");
  EXPECT_EQ(auth.auth_mechanism, "CRAM-MD5");
  Response challenge = response(auth.awaits[0], {"+ PDEyMz4="});
  m->on_response(challenge);
  EXPECT_TRUE(m->in_sasl());
  EXPECT_EQ(m->challenge_text(challenge), "PDEyMz4=");
  SendPlan answer = m->plan("dGlt\r\n");
  EXPECT_EQ(answer.awaits[0].answers, "SASL");
  m->on_response(response(answer.awaits[0], {"+OK Logged in."}));
  EXPECT_FALSE(m->in_sasl());
}

}  // namespace
}  // namespace mailtap::run
