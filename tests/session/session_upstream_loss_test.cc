// Session: the upstream lost while the client waits for it (session_upstream_loss.cc). Other ways
// a session ends (unreachable upstream, TLS failures, timeouts, shutdown, limits, ends with
// nothing outstanding) are in session_lifecycle_test.cc.
//
// The upstream resets or closes before or in the middle of its greeting, during its TLS
// handshake, while mailtap negotiates STARTTLS with it, with a command unanswered, in the middle
// of an SMTP DATA body or BDAT chunk or an IMAP literal, or with the client's STARTTLS unanswered:
// the client gets its protocol's goodbye (`421 4.4.0 mailtap: ...`, `* BYE mailtap: ...`,
// `-ERR mailtap: ...`; expect_goodbye_after), the transcript an `upstream_reset` or
// `upstream_closed` error, and what the server said that was never delivered is recorded.
// In the middle of a reply already partly relayed the connection closes without a goodbye (the
// client would read it as part of the reply); after the server's own goodbye, or with nothing
// outstanding, the end is relayed as a half close.
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

std::string error_code(const Playbook& pb) {
  const auto* e = find_event(pb.transcript(), EventType::error);
  return e ? e->fields.value("code", "") : "";
}
std::string error_message(const Playbook& pb) {
  const auto* e = find_event(pb.transcript(), EventType::error);
  return e ? e->fields.value("message", "") : "";
}
// What mailtap itself said to the client.
std::string said_to_client(const Playbook& pb) {
  return data_bytes(pb.transcript(), Party::mailtap, Party::client);
}
const char* code_for(bool reset) { return reset ? "upstream_reset" : "upstream_closed"; }

// Whether the client was already reading when the upstream went (before the greeting it was not:
// mailtap lets it read to tell it).
enum class ClientReading { already, not_yet };

// The upstream resets (`reset`) or closes while the client waits: the client gets a line starting
// with `goodbye`, the session closes, and the transcript's error says which.
void expect_goodbye_after(Playbook& pb, bool reset, const std::string& goodbye,
                          ClientReading reading = ClientReading::already) {
  pb >> peer_closed(Side::server, reset);
  if (reading == ClientReading::not_yet) pb << start_reading(Side::client);
  pb << to_client_line_starting(goodbye) << close_session();
  ASSERT_FALSE(pb.failed());
  EXPECT_EQ(error_code(pb), code_for(reset));
}

// The server leg's close is recorded before the error, and the session's close comes last.
void expect_order(const Playbook& pb) {
  const auto& t = pb.transcript();
  size_t leg = t.size(), error = t.size();
  for (size_t n = 0; n < t.size(); ++n) {
    if (t[n].type == EventType::close && t[n].fields.value("leg", "") == "server" && leg == t.size())
      leg = n;
    if (t[n].type == EventType::error && error == t.size()) error = n;
  }
  ASSERT_LT(leg, t.size()) << pb.dump_transcript();
  ASSERT_LT(error, t.size()) << pb.dump_transcript();
  EXPECT_LT(leg, error) << pb.dump_transcript();
  EXPECT_EQ(t.back().type, EventType::close);
  EXPECT_EQ(t.back().fields.value("leg", ""), "both");
}

// ---- before the client heard anything ----------------------------------------------------------

TEST(SessionUpstreamLoss, BeforeTheGreetingTheClientIsToldInItsProtocol) {
  for (Protocol p : kProtocols) {
    for (bool reset : {true, false}) {
      SCOPED_TRACE(std::string(to_string(p)) + (reset ? " reset" : " eof"));
      Playbook pb(config_for(p, TlsMode::plain, TlsMode::plain));
      pb >> accepted() << connect_upstream() >> upstream_connected();
      ASSERT_NO_FATAL_FAILURE(
          expect_goodbye_after(pb, reset, dialect(p).fatal_prefix, ClientReading::not_yet));
      std::string said = said_to_client(pb);
      EXPECT_NE(said.find(reset ? "the upstream reset the connection before its greeting"
                                : "the upstream closed the connection before its greeting"),
                std::string::npos) << said;
      expect_order(pb);
      EXPECT_TRUE(pb.session().finished());
    }
  }
}

// The start of a multi-line greeting is held until it is complete: the client has heard none of
// it, so it can be told; what the server said is recorded as never delivered.
TEST(SessionUpstreamLoss, InTheMiddleOfAHeldGreetingTheClientIsToldAndTheGreetingRecorded) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::plain, TlsMode::plain));
  pb >> accepted() << connect_upstream() >> upstream_connected()
     >> from_server("220-mail.example.net\r\n220-more");
  ASSERT_NO_FATAL_FAILURE(expect_goodbye_after(
      pb, true, "421 4.4.0 mailtap: the upstream reset the connection in the middle of its greeting",
      ClientReading::not_yet));
  EXPECT_EQ(data_bytes(pb.transcript(), Party::server, Party::client), "");
  EXPECT_EQ(data_bytes(pb.transcript(), Party::server, Party::mailtap),
            "220-mail.example.net\r\n220-more");
  expect_order(pb);
}

TEST(SessionUpstreamLoss, DuringTheUpstreamTlsHandshakeAPlainClientIsTold) {
  for (Protocol p : kProtocols) {
    SCOPED_TRACE(std::string(to_string(p)));
    Playbook pb(config_for(p, TlsMode::plain, TlsMode::implicit));
    pb >> accepted() << connect_upstream() >> upstream_connected() << start_tls(Side::server);
    ASSERT_NO_FATAL_FAILURE(
        expect_goodbye_after(pb, true, dialect(p).fatal_prefix, ClientReading::not_yet));
    EXPECT_NE(said_to_client(pb).find("during the TLS handshake"), std::string::npos)
        << said_to_client(pb);
    EXPECT_EQ(find_event(pb.transcript(), EventType::tls), nullptr);
    expect_order(pb);
  }
}

// An implicit-TLS client hears why over its TLS, once its handshake is done.
TEST(SessionUpstreamLoss, DuringTheUpstreamTlsHandshakeAnImplicitTlsClientIsToldOverTls) {
  for (Protocol p : kProtocols) {
    SCOPED_TRACE(std::string(to_string(p)));
    Playbook pb(config_for(p, TlsMode::implicit, TlsMode::implicit));
    pb >> accepted() << connect_upstream() >> upstream_connected() << start_tls(Side::server)
       >> peer_closed(Side::server, true)
       << start_reading(Side::client) << start_client_tls_by_host(kUpstreamHost)
       >> tls_established(Side::client)
       << to_client_line_starting(dialect(p).fatal_prefix) << close_session();
    ASSERT_FALSE(pb.failed());
    EXPECT_EQ(error_code(pb), "upstream_reset");
    const auto said = data_events(pb.transcript(), Party::mailtap, Party::client);
    ASSERT_EQ(said.size(), 1u);
    EXPECT_TRUE(said[0]->over_tls);
  }
}

// mailtap negotiates STARTTLS with the upstream itself, the client still waits for its greeting.
TEST(SessionUpstreamLoss, WhileMailtapNegotiatesStarttlsTheClientIsTold) {
  for (Protocol p : kProtocols) {
    SCOPED_TRACE(std::string(to_string(p)));
    const Dialect& d = dialect(p);
    Playbook pb(config_for(p, TlsMode::plain, TlsMode::starttls));
    pb >> accepted() << connect_upstream() >> upstream_connected()
       >> from_server(d.greeting) << to_server(d.negotiation.front().first);
    ASSERT_NO_FATAL_FAILURE(
        expect_goodbye_after(pb, false, d.fatal_prefix, ClientReading::not_yet));
    EXPECT_NE(said_to_client(pb).find("while mailtap negotiated STARTTLS"), std::string::npos);
    // The greeting was held for the client and never delivered.
    EXPECT_EQ(data_bytes(pb.transcript(), Party::server, Party::client), "");
  }
}

// ---- while relaying: the client waits for a reply ---------------------------------------------

TEST(SessionUpstreamLoss, ACommandLeftUnansweredGetsTheProtocolsFatalReply) {
  for (Protocol p : kProtocols) {
    for (bool reset : {true, false}) {
      SCOPED_TRACE(std::string(to_string(p)) + (reset ? " reset" : " eof"));
      const Dialect& d = dialect(p);
      Playbook pb(config_for(p, TlsMode::plain, TlsMode::plain));
      establish(pb);
      pb >> from_client(d.command) << to_server(d.command);
      ASSERT_NO_FATAL_FAILURE(expect_goodbye_after(pb, reset, d.fatal_prefix));
      EXPECT_EQ(said_to_client(pb),
                d.fatal_prefix + (reset ? "the upstream reset" : "the upstream closed") +
                    " the connection before answering the client\r\n");
      expect_order(pb);
    }
  }
}

// The goodbye travels over the client's TLS (the I/O layer encrypts it, as for any Send).
TEST(SessionUpstreamLoss, TheGoodbyeGoesOverTheClientsTls) {
  for (Protocol p : kProtocols) {
    SCOPED_TRACE(std::string(to_string(p)));
    const Dialect& d = dialect(p);
    Playbook pb(config_for(p, TlsMode::starttls, TlsMode::starttls));
    establish(pb);
    pb >> from_client(d.command) << to_server(d.command);
    ASSERT_NO_FATAL_FAILURE(expect_goodbye_after(pb, true, d.fatal_prefix));
    const auto said = data_events(pb.transcript(), Party::mailtap, Party::client);
    ASSERT_FALSE(said.empty());
    EXPECT_TRUE(said.back()->over_tls);
  }
}

TEST(SessionUpstreamLoss, InTheMiddleOfAnSmtpDataBodyTheClientGets421) {
  for (bool reset : {true, false}) {
    SCOPED_TRACE(reset ? "reset" : "eof");
    Playbook pb(config_for(Protocol::smtp, TlsMode::plain, TlsMode::plain));
    establish(pb);
    pb >> from_client("MAIL FROM:<a@x.test>\r\n") << to_server("MAIL FROM:<a@x.test>\r\n")
       >> from_server("250 ok\r\n") << to_client("250 ok\r\n")
       >> from_client("RCPT TO:<b@x.test>\r\n") << to_server("RCPT TO:<b@x.test>\r\n")
       >> from_server("250 ok\r\n") << to_client("250 ok\r\n")
       >> from_client("DATA\r\n") << to_server("DATA\r\n")
       >> from_server("354 go ahead\r\n") << to_client("354 go ahead\r\n")
       >> from_client("Subject: x\r\n\r\npart-one") << to_server("Subject: x\r\n\r\npart-one");
    ASSERT_NO_FATAL_FAILURE(expect_goodbye_after(pb, reset, "421 4.4.0 mailtap: the upstream"));
    EXPECT_NE(said_to_client(pb).find("while the client was sending a message"),
              std::string::npos) << said_to_client(pb);
    expect_order(pb);
  }
}

TEST(SessionUpstreamLoss, InTheMiddleOfABdatChunkTheClientGets421) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::plain, TlsMode::plain));
  establish(pb);
  pb >> from_client("BDAT 100 LAST\r\n") << to_server("BDAT 100 LAST\r\n")
     >> from_client("0123456789") << to_server("0123456789");
  expect_goodbye_after(pb, true, "421 4.4.0 mailtap: the upstream reset");
}

TEST(SessionUpstreamLoss, InTheMiddleOfAnImapLiteralTheClientGetsBye) {
  for (bool synchronizing : {true, false}) {
    SCOPED_TRACE(synchronizing ? "{n}" : "{n+}");
    Playbook pb(config_for(Protocol::imap, TlsMode::plain, TlsMode::plain));
    establish(pb);
    if (synchronizing) {
      pb >> from_client("a1 APPEND INBOX {100}\r\n") << to_server("a1 APPEND INBOX {100}\r\n")
         >> from_server("+ go ahead\r\n") << to_client("+ go ahead\r\n");
    } else {
      pb >> from_client("a1 APPEND INBOX {100+}\r\n") << to_server("a1 APPEND INBOX {100+}\r\n");
    }
    pb >> from_client("LLLLLLLLLL") << to_server("LLLLLLLLLL");
    ASSERT_NO_FATAL_FAILURE(expect_goodbye_after(
        pb, true, "* BYE mailtap: the upstream reset the connection while the client was sending "
                  "a literal"));
    expect_order(pb);
  }
}

TEST(SessionUpstreamLoss, APop3RetrLeftUnansweredGetsErr) {
  Playbook pb(config_for(Protocol::pop3, TlsMode::plain, TlsMode::plain));
  establish(pb);
  pb >> from_client("RETR 1\r\n") << to_server("RETR 1\r\n");
  expect_goodbye_after(pb, true, "-ERR mailtap: the upstream reset");
}

// The server's partial line is not relayed before the goodbye (the client would read the two as
// one line): it is recorded as the server's words to mailtap.
TEST(SessionUpstreamLoss, APartialReplyLineIsRecordedUndeliveredBeforeTheGoodbye) {
  for (Protocol p : kProtocols) {
    SCOPED_TRACE(std::string(to_string(p)));
    const Dialect& d = dialect(p);
    Playbook pb(config_for(p, TlsMode::plain, TlsMode::plain));
    establish(pb);
    std::string partial = d.reply.substr(0, 4);
    pb >> from_client(d.command) << to_server(d.command)
       >> from_server(partial);
    ASSERT_NO_FATAL_FAILURE(expect_goodbye_after(pb, true, d.fatal_prefix));
    EXPECT_EQ(data_bytes(pb.transcript(), Party::server, Party::mailtap), partial);
    EXPECT_EQ(data_bytes(pb.transcript(), Party::server, Party::client), d.greeting);
  }
}

// An EHLO reply mailtap holds (to rewrite its capabilities) has not reached the client at all:
// the client can be told, and the held lines are recorded in the order the server sent them.
TEST(SessionUpstreamLoss, AHeldEhloReplyCutShortIsRecordedAndTheClientGets421) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::starttls, TlsMode::plain));
  open_session(pb);
  pb >> from_client("EHLO a\r\n") << to_server("EHLO a\r\n")
     >> from_server("250-mail.example.net\r\n250-SIZE 1000\r\n") >> from_server("250-PIPE");
  ASSERT_NO_FATAL_FAILURE(expect_goodbye_after(
      pb, false, "421 4.4.0 mailtap: the upstream closed the connection before answering the client"));
  EXPECT_EQ(data_bytes(pb.transcript(), Party::server, Party::mailtap),
            "250-mail.example.net\r\n250-SIZE 1000\r\n250-PIPE");
  EXPECT_EQ(pb.watch().sent(Side::client).find("250-"), std::string::npos);
}

// ---- the client's STARTTLS left unanswered ----------------------------------------------------

TEST(SessionUpstreamLoss, APassedThroughStarttlsLeftUnansweredGetsTheFatalReplyInCleartext) {
  for (Protocol p : kProtocols) {
    SCOPED_TRACE(std::string(to_string(p)));
    const Dialect& d = dialect(p);
    Playbook pb(config_for(p, TlsMode::starttls, TlsMode::starttls));
    open_session(pb);
    pb >> from_client(d.client_starttls) << to_server(d.client_starttls);
    ASSERT_NO_FATAL_FAILURE(expect_goodbye_after(pb, true, d.fatal_prefix));
    EXPECT_FALSE(data_events(pb.transcript(), Party::mailtap, Party::client).back()->over_tls);
  }
}

// The upstream accepted STARTTLS and reset during the handshake: its positive reply was held (the
// client may only hear it once TLS to the upstream is up) and is recorded as undelivered.
TEST(SessionUpstreamLoss, AResetDuringAPassedThroughStarttlsHandshakeRecordsTheHeldReply) {
  for (Protocol p : kProtocols) {
    SCOPED_TRACE(std::string(to_string(p)));
    const Dialect& d = dialect(p);
    Playbook pb(config_for(p, TlsMode::starttls, TlsMode::starttls));
    open_session(pb);
    pb >> from_client(d.client_starttls) << to_server(d.client_starttls)
       >> from_server(d.server_starttls_ok) << start_tls(Side::server);
    ASSERT_NO_FATAL_FAILURE(expect_goodbye_after(pb, true, d.fatal_prefix));
    EXPECT_NE(said_to_client(pb).find("during the TLS handshake"), std::string::npos);
    EXPECT_NE(find_data(pb.transcript(), Party::server, Party::mailtap, d.server_starttls_ok),
              nullptr) << pb.dump_transcript();
    EXPECT_EQ(pb.watch().sent(Side::client).find(d.server_starttls_ok), std::string::npos);
  }
}

// mailtap answers STARTTLS itself once the replies owed before it are out; the upstream ending
// first leaves the client waiting for them.
TEST(SessionUpstreamLoss, ADeferredStarttlsWithRepliesOwedGetsTheFatalReply) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::starttls, TlsMode::plain));
  open_session(pb);
  pb >> from_client("NOOP\r\nSTARTTLS\r\n") << to_server("NOOP\r\n");
  expect_goodbye_after(pb, false, "421 4.4.0 mailtap: the upstream closed");
}

// ---- in the middle of a reply already partly relayed: no goodbye ------------------------------

// A 421 line after "214-..." would be read as the end of that reply; "-ERR" as a line of the
// message; "* BYE" as literal bytes. The rest the server sent is relayed as it is and the client's
// connection closes; the error event says why there was no goodbye.
struct MidReply {
  Protocol protocol;
  std::string command;
  std::string relayed;  // complete frames the client already has
  std::string partial;  // a partial line the server sent last ("" for none)
};

TEST(SessionUpstreamLoss, InTheMiddleOfAPartlyRelayedReplyTheConnectionClosesWithoutAGoodbye) {
  const MidReply cases[] = {
      {Protocol::smtp, "HELP\r\n", "214-line one\r\n", ""},
      {Protocol::smtp, "HELP\r\n", "214-line one\r\n", "214 line t"},
      {Protocol::pop3, "RETR 1\r\n", "+OK 120 octets\r\nSubject: x\r\n\r\nbody ", ""},
      {Protocol::pop3, "LIST\r\n", "+OK\r\n1 120\r\n", "2 1"},
      {Protocol::imap, "a1 FETCH 1 BODY[]\r\n", "* 1 FETCH (BODY[] {100}\r\nSubject: x\r\n", ""},
  };
  for (const auto& c : cases) {
    for (bool reset : {true, false}) {
      SCOPED_TRACE(std::string(to_string(c.protocol)) + " " + printable(c.relayed + c.partial) +
                   (reset ? " reset" : " eof"));
      Playbook pb(config_for(c.protocol, TlsMode::plain, TlsMode::plain));
      establish(pb);
      pb >> from_client(c.command) << to_server(c.command);
      // Each frame the framing cuts is one Send: take them without caring where it cuts.
      pb >> from_server(c.relayed + c.partial);
      std::string relayed;
      for (const Command& cmd : pb.take_pending())
        if (const auto* s = std::get_if<Send>(&cmd)) relayed += s->bytes;
      EXPECT_EQ(relayed, c.relayed);
      pb >> peer_closed(Side::server, reset);
      if (!c.partial.empty()) pb << to_client(c.partial);
      pb << close_session();
      ASSERT_FALSE(pb.failed());
      EXPECT_EQ(said_to_client(pb), "") << "a goodbye in the middle of a reply";
      EXPECT_EQ(data_bytes(pb.transcript(), Party::server, Party::client),
                dialect(c.protocol).greeting + c.relayed + c.partial);
      EXPECT_EQ(error_code(pb), code_for(reset));
      EXPECT_NE(error_message(pb).find("without a goodbye"), std::string::npos)
          << error_message(pb);
      expect_order(pb);
    }
  }
}

// ---- the protocol's ordinary end: unchanged -----------------------------------------------------

TEST(SessionUpstreamLoss, AnEndAfterTheServersGoodbyeIsRelayedAsAHalfClose) {
  struct Case {
    Protocol protocol;
    std::string command, reply;
  };
  const Case cases[] = {
      {Protocol::smtp, "QUIT\r\n", "221 2.0.0 Bye\r\n"},
      {Protocol::imap, "a1 LOGOUT\r\n", "* BYE logging out\r\na1 OK LOGOUT completed\r\n"},
      {Protocol::pop3, "QUIT\r\n", "+OK bye\r\n"},
      // The server's own goodbye with a command still outstanding needs no second one.
      {Protocol::smtp, "NOOP\r\nNOOP\r\n", "421 4.4.2 mail.example.net timeout\r\n"},
      {Protocol::imap, "a2 NOOP\r\n", "* BYE autologout\r\n"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(printable(c.command + c.reply));
    Playbook pb(config_for(c.protocol, TlsMode::plain, TlsMode::plain));
    establish(pb);
    pb >> from_client(c.command);
    for (const Command& cmd : pb.take_pending()) ASSERT_TRUE(std::holds_alternative<Send>(cmd));
    pb >> from_server(c.reply);
    for (const Command& cmd : pb.take_pending()) ASSERT_TRUE(std::holds_alternative<Send>(cmd));
    pb >> peer_closed(Side::server) << shutdown_write(Side::client)
       >> peer_closed(Side::client) << close_session("both sides closed");
    ASSERT_FALSE(pb.failed());
    EXPECT_EQ(said_to_client(pb), "");
    EXPECT_EQ(count_events(pb.transcript(), EventType::error), 0u);
  }
}

TEST(SessionUpstreamLoss, AnEndWithNothingOutstandingIsUnchanged) {
  for (Protocol p : kProtocols) {
    SCOPED_TRACE(std::string(to_string(p)));
    const Dialect& d = dialect(p);
    {
      Playbook pb(config_for(p, TlsMode::plain, TlsMode::plain));
      establish(pb);
      pb >> from_client(d.command) << to_server(d.command)
         >> from_server(d.reply) << to_client(d.reply)
         >> peer_closed(Side::server) << shutdown_write(Side::client);
      ASSERT_FALSE(pb.failed());
      EXPECT_EQ(said_to_client(pb), "");
      EXPECT_EQ(count_events(pb.transcript(), EventType::error), 0u);
    }
    {
      Playbook pb(config_for(p, TlsMode::plain, TlsMode::plain));
      establish(pb);
      pb >> peer_closed(Side::server, true) << close_session();
      ASSERT_FALSE(pb.failed());
      EXPECT_EQ(said_to_client(pb), "");
      EXPECT_EQ(count_events(pb.transcript(), EventType::error), 0u);
    }
  }
}

// A client that pipelined QUIT and then closed its write side still reads: when the upstream
// goes away without answering, it is told why.
TEST(SessionUpstreamLoss, AHalfClosedClientStillWaitingIsTold) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::plain, TlsMode::plain));
  establish(pb);
  pb >> from_client("QUIT\r\n") << to_server("QUIT\r\n")
     >> peer_closed(Side::client) << shutdown_write(Side::server);
  expect_goodbye_after(pb, true, "421 4.4.0 mailtap: the upstream reset");
}

}  // namespace
// clang-format on
}  // namespace mailtap::session::test
