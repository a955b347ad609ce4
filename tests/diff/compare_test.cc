#include "mailtap/diff/compare.h"

#include <gtest/gtest.h>

#include "diff/diff_test_util.h"

namespace mailtap::diff {
namespace {

using testing::SessionBuilder;

SessionBuilder smtp_session(bool extra_noop, const std::string& queue_id, const std::string& date) {
  SessionBuilder b("smtp");
  b.s("220 mx ESMTP " + date).c("EHLO client").s("250-mx").s("250-PIPELINING").s("250 8BITMIME");
  if (extra_noop) b.c("NOOP").s("250 2.0.0 Ok");
  b.c("MAIL FROM:<a@x>").s("250 2.1.0 Ok").c("RCPT TO:<b@x>").s("250 2.1.5 Ok");
  b.c("DATA").s("354 go").c("Subject: t\r\n\r\nhi\r\n", "body").c(".");
  b.s("250 2.0.0 Ok: queued as " + queue_id).c("QUIT").s("221 2.0.0 Bye");
  return b;
}

TEST(DiffCompare, VolatileValuesAloneMakeNoDifference) {
  auto a = smtp_session(false, "07562A72A11", "Sun, 22 Nov 2026 13:51:30 +0000");
  auto b = smtp_session(false, "8D167A72738", "Mon, 23 Nov 2026 01:02:03 +0100");
  SessionDiff d = compare_sessions(a.steps(), b.steps());
  EXPECT_TRUE(d.identical());
  EXPECT_EQ(d.same, 6u);  // greeting EHLO MAIL RCPT DATA QUIT
}

TEST(DiffCompare, OneExtraCommandAlignsTheRest) {
  auto a = smtp_session(false, "Q1", "x");
  auto b = smtp_session(true, "Q2", "x");
  SessionDiff d = compare_sessions(a.steps(), b.steps());
  EXPECT_FALSE(d.identical());
  EXPECT_EQ(d.only_b, 1u);
  EXPECT_EQ(d.only_a, 0u);
  EXPECT_EQ(d.changed, 0u);
  EXPECT_EQ(d.same, 6u);
  ASSERT_EQ(d.pairs.size(), 7u);
  EXPECT_EQ(d.pairs[2].status, PairStatus::only_b);
  EXPECT_EQ(d.b.steps[*d.pairs[2].b].verb, "NOOP");
  // everything after the NOOP is paired with its counterpart
  for (size_t i = 3; i < d.pairs.size(); ++i) {
    ASSERT_TRUE(d.pairs[i].a && d.pairs[i].b) << i;
    EXPECT_EQ(d.a.steps[*d.pairs[i].a].key, d.b.steps[*d.pairs[i].b].key);
  }
}

// The same SMTP conversation with STARTTLS, as the proxy records it (TLS on the server leg, then
// on the client leg) or as `mailtap run` does (the runner is the client: the server leg only).
SessionBuilder starttls_session(bool runner, const std::string& server_tls_version = "TLSv1.3") {
  SessionBuilder b("smtp");
  if (runner)
    b.runner("starttls");
  else
    b.tls_modes("starttls", "starttls");
  b.s("220 mx ESMTP").c("EHLO client").s("250-mx").s("250 STARTTLS").c("STARTTLS");
  b.s("220 2.0.0 Ready to start TLS").tls("server", server_tls_version);
  if (!runner) b.tls("client");
  b.c("EHLO client").s("250-mx").s("250 AUTH PLAIN").c("QUIT").s("221 2.0.0 Bye");
  return b;
}

TEST(DiffCompare, ProxyCaptureAgainstRunnerComparesTheServerLegsOnly) {
  auto capture = starttls_session(false);
  auto replay = starttls_session(true);
  for (bool capture_first : {true, false}) {
    SessionDiff d = capture_first ? compare_sessions(capture.steps(), replay.steps())
                                  : compare_sessions(replay.steps(), capture.steps());
    EXPECT_TRUE(d.identical()) << "capture first: " << capture_first;
    EXPECT_EQ(d.only_a + d.only_b + d.changed, 0u);
    EXPECT_TRUE(d.header.empty());
    // the client-leg handshake is named in a note, not reported as a difference
    ASSERT_EQ(d.notes.size(), 1u);
    EXPECT_NE(d.notes[0].find("client leg"), std::string::npos) << d.notes[0];
    EXPECT_NE(d.notes[0].find(capture_first ? "B was recorded by mailtap run" : "A was recorded"),
              std::string::npos)
        << d.notes[0];
    // the server legs are compared with each other
    size_t server_tls = 0;
    for (const auto& p : d.pairs)
      if (p.a && d.a.steps[*p.a].verb == "TLS server") {
        ASSERT_TRUE(p.b.has_value());
        EXPECT_EQ(d.b.steps[*p.b].verb, "TLS server");
        ++server_tls;
      }
    EXPECT_EQ(server_tls, 1u);
  }
}

TEST(DiffCompare, RunnerAgainstCaptureStillReportsServerLegDifferences) {
  SessionDiff d =
      compare_sessions(starttls_session(false).steps(), starttls_session(true, "TLSv1.2").steps());
  EXPECT_FALSE(d.identical());
  EXPECT_EQ(d.only_a + d.only_b, 0u);  // no client-leg step left over
  const FacetDifference* version = testing::find_difference(d, "TLS server", "version");
  ASSERT_NE(version, nullptr);
  EXPECT_EQ(version->a, "TLSv1.3");
  EXPECT_EQ(version->b, "TLSv1.2");
}

TEST(DiffCompare, RunnerVerdictsAreNotComparedButTheRepliesAre) {
  auto replay = starttls_session(true);
  replay.warning("run_expectation_failed", "capture.jsonl:12: expected 221 2.0.0 Bye");
  SessionBuilder other("smtp");
  other.runner("starttls");
  other.s("220 mx ESMTP").c("EHLO client").s("250-mx").s("250 STARTTLS").c("STARTTLS");
  other.s("220 2.0.0 Ready to start TLS").tls("server");
  other.c("EHLO client").s("250-mx").s("250 AUTH PLAIN").c("QUIT").s("221 Bye");
  SessionDiff d = compare_sessions(starttls_session(false).steps(), replay.steps());
  EXPECT_TRUE(d.identical());
  ASSERT_EQ(d.notes.size(), 2u);
  EXPECT_NE(d.notes[1].find("B: 1 warning of mailtap run's own checks"), std::string::npos)
      << d.notes[1];
  // a real difference in the replies is still one
  SessionDiff e = compare_sessions(starttls_session(false).steps(), other.steps());
  EXPECT_EQ(e.changed, 1u);
  EXPECT_NE(testing::find_difference(e, "QUIT", "enhanced code"), nullptr);
}

TEST(DiffCompare, TwoProxyCapturesStillCompareTheirClientLegs) {
  // both recorded by the proxy: a client leg with TLS in one and none in the other is real
  auto a = starttls_session(false);
  SessionBuilder b("smtp");
  b.tls_modes("plain", "starttls");
  b.s("220 mx ESMTP").c("EHLO client").s("250-mx").s("250 STARTTLS").c("STARTTLS");
  b.s("220 2.0.0 Ready to start TLS").tls("server");
  b.c("EHLO client").s("250-mx").s("250 AUTH PLAIN").c("QUIT").s("221 2.0.0 Bye");
  SessionDiff d = compare_sessions(a.steps(), b.steps());
  EXPECT_TRUE(d.notes.empty());
  EXPECT_EQ(d.only_a, 1u);
  ASSERT_EQ(d.header.size(), 1u);
  EXPECT_EQ(d.header[0].field, "client TLS");
}

TEST(DiffCompare, CapabilitiesCompareAsSetsNotAsLists) {
  SessionBuilder a("imap"), b("imap");
  a.s("* OK [CAPABILITY IMAP4rev1 IDLE AUTH=PLAIN AUTH=LOGIN] ready");
  b.s("* OK [CAPABILITY AUTH=LOGIN IDLE IMAP4REV1 AUTH=PLAIN] ready");  // same set, other order
  EXPECT_TRUE(compare_sessions(a.steps(), b.steps()).identical());

  SessionBuilder c("imap");
  c.s("* OK [CAPABILITY IMAP4rev1 NAMESPACE AUTH=PLAIN] ready");
  SessionDiff d = compare_sessions(a.steps(), c.steps());
  ASSERT_EQ(d.changed, 1u);
  const FacetDifference* caps = testing::find_difference(d, "greeting", "capabilities");
  ASSERT_NE(caps, nullptr);
  EXPECT_EQ(caps->kind, Facet::Kind::set);
  EXPECT_EQ(caps->only_a, (std::vector<std::string>{"IDLE"}));
  EXPECT_EQ(caps->only_b, (std::vector<std::string>{"NAMESPACE"}));
  const FacetDifference* mechs = testing::find_difference(d, "greeting", "auth mechanisms");
  ASSERT_NE(mechs, nullptr);
  EXPECT_EQ(mechs->only_a, (std::vector<std::string>{"LOGIN"}));
  EXPECT_TRUE(mechs->only_b.empty());
}

TEST(DiffCompare, EhloKeywordsAsSetsAndParametersAsValues) {
  SessionBuilder a("smtp"), b("smtp");
  a.s("220 mx").c("EHLO c").s("250-mx").s("250-SIZE 10240000").s("250-DSN").s("250 STARTTLS");
  b.s("220 mx").c("EHLO c").s("250-mx").s("250-STARTTLS").s("250-SIZE 52428800").s("250 HELP");
  SessionDiff d = compare_sessions(a.steps(), b.steps());
  const FacetDifference* ext = testing::find_difference(d, "EHLO", "extensions");
  ASSERT_NE(ext, nullptr);
  EXPECT_EQ(ext->only_a, (std::vector<std::string>{"DSN"}));
  EXPECT_EQ(ext->only_b, (std::vector<std::string>{"HELP"}));
  const FacetDifference* size = testing::find_difference(d, "EHLO", "extension SIZE");
  ASSERT_NE(size, nullptr);
  EXPECT_EQ(size->a, "10240000");
  EXPECT_EQ(size->b, "52428800");
}

TEST(DiffCompare, StatusAndEnhancedCodesAreCompared) {
  SessionBuilder a("smtp"), b("smtp");
  a.s("220 mx").c("RCPT TO:<x@y>").s("250 2.1.5 Ok");
  b.s("220 mx").c("RCPT TO:<x@y>").s("450 4.2.0 <x@y>: Recipient address rejected: greylisted");
  SessionDiff d = compare_sessions(a.steps(), b.steps());
  const FacetDifference* reply = testing::find_difference(d, "RCPT", "reply");
  ASSERT_NE(reply, nullptr);
  EXPECT_EQ(reply->a, "250");
  EXPECT_EQ(reply->b, "450");
  const FacetDifference* enhanced = testing::find_difference(d, "RCPT", "enhanced code");
  ASSERT_NE(enhanced, nullptr);
  EXPECT_EQ(enhanced->b, "4.2.0");
}

TEST(DiffCompare, MultiLineContentsLineByLine) {
  SessionBuilder a("pop3"), b("pop3");
  a.s("+OK").c("RETR 1").s("+OK").s("A: 1\r\nB: 2\r\n\r\none\r\ntwo\r\n", "body").s(".");
  b.s("+OK").c("RETR 1").s("+OK").s("A: 1\r\nB: 2\r\n\r\none\r\n2\r\n", "body").s(".");
  SessionDiff d = compare_sessions(a.steps(), b.steps());
  const FacetDifference* content = testing::find_difference(d, "RETR", "content");
  ASSERT_NE(content, nullptr);
  ASSERT_EQ(content->kind, Facet::Kind::lines);
  std::string marks;
  for (const auto& l : content->lines) marks += l.mark;
  EXPECT_EQ(marks, "    -+");
  EXPECT_EQ(content->lines[4].text, "two");
  EXPECT_EQ(content->lines[5].text, "2");
}

TEST(DiffCompare, TlsVersionCipherAndCertificate) {
  nlohmann::json cert_a = {{"subject", "CN=a"}, {"names", {"localhost"}}, {"sha256", "aa"}};
  nlohmann::json cert_b = {{"subject", "CN=b"}, {"names", {"localhost", "mx"}}, {"sha256", "bb"}};
  SessionBuilder a("smtp"), b("smtp");
  a.tls("server", "TLSv1.3", cert_a).s("220 mx");
  b.tls("server", "TLSv1.2", cert_b).s("220 mx");
  SessionDiff d = compare_sessions(a.steps(), b.steps());
  EXPECT_EQ(testing::find_difference(d, "TLS server", "version")->b, "TLSv1.2");
  EXPECT_EQ(testing::find_difference(d, "TLS server", "certificate subject")->a, "CN=a");
  EXPECT_EQ(testing::find_difference(d, "TLS server", "certificate names")->only_b,
            (std::vector<std::string>{"mx"}));
}

TEST(DiffCompare, HeaderDifferences) {
  SessionBuilder a("smtp"), b("imap");
  SessionDiff d = compare_sessions(a.steps(), b.steps());
  ASSERT_EQ(d.header.size(), 1u);
  EXPECT_EQ(d.header[0].field, "protocol");
  EXPECT_FALSE(d.identical());
}

// Real captures: the same swaks session twice against Postfix, then against Exim.
TEST(DiffCompareReal, SameSwaksSessionTwiceAgainstPostfixIsIdentical) {
  SessionDiff d = testing::compare_fixtures("postfix-swaks-1", "postfix-swaks-2");
  EXPECT_TRUE(d.identical());
  EXPECT_EQ(d.same, 11u);
}

TEST(DiffCompareReal, PostfixAgainstEximShowsRealDifferencesOnly) {
  SessionDiff d = testing::compare_fixtures("postfix-swaks-1", "exim-swaks");
  EXPECT_EQ(d.only_a + d.only_b, 0u);  // the same client: every command pairs
  const FacetDifference* ext = testing::find_difference(d, "EHLO", "extensions");
  ASSERT_NE(ext, nullptr);
  EXPECT_NE(std::find(ext->only_a.begin(), ext->only_a.end(), "ENHANCEDSTATUSCODES"),
            ext->only_a.end());
  EXPECT_NE(std::find(ext->only_b.begin(), ext->only_b.end(), "HELP"), ext->only_b.end());
  EXPECT_EQ(testing::find_difference(d, "MAIL", "enhanced code")->a, "2.1.0");
  const FacetDifference* data_text = testing::find_difference(d, "DATA", "text");
  ASSERT_NE(data_text, nullptr);
  EXPECT_EQ(data_text->a, "Ok: queued as <queue-id>");
  EXPECT_EQ(data_text->b, "OK id=<queue-id>");
  // the message the client sent is the same once dates and Message-ID are set aside
  EXPECT_EQ(testing::find_difference(d, "DATA", "message"), nullptr);
  // no volatile value leaks into any difference
  for (const auto& p : d.pairs)
    for (const auto& f : p.differences)
      for (const auto& v : {f.a, f.b})
        EXPECT_EQ(v.find("2026"), std::string::npos) << f.facet << ": " << v;
}

TEST(DiffCompareReal, DovecotAgainstCyrusImap) {
  SessionDiff d = testing::compare_fixtures("dovecot-imap", "cyrus-imap");
  EXPECT_EQ(d.only_a + d.only_b, 0u);
  const FacetDifference* caps = testing::find_difference(d, "CAPABILITY", "capabilities");
  ASSERT_NE(caps, nullptr);
  EXPECT_NE(std::find(caps->only_b.begin(), caps->only_b.end(), "ACL"), caps->only_b.end());
  // UIDVALIDITY differs between the servers but is volatile: only the texts may differ
  const FacetDifference* uidvalidity =
      testing::find_difference(d, "SELECT", "untagged OK [UIDVALIDITY]");
  ASSERT_NE(uidvalidity, nullptr);
  ASSERT_EQ(uidvalidity->only_a.size(), 1u);
  EXPECT_EQ(uidvalidity->only_a[0].rfind("[UIDVALIDITY <uidvalidity>] ", 0), 0u);
  EXPECT_EQ(uidvalidity->only_b[0].rfind("[UIDVALIDITY <uidvalidity>] ", 0), 0u);
  // the same message fetched from both: the content is the same
  EXPECT_EQ(testing::find_difference(d, "UID FETCH", "server content"), nullptr);
  // (the FETCH items themselves differ: Cyrus reports FLAGS (\Seen) again, Dovecot does not)
}

TEST(DiffCompareReal, DovecotAgainstCyrusPop3) {
  SessionDiff d = testing::compare_fixtures("dovecot-pop3", "cyrus-pop3");
  const FacetDifference* caps = testing::find_difference(d, "CAPA", "capabilities");
  ASSERT_NE(caps, nullptr);
  EXPECT_NE(std::find(caps->only_b.begin(), caps->only_b.end(), "IMPLEMENTATION"),
            caps->only_b.end());
  const FacetDifference* greeting = testing::find_difference(d, "greeting", "text");
  ASSERT_NE(greeting, nullptr);
  EXPECT_NE(greeting->b.find("<apop-timestamp>"), std::string::npos);
  EXPECT_EQ(testing::find_difference(d, "RETR", "content"), nullptr);
}

TEST(DiffCompareReal, IgnoreBannersLeavesTheGreetingStatusOnly) {
  NormalizeOptions o;
  o.ignore_banners = true;
  SessionDiff d = testing::compare_fixtures("postfix-swaks-1", "exim-swaks", o);
  EXPECT_EQ(testing::find_difference(d, "greeting", "text"), nullptr);
  EXPECT_EQ(testing::find_difference(d, "EHLO", "text"), nullptr);
  EXPECT_NE(testing::find_difference(d, "EHLO", "extensions"), nullptr);
}

}  // namespace
}  // namespace mailtap::diff
