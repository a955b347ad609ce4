// Session: every TLS mode pair for SMTP, IMAP and POP3, from accept to close. The playbook checks
// the exact command order (upstream first, greeting held, client TLS with a leaf mirroring the
// upstream certificate, STARTTLS passed through or answered by mailtap or negotiated by mailtap);
// the transcript checks say which bytes travelled over TLS and which transitions were recorded.
#include <gtest/gtest.h>

#include <tuple>

#include "session/session_script.h"

namespace mailtap::session::test {

// Playbooks are laid out one step per line, which clang-format cannot keep.
// clang-format off
namespace {

using transcript::EventType;
using transcript::Party;

using Modes = std::tuple<Protocol, TlsMode, TlsMode>;

class TlsModeMatrix : public ::testing::TestWithParam<Modes> {
 protected:
  SessionConfig config() const {
    auto [protocol, client, upstream] = GetParam();
    return config_for(protocol, client, upstream);
  }
};

TEST_P(TlsModeMatrix, OpensRelaysAndClosesInTheRightOrder) {
  Playbook pb(config());
  const Dialect& d = dialect(pb.config().protocol);
  establish(pb);
  pb >> from_client(d.command) << to_server(d.command)
     >> from_server(d.reply) << to_client(d.reply)
     >> peer_closed(Side::client) << shutdown_write(Side::server)
     >> peer_closed(Side::server) << close_session("both sides closed");
  ASSERT_FALSE(pb.failed());
  EXPECT_TRUE(pb.session().finished());

  const auto& t = pb.transcript();
  const SessionConfig& c = pb.config();
  bool client_tls = c.client_tls != TlsMode::plain;
  bool upstream_tls = c.upstream_tls != TlsMode::plain;

  // The command and its reply are recorded once each, flagged with the leg they arrived on.
  const auto* cmd = find_data(t, Party::client, Party::server, d.command);
  ASSERT_NE(cmd, nullptr) << pb.dump_transcript();
  EXPECT_EQ(cmd->over_tls, client_tls);
  const auto* reply = find_data(t, Party::server, Party::client, d.reply);
  ASSERT_NE(reply, nullptr) << pb.dump_transcript();
  EXPECT_EQ(reply->over_tls, upstream_tls);

  EXPECT_EQ(count_events(t, EventType::connect), 2u);
  EXPECT_EQ(count_events(t, EventType::tls), size_t{client_tls} + size_t{upstream_tls});
  EXPECT_EQ(count_events(t, EventType::error), 0u) << pb.dump_transcript();
  EXPECT_EQ(count_events(t, EventType::warning), 0u) << pb.dump_transcript();
  // Leg closes and the session close, with byte counts.
  EXPECT_EQ(count_events(t, EventType::close), 3u);
  const auto& last = t.back();
  ASSERT_EQ(last.type, EventType::close);
  EXPECT_EQ(last.fields.value("by", ""), "mailtap");
  EXPECT_EQ(last.fields.value("client_bytes_in", uint64_t{0}),
            pb.watch().received(Side::client).size());
  EXPECT_EQ(last.fields.value("client_bytes_out", uint64_t{0}),
            pb.watch().sent(Side::client).size());
  EXPECT_EQ(last.fields.value("server_bytes_in", uint64_t{0}),
            pb.watch().received(Side::server).size());
  EXPECT_EQ(last.fields.value("server_bytes_out", uint64_t{0}),
            pb.watch().sent(Side::server).size());

  // STARTTLS transitions are recorded on the legs that use them, and only there.
  size_t starttls_events = count_events(t, EventType::starttls);
  if (c.client_tls != TlsMode::starttls && c.upstream_tls != TlsMode::starttls)
    EXPECT_EQ(starttls_events, 0u);
  else
    EXPECT_GE(starttls_events, 2u) << pb.dump_transcript();

  // mailtap's own negotiation with the upstream is recorded as mailtap's words.
  const auto* own = find_data(t, Party::mailtap, Party::server, d.negotiation.back().first);
  EXPECT_EQ(own != nullptr, c.upstream_tls == TlsMode::starttls && !passthrough(c));
  // A STARTTLS answered by mailtap never reaches the server.
  if (c.client_tls == TlsMode::starttls && !passthrough(c)) {
    EXPECT_EQ(find_data(t, Party::client, Party::server, d.client_starttls), nullptr);
    EXPECT_NE(find_data(t, Party::client, Party::mailtap, d.client_starttls), nullptr);
    EXPECT_NE(find_data(t, Party::mailtap, Party::client, d.mailtap_starttls_ok), nullptr);
  }
}

// The client's bytes never reach the upstream before the upstream leg is ready: a client that
// talks first (a pipelining or impatient client) is not even read until then.
TEST_P(TlsModeMatrix, ClientIsNotReadBeforeTheUpstreamIsReady) {
  Playbook pb(config());
  const SessionConfig& c = pb.config();
  pb >> accepted() << connect_upstream() >> upstream_connected();
  if (c.upstream_tls == TlsMode::implicit) pb << start_tls(Side::server);
  // Nothing asked the I/O layer to read the client yet.
  EXPECT_FALSE(pb.failed());
  for (const auto& e : pb.transcript()) EXPECT_NE(e.type, EventType::data) << describe(e);
}

std::string matrix_name(const ::testing::TestParamInfo<Modes>& info) {
  auto [protocol, client, upstream] = info.param;
  return std::string(to_string(protocol)) + "_client_" + mode_name(client) + "_upstream_" +
         mode_name(upstream);
}

INSTANTIATE_TEST_SUITE_P(
    AllModes, TlsModeMatrix,
    ::testing::Combine(::testing::Values(Protocol::smtp, Protocol::imap, Protocol::pop3),
                       ::testing::Values(TlsMode::plain, TlsMode::implicit, TlsMode::starttls),
                       ::testing::Values(TlsMode::plain, TlsMode::implicit, TlsMode::starttls)),
    matrix_name);

// ---- the startup order, spelled out once per kind of leg -------------------------------------

TEST(SessionStartup, ImplicitBothLegsUpstreamTlsFirstGreetingHeldLeafMirrorsUpstream) {
  Playbook pb(config_for(Protocol::imap, TlsMode::implicit, TlsMode::implicit));
  pb >> accepted() << connect_upstream()
     >> upstream_connected() << start_tls(Side::server)
     >> tls_established(Side::server)                 // nothing to do until the greeting
     >> from_server("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n")
     << start_reading(Side::client)
     << start_client_tls_mirroring(upstream_certificate(), kUpstreamHost)
     << to_client("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n")
     >> tls_established(Side::client);
  ASSERT_FALSE(pb.failed());
  // The greeting is recorded as it came from the upstream, over TLS.
  const auto* g = find_data(pb.transcript(), Party::server, Party::client,
                            "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n");
  ASSERT_NE(g, nullptr) << pb.dump_transcript();
  EXPECT_TRUE(g->over_tls);
}

TEST(SessionStartup, MultiLineGreetingIsHeldUntilComplete) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::plain, TlsMode::plain));
  pb >> accepted() << connect_upstream() >> upstream_connected()
     >> from_server("220-mail.example.net ESMTP\r\n")   // not complete: nothing yet
     >> from_server("220-second line\r\n220 ")         // still not
     >> from_server("ready\r\n")
     << start_reading(Side::client)
     << to_client("220-mail.example.net ESMTP\r\n") << to_client("220-second line\r\n")
     << to_client("220 ready\r\n");
}

TEST(SessionStartup, NegotiatedUpstreamStarttlsGreetingDeliveredOnlyAfterUpstreamTls) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::implicit, TlsMode::starttls));
  pb >> accepted() << connect_upstream() >> upstream_connected()
     >> from_server("220 mail.example.net ESMTP\r\n")
     << to_server("EHLO mailtap.invalid\r\n")
     >> from_server("250-mail.example.net\r\n")
     >> from_server("250-STARTTLS\r\n250 SIZE 10240000\r\n")
     << to_server("STARTTLS\r\n")
     >> from_server("220 2.0.0 Ready to start TLS\r\n") << start_tls(Side::server)
     >> tls_established(Side::server)
     << start_reading(Side::client)
     << start_client_tls_mirroring(upstream_certificate(), kUpstreamHost)
     << to_client("220 mail.example.net ESMTP\r\n")
     >> tls_established(Side::client)
     >> from_client("EHLO client.example\r\n") << to_server("EHLO client.example\r\n");
  ASSERT_FALSE(pb.failed());
  const auto& t = pb.transcript();
  // The EHLO reply that mailtap consumed is the server's words to mailtap, not to the client.
  EXPECT_NE(find_data(t, Party::server, Party::mailtap, "250-STARTTLS\r\n"), nullptr);
  EXPECT_EQ(data_bytes(t, Party::server, Party::client).find("250"), std::string::npos);
}

TEST(SessionStartup, NegotiatedImapStarttlsHidesStarttlsAndLogindisabledFromThePlainClient) {
  Playbook pb(config_for(Protocol::imap, TlsMode::plain, TlsMode::starttls));
  pb >> accepted() << connect_upstream() >> upstream_connected()
     >> from_server("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n")
     << to_server("mailtap1 STARTTLS\r\n")
     >> from_server("mailtap1 OK Begin TLS negotiation now\r\n") << start_tls(Side::server)
     >> tls_established(Side::server)
     << start_reading(Side::client)
     // STARTTLS would not work on the plain client leg, and LOGIN is allowed over the TLS
     // upstream leg: both are gone from what the client sees.
     << to_client("* OK [CAPABILITY IMAP4rev1] ready\r\n");
  ASSERT_FALSE(pb.failed());
  EXPECT_NE(find_data(pb.transcript(), Party::mailtap, Party::client,
                      "* OK [CAPABILITY IMAP4rev1] ready\r\n"),
            nullptr)
      << pb.dump_transcript();
}

TEST(SessionStartup, NegotiatedPop3Stls) {
  Playbook pb(config_for(Protocol::pop3, TlsMode::plain, TlsMode::starttls));
  pb >> accepted() << connect_upstream() >> upstream_connected()
     >> from_server("+OK POP3 ready <1896.697170952@dbc.mtview.ca.us>\r\n")
     << to_server("STLS\r\n") >> from_server("+OK Begin TLS\r\n") << start_tls(Side::server)
     >> tls_established(Side::server) << start_reading(Side::client)
     << to_client("+OK POP3 ready <1896.697170952@dbc.mtview.ca.us>\r\n")
     >> from_client("USER alice\r\n") << to_server("USER alice\r\n");
}

TEST(SessionStartup, TimestampsComeFromTheInjectedClock) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::plain, TlsMode::plain));
  Microseconds t0 = pb.clock().now();
  pb >> accepted() << connect_upstream();
  pb.clock().advance(2'500);
  pb >> upstream_connected();
  ASSERT_EQ(pb.transcript().size(), 2u);
  EXPECT_EQ(pb.transcript()[0].time_us, t0);
  EXPECT_EQ(pb.transcript()[1].time_us, t0 + 2'500);
}

// The old TLS versions and --insecure are worth a warning in the transcript.
TEST(SessionStartup, WarnsAboutAnUnverifiedOrObsoleteUpstream) {
  SessionConfig c = config_for(Protocol::pop3, TlsMode::plain, TlsMode::implicit);
  c.upstream_insecure = true;
  Playbook pb(c);
  pb >> accepted() << connect_upstream() >> upstream_connected() << start_tls(Side::server)
     >> tls_established(Side::server, tls_info(Side::server, "TLSv1.1"));
  EXPECT_TRUE(has_warning(pb.transcript(), "upstream_not_verified"));
  EXPECT_TRUE(has_warning(pb.transcript(), "old_tls_version"));
  EXPECT_FALSE(has_warning(pb.transcript(), "weak_cipher"));  // TLS_AES_256_GCM_SHA384
}

// A TLS 1.2 suite without forward secrecy or an AEAD (possible with --allow-legacy-tls only).
TEST(SessionStartup, WarnsAboutAWeakUpstreamCipher) {
  for (const char* weak : {"AES128-SHA", "ECDHE-RSA-AES128-SHA", "AES256-GCM-SHA384"}) {
    Playbook pb(config_for(Protocol::imap, TlsMode::plain, TlsMode::implicit));
    tls::TlsInfo info = tls_info(Side::server, "TLSv1.2");
    info.cipher = weak;
    pb >> accepted() << connect_upstream() >> upstream_connected() << start_tls(Side::server)
       >> tls_established(Side::server, info);
    EXPECT_TRUE(has_warning(pb.transcript(), "weak_cipher")) << weak;
  }
  for (const char* strong : {"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305",
                             "DHE-RSA-AES256-GCM-SHA384", "TLS_CHACHA20_POLY1305_SHA256"}) {
    Playbook pb(config_for(Protocol::imap, TlsMode::plain, TlsMode::implicit));
    tls::TlsInfo info = tls_info(Side::server, "TLSv1.2");
    info.cipher = strong;
    pb >> accepted() << connect_upstream() >> upstream_connected() << start_tls(Side::server)
       >> tls_established(Side::server, info);
    EXPECT_FALSE(has_warning(pb.transcript(), "weak_cipher")) << strong;
  }
}

}  // namespace
// clang-format on

}  // namespace mailtap::session::test
