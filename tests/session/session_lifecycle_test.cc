// Session: how sessions end. Upstream unreachable or its TLS refused (the client still gets a
// protocol-correct message, after its own TLS handshake when the leg is implicit), client TLS
// failure, timeouts, shutdown, half close in both orders, resets, line limits on both sides,
// absurd literals. Every case checks the error code in the transcript and that Close comes last.
#include <gtest/gtest.h>

#include "session/session_script.h"

namespace mailtap::session::test {

// Playbooks are laid out one step per line, which clang-format cannot keep.
// clang-format off
namespace {

using transcript::EventType;
using transcript::FrameKind;
using transcript::Party;

const Protocol kProtocols[] = {Protocol::smtp, Protocol::imap, Protocol::pop3};

// The error code of the first error event, "" when none.
std::string error_code(const Playbook& pb) {
  const auto* e = find_event(pb.transcript(), EventType::error);
  return e ? e->fields.value("code", "") : "";
}

// ---- before the client is even read -----------------------------------------------------------

TEST(SessionEnds, UpstreamUnreachableTellsAPlainClientInItsProtocol) {
  for (Protocol p : kProtocols) {
    SCOPED_TRACE(std::string(to_string(p)));
    Playbook pb(config_for(p, TlsMode::plain, TlsMode::plain));
    pb >> accepted() << connect_upstream() >> upstream_failed("connection refused")
       << start_reading(Side::client) << to_client_line_starting(dialect(p).fatal_prefix)
       << close_session();
    ASSERT_FALSE(pb.failed());
    EXPECT_EQ(error_code(pb), "upstream_unreachable");
    std::string said = data_bytes(pb.transcript(), Party::mailtap, Party::client);
    EXPECT_NE(said.find("connection refused"), std::string::npos) << said;
    EXPECT_TRUE(pb.session().finished());
  }
}

TEST(SessionEnds, UpstreamUnreachableTellsAnImplicitClientAfterItsHandshake) {
  for (Protocol p : kProtocols) {
    SCOPED_TRACE(std::string(to_string(p)));
    Playbook pb(config_for(p, TlsMode::implicit, TlsMode::implicit));
    pb >> accepted() << connect_upstream() >> upstream_failed("no route to host")
       << start_reading(Side::client) << start_client_tls_by_host(kUpstreamHost)
       >> tls_established(Side::client)
       << to_client_line_starting(dialect(p).fatal_prefix) << close_session();
    ASSERT_FALSE(pb.failed());
    EXPECT_EQ(error_code(pb), "upstream_unreachable");
    const auto* said = data_events(pb.transcript(), Party::mailtap, Party::client).at(0);
    EXPECT_TRUE(said->over_tls);
  }
}

TEST(SessionEnds, ImplicitClientThatFailsItsHandshakeAfterAnUpstreamFailureIsJustClosed) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::implicit, TlsMode::plain));
  pb >> accepted() << connect_upstream() >> upstream_failed("connection refused")
     << start_reading(Side::client) << start_client_tls_by_host(kUpstreamHost)
     >> tls_failed(Side::client, "unknown ca") << close_session();
  ASSERT_FALSE(pb.failed());
  EXPECT_TRUE(has_error(pb.transcript(), "upstream_unreachable"));
  EXPECT_TRUE(has_error(pb.transcript(), "client_tls_failed"));
}

TEST(SessionEnds, UpstreamTlsRefusedTellsTheClientWhy) {
  for (Protocol p : kProtocols) {
    SCOPED_TRACE(std::string(to_string(p)));
    Playbook pb(config_for(p, TlsMode::plain, TlsMode::implicit));
    pb >> accepted() << connect_upstream() >> upstream_connected() << start_tls(Side::server)
       >> tls_failed(Side::server, "certificate verify failed: hostname mismatch")
       << start_reading(Side::client) << to_client_line_starting(dialect(p).fatal_prefix)
       << close_session();
    ASSERT_FALSE(pb.failed());
    EXPECT_EQ(error_code(pb), "upstream_tls_failed");
    std::string said = data_bytes(pb.transcript(), Party::mailtap, Party::client);
    EXPECT_NE(said.find("hostname mismatch"), std::string::npos) << said;
  }
}

TEST(SessionEnds, NegotiatedUpstreamTlsRefusedTellsTheClient) {
  Playbook pb(config_for(Protocol::pop3, TlsMode::plain, TlsMode::starttls));
  pb >> accepted() << connect_upstream() >> upstream_connected() >> from_server("+OK hi\r\n")
     << to_server("STLS\r\n") >> from_server("+OK go\r\n") << start_tls(Side::server)
     >> tls_failed(Side::server, "handshake failure") << start_reading(Side::client)
     << to_client_line_starting("-ERR mailtap: ") << close_session();
  ASSERT_FALSE(pb.failed());
  // The greeting the client never got is in the transcript, addressed to mailtap.
  EXPECT_EQ(data_bytes(pb.transcript(), Party::server, Party::client), "");
  EXPECT_NE(find_data(pb.transcript(), Party::server, Party::mailtap, "+OK hi\r\n"), nullptr)
      << pb.dump_transcript();
}

TEST(SessionEnds, ClientTlsFailureClosesWithoutTalkingToTheClient) {
  Playbook pb(config_for(Protocol::imap, TlsMode::implicit, TlsMode::plain));
  pb >> accepted() << connect_upstream() >> upstream_connected()
     >> from_server("* OK ready\r\n") << start_reading(Side::client)
     << start_client_tls_by_host(kUpstreamHost) << to_client("* OK ready\r\n")
     >> tls_failed(Side::client, "alert unknown ca") << close_session();
  ASSERT_FALSE(pb.failed());
  EXPECT_EQ(error_code(pb), "client_tls_failed");
}

TEST(SessionEnds, GreetingThatNeverCompletesTimesOut) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::plain, TlsMode::plain));
  pb >> accepted() << connect_upstream() >> upstream_connected()
     >> from_server("220-mail.example.net\r\n220-still")
     >> timed_out("greeting") << start_reading(Side::client)
     << to_client_line_starting("421 4.4.0 mailtap: ") << close_session();
  ASSERT_FALSE(pb.failed());
  EXPECT_EQ(error_code(pb), "timeout");
  // What the upstream did say is in the transcript, as never delivered.
  EXPECT_EQ(data_bytes(pb.transcript(), Party::server, Party::client), "");
  EXPECT_EQ(data_bytes(pb.transcript(), Party::server, Party::mailtap),
            "220-mail.example.net\r\n220-still")
      << pb.dump_transcript();
}

// Once failed, an implicit-TLS client still to be told why: nothing else starts meanwhile.
TEST(SessionEnds, NothingStartsWhileAFailedSessionWaitsForTheClientHandshake) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::implicit, TlsMode::plain));
  pb >> accepted() << connect_upstream() >> upstream_connected()
     >> from_server("220-mail.example.net\r\n") >> timed_out("greeting")
     << start_reading(Side::client) << start_client_tls_by_host(kUpstreamHost)
     >> from_server("220 late but complete\r\n")  // no greeting delivered, no second StartTls
     >> peer_closed(Side::server)                   // the client is still owed its explanation
     >> tls_established(Side::client)
     << to_client_line_starting("421 4.4.0 mailtap: timed out") << close_session();
  ASSERT_FALSE(pb.failed());
  EXPECT_EQ(data_bytes(pb.transcript(), Party::server, Party::client), "");
}

TEST(SessionEnds, HandshakeTimeoutOfAFailedSessionCloses) {
  Playbook pb(config_for(Protocol::pop3, TlsMode::implicit, TlsMode::plain));
  pb >> accepted() << connect_upstream() >> upstream_failed("connection refused")
     << start_reading(Side::client) << start_client_tls_by_host(kUpstreamHost)
     >> timed_out("TLS handshake") << close_session();
  ASSERT_FALSE(pb.failed());
  EXPECT_EQ(count_events(pb.transcript(), EventType::error), 2u);
}

// ---- while relaying --------------------------------------------------------------------------

TEST(SessionEnds, IdleTimeoutAndShutdownSayGoodbyeInTheProtocol) {
  for (Protocol p : kProtocols) {
    for (bool shutdown : {false, true}) {
      SCOPED_TRACE(std::string(to_string(p)) + (shutdown ? " shutdown" : " idle"));
      Playbook pb(config_for(p, TlsMode::implicit, TlsMode::plain));
      establish(pb);
      if (shutdown)
        pb >> shutdown_requested("SIGTERM");
      else
        pb >> timed_out("idle");
      pb << to_client_line_starting(dialect(p).fatal_prefix) << close_session();
      ASSERT_FALSE(pb.failed());
      EXPECT_EQ(error_code(pb), shutdown ? "shutdown" : "timeout");
      const auto* said = data_events(pb.transcript(), Party::mailtap, Party::client).back();
      EXPECT_TRUE(said->over_tls);
      // Nothing is processed after the end.
      EXPECT_TRUE(pb.session().finished());
      pb >> from_client(dialect(p).command) >> peer_closed(Side::server);
    }
  }
}

TEST(SessionEnds, EndingOneSessionDoesNotSayMailtapIsShuttingDown) {
  for (Protocol p : kProtocols) {
    for (bool process_stopping : {true, false}) {
      SCOPED_TRACE(std::string(to_string(p)) + (process_stopping ? " process" : " one session"));
      Playbook pb(config_for(p, TlsMode::plain, TlsMode::plain));
      establish(pb);
      if (process_stopping)
        pb >> shutdown_requested("SIGTERM");
      else
        pb >> session_ended_by_mailtap("its transcript cannot be written");
      pb << to_client_line_starting(dialect(p).fatal_prefix) << close_session();
      ASSERT_FALSE(pb.failed());
      std::string said = data_events(pb.transcript(), Party::mailtap, Party::client).back()->bytes;
      if (process_stopping) {
        EXPECT_NE(said.find("mailtap is shutting down (SIGTERM)"), std::string::npos) << said;
      } else {
        EXPECT_EQ(said.find("shutting down"), std::string::npos) << said;
        EXPECT_NE(said.find("mailtap ends this session: its transcript cannot be written"),
                  std::string::npos)
            << said;
      }
    }
  }
}

TEST(SessionEnds, ClientQuitThenEofHalfClosesTheUpstream) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::plain, TlsMode::plain));
  establish(pb);
  pb >> from_client("QUIT\r\n") << to_server("QUIT\r\n")
     >> peer_closed(Side::client) << shutdown_write(Side::server)
     // The reply still reaches the client, whose write side only is closed.
     >> from_server("221 2.0.0 Bye\r\n") << to_client("221 2.0.0 Bye\r\n")
     >> peer_closed(Side::server) << close_session("both sides closed");
  ASSERT_FALSE(pb.failed());
  const auto& t = pb.transcript();
  // Each leg's close and then the session's.
  ASSERT_EQ(count_events(t, EventType::close), 3u);
  const auto* client_close = find_event(t, EventType::close);
  EXPECT_EQ(client_close->fields.value("leg", ""), "client");
  EXPECT_EQ(client_close->fields.value("bytes_in", uint64_t{0}), 6u);
}

TEST(SessionEnds, ServerEofFirstHalfClosesTheClient) {
  Playbook pb(config_for(Protocol::pop3, TlsMode::plain, TlsMode::plain));
  establish(pb);
  pb >> from_client("QUIT\r\n") << to_server("QUIT\r\n")
     >> from_server("+OK bye\r\n") << to_client("+OK bye\r\n")
     >> peer_closed(Side::server) << shutdown_write(Side::client)
     >> peer_closed(Side::client) << close_session("both sides closed");
}

TEST(SessionEnds, PartialLineBeforeEofIsRelayedAndRecorded) {
  Playbook pb(config_for(Protocol::imap, TlsMode::plain, TlsMode::plain));
  establish(pb);
  pb >> from_client("a1 LOGOUT") >> peer_closed(Side::client) << to_server("a1 LOGOUT")
     << shutdown_write(Side::server);
  ASSERT_FALSE(pb.failed());
  const auto* rest = find_data(pb.transcript(), Party::client, Party::server, "a1 LOGOUT");
  ASSERT_NE(rest, nullptr);
  EXPECT_EQ(rest->frame, FrameKind::raw);
}

TEST(SessionEnds, ResetClosesAtOnce) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::plain, TlsMode::plain));
  establish(pb);
  pb >> peer_closed(Side::server, /*reset=*/true) << close_session();
  ASSERT_FALSE(pb.failed());
  const auto* leg = find_event(pb.transcript(), EventType::close);
  EXPECT_EQ(leg->fields.value("reason", ""), "connection reset");
}

// The client, still waiting for its greeting, is told why (more: session_upstream_loss_test.cc).
TEST(SessionEnds, EofBeforeTheClientIsReadyEndsTheSessionWithAGoodbye) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::plain, TlsMode::starttls));
  pb >> accepted() << connect_upstream() >> upstream_connected()
     >> from_server("220 hi\r\n") << to_server("EHLO mailtap.invalid\r\n")
     >> peer_closed(Side::server) << start_reading(Side::client)
     << to_client_line_starting("421 4.4.0 mailtap: the upstream closed") << close_session();
  ASSERT_FALSE(pb.failed());
  EXPECT_EQ(data_bytes(pb.transcript(), Party::server, Party::client), "");
  EXPECT_EQ(error_code(pb), "upstream_closed");
}

// ---- line limits --------------------------------------------------------------------------------

struct LimitCase {
  Protocol protocol;
  Side side;
  size_t length;  // octets of the offending line, CRLF excluded
  std::string prefix;
};

TEST(SessionLineLimits, LongLinesEndTheSessionWithAProtocolCorrectMessage) {
  const LimitCase cases[] = {
      {Protocol::smtp, Side::client, 511, "NOOP "},  // 513 with CRLF: one over
      {Protocol::imap, Side::client, 8191, "a1 NOOP "},
      {Protocol::pop3, Side::client, 511, "NOOP "},
      {Protocol::smtp, Side::server, 2047, "250 "},
      {Protocol::imap, Side::server, 1 << 20, "* OK "},
      {Protocol::pop3, Side::server, 4095, "+OK "},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(to_string(c.protocol)) + " " + std::string(to_string(c.side)));
    Playbook pb(config_for(c.protocol, TlsMode::plain, TlsMode::plain));
    establish(pb);
    std::string line = c.prefix + std::string(c.length - c.prefix.size(), 'x') + "\r\n";
    pb >> (c.side == Side::client ? from_client(line) : from_server(line))
       << to_client_line_starting(dialect(c.protocol).fatal_prefix) << close_session();
    ASSERT_FALSE(pb.failed());
    EXPECT_EQ(error_code(pb), "line_too_long");
    std::string said = data_bytes(pb.transcript(), Party::mailtap, Party::client);
    EXPECT_NE(said.find("longer than"), std::string::npos) << said;
    // Nothing of the long line went anywhere.
    EXPECT_EQ(pb.watch().sent(other(c.side)).find("xxxx"), std::string::npos);
  }
}

TEST(SessionLineLimits, LinesAtTheLimitPass) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::plain, TlsMode::plain));
  establish(pb);
  std::string line = "NOOP " + std::string(512 - 7, 'x') + "\r\n";
  ASSERT_EQ(line.size(), 512u);
  pb >> from_client(line) << to_server(line);
}

TEST(SessionLineLimits, AnEndlessLineInPiecesIsRefusedBeforeItGrows) {
  Playbook pb(config_for(Protocol::pop3, TlsMode::plain, TlsMode::plain));
  establish(pb);
  std::string piece(100, 'y');
  for (int n = 0; n < 5; ++n) pb >> from_client(piece);  // 500 octets held
  pb >> from_client(piece) << to_client_line_starting("-ERR mailtap: ") << close_session();
  ASSERT_FALSE(pb.failed());
  EXPECT_EQ(error_code(pb), "line_too_long");
}

TEST(SessionLineLimits, SaslLinesMayBeLongerThanCommands) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::plain, TlsMode::plain));
  establish(pb);
  std::string initial = "AUTH PLAIN " + std::string(4000, 'Q') + "\r\n";
  std::string response = std::string(6000, 'R') + "\r\n";
  pb >> from_client(initial) << to_server(initial)
     >> from_server("334 \r\n") << to_client("334 \r\n")
     >> from_client(response) << to_server(response)
     >> from_server("235 2.7.0 Authentication successful\r\n")
     << to_client("235 2.7.0 Authentication successful\r\n")
     // Back to commands: the command limit applies again.
     >> from_client("NOOP " + std::string(600, 'z') + "\r\n")
     << to_client_line_starting("421 4.4.0 mailtap: ") << close_session();
}

TEST(SessionLineLimits, ConfiguredLimitsApply) {
  SessionConfig c = config_for(Protocol::imap, TlsMode::plain, TlsMode::plain);
  c.limits.client_command = 64;
  Playbook pb(c);
  establish(pb);
  pb >> from_client("a1 SELECT " + std::string(60, 'm') + "\r\n")
     << to_client_line_starting("* BYE mailtap: ") << close_session();
}

TEST(SessionLiterals, AbsurdLiteralIsAnErrorNotAnAllocation) {
  for (Side side : {Side::client, Side::server}) {
    SCOPED_TRACE(std::string(to_string(side)));
    Playbook pb(config_for(Protocol::imap, TlsMode::plain, TlsMode::plain));
    establish(pb);
    std::string line = side == Side::client ? "a1 APPEND INBOX {99999999999999999999}\r\n"
                                            : "* 1 FETCH (BODY[] {99999999999999999999}\r\n";
    pb >> (side == Side::client ? from_client(line) : from_server(line))
       << to_client_line_starting("* BYE mailtap: ") << close_session();
    ASSERT_FALSE(pb.failed());
    EXPECT_EQ(error_code(pb), "bad_literal");
    // Not relayed (mailtap's own message to the client names the size, which is fine).
    EXPECT_EQ(data_bytes(pb.transcript(), party_of(side), party_of(other(side))).find("9999"),
              std::string::npos);
  }
}

TEST(SessionLiterals, LargestLegalLiteralIsStreamed) {
  Playbook pb(config_for(Protocol::imap, TlsMode::plain, TlsMode::plain));
  establish(pb);
  pb >> from_client("a1 APPEND INBOX {4294967295+}\r\n")
     << to_server("a1 APPEND INBOX {4294967295+}\r\n")
     >> from_client(std::string(1000, 'L')) << to_server(std::string(1000, 'L'));
  ASSERT_FALSE(pb.failed());
  EXPECT_EQ(data_events(pb.transcript(), Party::client, Party::server).back()->frame,
            FrameKind::literal);
}

TEST(SessionLiterals, BdatWithAnAbsurdSizeIsAnError) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::plain, TlsMode::plain));
  establish(pb);
  pb >> from_client("BDAT 99999999999999999999 LAST\r\n")
     << to_client_line_starting("421 4.4.0 mailtap: ") << close_session();
  ASSERT_FALSE(pb.failed());
  EXPECT_EQ(error_code(pb), "bad_chunk_size");
}

}  // namespace
// clang-format on

}  // namespace mailtap::session::test
