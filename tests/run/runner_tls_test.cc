// The runner's TLS: STARTTLS in the middle of a script, mailtap's own STARTTLS for
// --tls starttls, implicit TLS, certificate verification, and a server that pipelines bytes after
// its STARTTLS reply (response injection, CVE-2021-22947 class).
#include <gtest/gtest.h>

#include "mailtap/run/runner.h"
#include "mailtap/run/script_parser.h"
#include "run/fake_server.h"
#include "tls/tls_test_support.h"

namespace mailtap::run {
namespace {

using testing::FakeConnection;
using testing::FakeServer;

class RunRunnerTls : public ::testing::Test {
 protected:
  RunRunnerTls() : contexts(ca) { spec.upstream_host = "127.0.0.1"; }

  RunOptions options(const FakeServer& server, TlsMode mode) {
    RunOptions o;
    o.host = "127.0.0.1";
    o.port = server.port();
    o.protocol = Protocol::smtp;
    o.tls = mode;
    o.tls_context = contexts.client;
    o.timeout_seconds = 3;
    o.connect_timeout_seconds = 3;
    return o;
  }

  RunResult play(const std::string& text, FakeServer& server, const RunOptions& o) {
    RunResult r = run_script(parse_script(text, "t.mtscript"), o);
    server.join();
    return r;
  }

  static bool any_note(const RunResult& r, const std::string& needle) {
    for (const auto& s : r.steps)
      if (s.note.find(needle) != std::string::npos) return true;
    return false;
  }

  tls::testing::TestCa ca;
  tls::testing::ContextPair contexts;
  tls::LeafSpec spec;
};

TEST_F(RunRunnerTls, StarttlsInTheScriptUpgradesAndCarriesOn) {
  FakeServer server([&](FakeConnection& c) {
    c.write("220 fake.test ESMTP\r\n");
    c.read_line();
    c.write("250-fake.test\r\n250 STARTTLS\r\n");
    if (c.read_line() != "STARTTLS\r\n") return;
    c.write("220 2.0.0 Ready to start TLS\r\n");
    if (!c.start_tls(contexts.server.get(), spec)) return;
    if (c.read_line() != "EHLO again\r\n") return;
    c.write("250 fake.test over TLS\r\n");
  });
  RunResult r = play(
      "S: 220 *\nC: EHLO x\nS: 250-fake.test\nS: 250 STARTTLS\nC: STARTTLS\nS: 220 *\n"
      "C: EHLO again\nS: 250 fake.test over TLS\n",
      server, options(server, TlsMode::plain));
  EXPECT_EQ(r.outcome, RunResult::Outcome::passed) << r.error;
  EXPECT_TRUE(any_note(r, "TLS up: TLSv1.3")) << "no TLS note";
}

TEST_F(RunRunnerTls, StarttlsModeNegotiatesWhenTheScriptDoesNot) {
  FakeServer server([&](FakeConnection& c) {
    c.write("220 fake.test ESMTP\r\n");
    if (c.read_line() != "EHLO localhost\r\n") return;
    c.write("250-fake.test\r\n250 STARTTLS\r\n");
    if (c.read_line() != "STARTTLS\r\n") return;
    c.write("220 2.0.0 Ready\r\n");
    if (!c.start_tls(contexts.server.get(), spec)) return;
    if (c.read_line() != "EHLO script\r\n") return;
    c.write("250 hello over TLS\r\n");
  });
  RunResult r = play("S: 220 fake.test ESMTP\nC: EHLO script\nS: 250 hello over TLS\n", server,
                     options(server, TlsMode::starttls));
  EXPECT_EQ(r.outcome, RunResult::Outcome::passed) << r.error;
  EXPECT_TRUE(any_note(r, "mailtap negotiated STARTTLS"));
}

TEST_F(RunRunnerTls, ImplicitTlsFromTheFirstByte) {
  FakeServer server([&](FakeConnection& c) {
    if (!c.start_tls(contexts.server.get(), spec)) return;
    c.write("220 fake.test ESMTP over TLS\r\n");
    c.read_line();
    c.write("221 bye\r\n");
  });
  RunResult r =
      play("S: 220 *over TLS\nC: QUIT\nS: 221 bye\n", server, options(server, TlsMode::implicit));
  EXPECT_EQ(r.outcome, RunResult::Outcome::passed) << r.error;
  ASSERT_FALSE(r.steps.empty());
  EXPECT_NE(r.steps.front().note.find("TLS up"), std::string::npos);
}

TEST_F(RunRunnerTls, UntrustedCertificateCannotRun) {
  tls::testing::TestCa other;
  tls::testing::ContextPair wrong(other, ca);  // server certificates from a CA we do not trust
  FakeServer server([&](FakeConnection& c) { c.start_tls(wrong.server.get(), spec); });
  RunResult r = play("S: 220 *\n", server, options(server, TlsMode::implicit));
  EXPECT_EQ(r.exit_status(), 2);
  EXPECT_NE(r.error.find("TLS handshake failed"), std::string::npos) << r.error;
}

TEST_F(RunRunnerTls, BytesAfterTheStarttlsReplyAreDroppedAndReported) {
  FakeServer server([&](FakeConnection& c) {
    c.write("220 fake.test ESMTP\r\n");
    if (c.read_line() != "STARTTLS\r\n") return;
    // A reply and a forged line in one segment, before TLS.
    c.write("220 2.0.0 Ready\r\n250 AUTH PLAIN forged\r\n");
    if (!c.start_tls(contexts.server.get(), spec)) return;
    if (c.read_line() != "EHLO x\r\n") return;
    c.write("250 real reply\r\n");
  });
  RunResult r = play("S: 220 *\nC: STARTTLS\nS: 220 *\nC: EHLO x\nS: 250 real reply\n", server,
                     options(server, TlsMode::plain));
  // The forged line never counts as the EHLO reply; the run fails on the injection itself.
  EXPECT_EQ(r.outcome, RunResult::Outcome::failed) << r.error;
  bool reported = false, ehlo_ok = false;
  for (const auto& s : r.steps) {
    if (s.status == StepResult::Status::fail &&
        s.note.find("after its STARTTLS reply, before TLS") != std::string::npos) {
      reported = true;
      ASSERT_EQ(s.received.size(), 1u);
      EXPECT_EQ(s.received[0], "250 AUTH PLAIN forged");
    }
    if (s.status == StepResult::Status::pass && !s.received.empty() &&
        s.received[0] == "250 real reply")
      ehlo_ok = true;
  }
  EXPECT_TRUE(reported);
  EXPECT_TRUE(ehlo_ok);
}

TEST_F(RunRunnerTls, RefusedStarttlsStopsTheRun) {
  FakeServer server([&](FakeConnection& c) {
    c.write("220 fake.test ESMTP\r\n");
    c.read_line();
    c.write("454 4.7.0 TLS not available\r\n");
    c.data_arrives_within(1);
  });
  RunResult r = play("S: 220 *\nC: STARTTLS\nC: AUTH PLAIN ${auth_plain:u:p}\n", server,
                     options(server, TlsMode::plain));
  EXPECT_EQ(r.outcome, RunResult::Outcome::failed);
  EXPECT_NE(r.error.find("STARTTLS refused"), std::string::npos) << r.error;
  EXPECT_EQ(server.received(), "STARTTLS\r\n");  // no credentials in cleartext after a refusal
}

}  // namespace
}  // namespace mailtap::run
