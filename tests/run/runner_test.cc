// The runner end to end against scripted servers on loopback: passing and failing sessions,
// a server that closes or goes quiet, SASL recomputed from a fresh challenge, IMAP synchronizing
// literals, SMTP dot-stuffing, a refused DATA, and the run's own transcript.
#include "mailtap/run/runner.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "mailtap/decode/sasl.h"
#include "mailtap/run/sasl_client.h"
#include "mailtap/run/script_parser.h"
#include "mailtap/transcript/transcript_reader.h"
#include "mailtap/transcript/transcript_writer.h"
#include "run/fake_server.h"

namespace mailtap::run {
namespace {

using testing::FakeConnection;
using testing::FakeServer;

RunOptions options_for(const FakeServer& server, Protocol protocol) {
  RunOptions o;
  o.host = "127.0.0.1";
  o.port = server.port();
  o.protocol = protocol;
  o.tls = TlsMode::plain;
  o.timeout_seconds = 3;
  o.variables = {{"user", "alice"}, {"pass", "alice-secret"}};
  return o;
}

RunResult play(const std::string& script_text, FakeServer& server, RunOptions options) {
  Script script = parse_script(script_text, "t.mtscript");
  RunResult r = run_script(script, options);
  server.join();
  return r;
}

const StepResult* first_with(const RunResult& r, StepResult::Status status) {
  for (const auto& s : r.steps)
    if (s.status == status) return &s;
  return nullptr;
}

// A small SMTP server: greeting, EHLO, AUTH PLAIN with initial response, one message, QUIT.
void smtp_server(FakeConnection& c, const std::string& rcpt_reply = "250 2.1.5 Ok\r\n") {
  c.write("220 fake.test ESMTP\r\n");
  if (c.read_line().rfind("EHLO", 0) != 0) return;
  c.write("250-fake.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n");
  std::string auth = c.read_line();
  c.write(auth == "AUTH PLAIN AGFsaWNlAGFsaWNlLXNlY3JldA==\r\n"
              ? "235 2.7.0 Authentication successful\r\n"
              : "535 5.7.8 bad\r\n");
  c.read_line();
  c.write("250 2.1.0 Ok\r\n");
  c.read_line();
  c.write(rcpt_reply);
  if (c.read_line() != "DATA\r\n") return;
  c.write("354 End data with <CR><LF>.<CR><LF>\r\n");
  while (true) {
    std::string line = c.read_line();
    if (line.empty() || line == ".\r\n") break;
  }
  c.write("250 2.0.0 Ok: queued as 941731C4\r\n");
  c.read_line();
  c.write("221 2.0.0 Bye\r\n");
}

const char* kSmtpScript =
    "S: 220 *\n"
    "C: EHLO localhost\n"
    "S: 250-fake.test\n"
    "S: 250-AUTH ...\n"
    "S: 250 *\n"
    "C: AUTH PLAIN ${auth_plain}\n"
    "S: 235 2.7.0 Authentication successful\n"
    "C: MAIL FROM:<alice@fake.test>\n"
    "S: 250 2.1.0 Ok\n"
    "C: RCPT TO:<bob@fake.test>\n"
    "S: 250 2.1.5 Ok\n"
    "C: DATA\n"
    "S: 354 *\n"
    "C: Subject: hi\n"
    "C:\n"
    "C: .leading dot\n"
    "C: .\n"
    "S: 250 2.0.0 Ok: queued as *\n"
    "C: QUIT\n"
    "S: 221 2.0.0 Bye\n";

TEST(RunRunner, SmtpSessionPasses) {
  FakeServer server([](FakeConnection& c) { smtp_server(c); });
  RunResult r = play(kSmtpScript, server, options_for(server, Protocol::smtp));
  EXPECT_EQ(r.outcome, RunResult::Outcome::passed) << r.error;
  EXPECT_EQ(r.exit_status(), 0);
  EXPECT_EQ(r.count(StepResult::Status::fail), 0u);
  EXPECT_EQ(r.count(StepResult::Status::pass), 8u);
  // DATA content dot-stuffed on the wire, the terminator alone.
  EXPECT_NE(server.received().find("\r\n..leading dot\r\n.\r\n"), std::string::npos)
      << server.received();
  // Secrets are shown as their template, not their value.
  bool shown_as_template = false;
  for (const auto& s : r.steps)
    for (const auto& sent : s.sent) {
      EXPECT_EQ(sent.find("AGFsaWNl"), std::string::npos);
      shown_as_template |= sent == "AUTH PLAIN ${auth_plain}";
    }
  EXPECT_TRUE(shown_as_template);
}

TEST(RunRunner, DifferentAnswerFailsWithADifference) {
  FakeServer server([](FakeConnection& c) {
    smtp_server(c, "550 5.1.1 <bob@fake.test>: Recipient address rejected\r\n");
  });
  RunResult r = play(kSmtpScript, server, options_for(server, Protocol::smtp));
  EXPECT_EQ(r.outcome, RunResult::Outcome::failed);
  EXPECT_EQ(r.exit_status(), 1);
  const StepResult* fail = first_with(r, StepResult::Status::fail);
  ASSERT_NE(fail, nullptr);
  EXPECT_EQ(fail->where.str(), "t.mtscript:10");
  EXPECT_EQ(fail->sent, std::vector<std::string>{"RCPT TO:<bob@fake.test>"});
  EXPECT_NE(fail->difference.find("- 250 2.1.5 Ok"), std::string::npos) << fail->difference;
  EXPECT_NE(fail->difference.find("+ 550 5.1.1"), std::string::npos) << fail->difference;
}

TEST(RunRunner, ServerClosingMidSessionIsReportedNotACrash) {
  FakeServer server([](FakeConnection& c) {
    c.write("220 fake.test ESMTP\r\n");
    c.read_line();
    c.close();
  });
  RunResult r = play(kSmtpScript, server, options_for(server, Protocol::smtp));
  EXPECT_EQ(r.outcome, RunResult::Outcome::error);
  EXPECT_EQ(r.exit_status(), 2);
  EXPECT_NE(r.error.find("closed the connection"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("t.mtscript:3"), std::string::npos) << r.error;
}

TEST(RunRunner, SilentServerTimesOut) {
  FakeServer server([](FakeConnection& c) {
    c.write("220 fake.test ESMTP\r\n");
    c.read_line();
    c.data_arrives_within(2);  // never answers EHLO
  });
  RunOptions o = options_for(server, Protocol::smtp);
  o.timeout_seconds = 0.3;
  auto started = std::chrono::steady_clock::now();
  RunResult r = play(kSmtpScript, server, o);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  EXPECT_EQ(r.exit_status(), 2);
  EXPECT_NE(r.error.find("in time"), std::string::npos) << r.error;
}

TEST(RunRunner, NothingListeningCannotRun) {
  // A port that was bound and closed again: nothing listens there.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  RunOptions o;
  o.host = "127.0.0.1";
  o.port = ntohs(addr.sin_port);
  o.connect_timeout_seconds = 2;
  RunResult r = run_script(parse_script("S: 220 *\n", "t"), o);
  EXPECT_EQ(r.exit_status(), 2);
  EXPECT_NE(r.error.find("cannot connect"), std::string::npos) << r.error;
}

TEST(RunRunner, UnsetVariableNamesTheScriptLine) {
  FakeServer server([](FakeConnection& c) {
    c.write("220 fake.test ESMTP\r\n");
    c.data_arrives_within(1);
  });
  RunOptions o = options_for(server, Protocol::smtp);
  RunResult r = play("S: 220 *\nC: MAIL FROM:<${from}>\n", server, o);
  EXPECT_EQ(r.exit_status(), 2);
  EXPECT_NE(r.error.find("t.mtscript:2: variable ${from} is not set"), std::string::npos)
      << r.error;
}

TEST(RunRunner, CramMd5IsRecomputedFromTheServersChallenge) {
  const std::string challenge = "<1896.697170952@postoffice.reston.mci.net>";
  FakeServer server([&](FakeConnection& c) {
    c.write("220 fake.test ESMTP\r\n");
    if (c.read_line() != "AUTH CRAM-MD5\r\n") return;
    c.write("334 " + decode::base64_encode(challenge) + "\r\n");
    std::string answer = c.read_line();
    std::string want = decode::base64_encode("tim " + hmac_md5_hex("tanstaaftanstaaf", challenge));
    c.write(answer == want + "\r\n" ? "235 2.7.0 ok\r\n" : "535 5.7.8 wrong\r\n");
  });
  RunOptions o = options_for(server, Protocol::smtp);
  o.variables = {{"user", "tim"}, {"pass", "tanstaaftanstaaf"}};
  RunResult r = play("S: 220 *\nC: AUTH CRAM-MD5\nS: 334 *\nC: ${sasl}\nS: 235 *\n", server, o);
  EXPECT_EQ(r.outcome, RunResult::Outcome::passed) << r.error;
}

TEST(RunRunner, AuthDirectiveRunsTheWholeExchange) {
  FakeServer server([](FakeConnection& c) {
    c.write("220 fake.test ESMTP\r\n");
    if (c.read_line() != "AUTH LOGIN\r\n") return;
    c.write("334 VXNlcm5hbWU6\r\n");
    bool user = c.read_line() == "YWxpY2U=\r\n";
    c.write("334 UGFzc3dvcmQ6\r\n");
    bool pass = c.read_line() == decode::base64_encode("alice-secret") + "\r\n";
    c.write(user && pass ? "235 2.7.0 Authentication successful\r\n" : "535 5.7.8 no\r\n");
  });
  RunResult r = play("S: 220 *\n!auth LOGIN\nS: 235 2.7.0 Authentication successful\n", server,
                     options_for(server, Protocol::smtp));
  EXPECT_EQ(r.outcome, RunResult::Outcome::passed) << r.error;
}

TEST(RunRunner, ImapSynchronizingLiteralWaitsForTheContinuation) {
  FakeServer server([](FakeConnection& c) {
    c.write("* OK fake IMAP ready\r\n");
    if (c.read_line() != "a1 LOGIN {5}\r\n") return;
    // The literal must not come before the "+".
    if (c.data_arrives_within(0.3)) return;
    c.write("+ Ready for literal data\r\n");
    if (c.read_bytes(5) != "alice" || c.read_line() != " {12}\r\n") return;
    if (c.data_arrives_within(0.3)) return;
    c.write("+ Ready\r\n");
    if (c.read_bytes(12) != "alice-secret" || c.read_line() != "\r\n") return;
    c.write("a1 OK Logged in\r\n");
    if (c.read_line() != "a2 FETCH 1 BODY[]\r\n") return;
    c.write("* 1 FETCH (BODY[] {20}\r\nSubject: x\r\n\r\nbody\r\n)\r\na2 OK Fetch completed.\r\n");
  });
  RunResult r = play(
      "S: * OK *\n"
      "C: a1 LOGIN {5}\n"
      "S: + Ready for literal data\n"
      "C: ${user} {12}\n"
      "S: + Ready\n"
      "C: ${pass}\n"
      "S: a1 OK Logged in\n"
      "C: a2 FETCH 1 BODY[]\n"
      "S: * 1 FETCH (BODY[] {20}\n"
      "S: Subject: x\n"
      "S:\n"
      "S: body\n"
      "S: )\n"
      "S: a2 OK\n",
      server, options_for(server, Protocol::imap));
  EXPECT_EQ(r.outcome, RunResult::Outcome::passed) << r.error;
}

TEST(RunRunner, RefusedDataSkipsTheMessageAndCarriesOn) {
  FakeServer server([](FakeConnection& c) {
    c.write("220 fake.test ESMTP\r\n");
    c.read_line();
    c.write("554 5.5.1 Error: no valid recipients\r\n");
    std::string next = c.read_line();
    c.write(next == "QUIT\r\n" ? "221 2.0.0 Bye\r\n" : "500 got " + next);
  });
  RunResult r = play(
      "S: 220 *\nC: DATA\nC: Subject: never sent\nC: RCPT TO:<looks like a command>\nC: .\n"
      "C: QUIT\nS: 221 2.0.0 Bye\n",
      server, options_for(server, Protocol::smtp));
  EXPECT_EQ(r.outcome, RunResult::Outcome::passed) << r.error;
  EXPECT_EQ(server.received(), "DATA\r\nQUIT\r\n");
  bool skipped = false;
  for (const auto& s : r.steps)
    skipped |= s.note.find("not sent: DATA was refused") != std::string::npos;
  EXPECT_TRUE(skipped);
}

TEST(RunRunner, Pop3BodiesAndStatusOnlyExpectations) {
  FakeServer server([](FakeConnection& c) {
    c.write("+OK POP3 ready <1896.697170952@dbc.mtview.ca.us>\r\n");
    c.read_line();
    c.write("+OK maildrop has 1 message\r\n");
    c.read_line();
    c.write("+OK 120 octets\r\nSubject: hi\r\n\r\n..dot\r\n.\r\n");
    c.read_line();
    c.write("+OK bye\r\n");
  });
  RunResult r =
      play("S: +OK *\nC: APOP ${user} ${apop}\nS: +OK\nC: RETR 1\nS: +OK\nC: QUIT\nS: +OK bye\n",
           server, options_for(server, Protocol::pop3));
  EXPECT_EQ(r.outcome, RunResult::Outcome::passed) << r.error;
  EXPECT_NE(server.received().find(
                "APOP alice " + apop_digest("<1896.697170952@dbc.mtview.ca.us>", "alice-secret")),
            std::string::npos);
}

TEST(RunRunner, RecordsItsOwnTranscript) {
  auto dir =
      std::filesystem::temp_directory_path() / ("mailtap-run-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  FakeServer server([](FakeConnection& c) { smtp_server(c); });
  RunResult r;
  {
    transcript::WriterOptions wo;
    wo.directory = dir;
    transcript::TranscriptWriter writer(wo);
    RunOptions o = options_for(server, Protocol::smtp);
    o.writer = &writer;
    o.session_id = "run-test";
    r = play(kSmtpScript, server, o);
    writer.flush();
  }
  ASSERT_FALSE(r.transcript_path.empty());
  transcript::Transcript t = transcript::read_transcript(r.transcript_path);
  EXPECT_EQ(t.header.value("session", ""), "run-test");
  EXPECT_EQ(t.header.value("protocol", ""), "smtp");
  std::string client, server_side;
  for (const auto& e : t.events) {
    if (e.value("type", "") != "data") continue;
    std::string bytes = transcript::decode_bytes(e);
    if (e.value("from", "") == "client") client += bytes;
    if (e.value("from", "") == "server") server_side += bytes;
    // The AUTH PLAIN secret is redacted by the transcript writer's decoder.
    EXPECT_EQ(bytes.find("AGFsaWNlAGFsaWNlLXNlY3JldA=="), std::string::npos);
  }
  EXPECT_NE(client.find("EHLO localhost\r\n"), std::string::npos);
  EXPECT_NE(server_side.find("250 2.0.0 Ok: queued as 941731C4\r\n"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mailtap::run
