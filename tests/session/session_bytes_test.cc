// Session byte exactness: over a long mixed session per protocol, fed in random pieces, what the
// Session sends to the server is exactly what the client sent, what it sends to the client is
// exactly what the server sent, and the transcript's data events say the same.
#include <gtest/gtest.h>

#include <random>

#include "session/session_script.h"

namespace mailtap::session::test {
namespace {

using transcript::Party;

struct Exchange {
  std::string client;  // what the client sends (may be empty)
  std::string server;  // what the server answers (may be empty)
};

// Drives a Session outside the playbook: the point here is the bytes, not each command.
class Driver {
 public:
  explicit Driver(SessionConfig config)
      : config_(std::move(config)),
        session_(config_, clock_.clock(), sink_),
        watch_(config_, sink_.events) {}

  void feed(const Event& e) {
    watch_.before(e);
    auto out = session_.handle(e);
    std::string violation = watch_.after(out);
    if (!violation.empty()) {
      ADD_FAILURE() << violation;
    }
  }
  void feed_pieces(Side side, const std::string& bytes, std::mt19937& rng) {
    size_t pos = 0;
    while (pos < bytes.size()) {
      size_t n = std::uniform_int_distribution<size_t>(1, 40)(rng);
      n = std::min(n, bytes.size() - pos);
      std::string piece = bytes.substr(pos, n);
      feed(BytesReceived{side, piece});
      pos += n;
    }
  }
  const SessionWatch& watch() const { return watch_; }
  const Transcript& transcript() const { return sink_.events; }
  Session& session() { return session_; }

 private:
  SessionConfig config_;
  FakeClock clock_;
  RecordingSink sink_;
  Session session_;
  SessionWatch watch_;
};

std::vector<Exchange> smtp_session() {
  std::string body =
      "From: a@example.org\r\nTo: b@example.net\r\nSubject: dots\r\n\r\n"
      "..leading dot, stuffed\r\n.\tnot the end\r\n..\r\nSTARTTLS\r\nQUIT\r\n" +
      std::string(3000, 'b') + "\r\nlast line\r\n";
  return {
      {"", "220 mail.example.net ESMTP\r\n"},
      {"EHLO client.example\r\n",
       "250-mail.example.net\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 AUTH LOGIN PLAIN\r\n"},
      {"AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n"},
      {"YWxpY2U=\r\n", "334 UGFzc3dvcmQ6\r\n"},
      {"c2VjcmV0\r\n", "235 2.7.0 Authentication successful\r\n"},
      {"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nRCPT "
       "TO:<c@example.net>\r\nDATA\r\n",
       "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"},
      {body + ".\r\n", "250 2.0.0 Ok: queued as 4Xyz\r\n"},
      {"RSET\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n",
       "250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"},
      {"BDAT 17\r\nline one\r\n.\r\nSTAR", "250 2.0.0 17 octets received\r\n"},
      {"BDAT 12 LAST\r\nTTLS\r\nQUIT\r\n", "250 2.0.0 Ok: queued as 5Abc\r\n"},
      {"NOOP\r\n", "250 2.0.0 Ok\r\n"},
      {"QUIT\r\n", "221 2.0.0 Bye\r\n"},
  };
}

std::vector<Exchange> imap_session() {
  std::string message = "From: a@example.org\r\nSubject: x\r\n\r\nb STARTTLS\r\n{5}\r\nbody\r\n";
  std::string size = std::to_string(message.size());
  return {
      {"", "* OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN] ready\r\n"},
      {"a1 LOGIN {5}\r\n", "+ ready\r\n"},
      {"alice {6+}\r\nsecret\r\n", "a1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n"},
      {"a2 SELECT INBOX\r\n",
       "* 2 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"
       "a2 OK [READ-WRITE] SELECT completed\r\n"},
      {"a3 APPEND INBOX (\\Seen) {" + size + "}\r\n", "+ Ready for literal data\r\n"},
      {message + "\r\n", "a3 OK APPEND completed\r\n"},
      {"a4 FETCH 1 (FLAGS BODY[])\r\n", "* 1 FETCH (FLAGS (\\Seen) BODY[] {" + size + "}\r\n" +
                                            message + ")\r\n" + "a4 OK FETCH completed\r\n"},
      {"a5 IDLE\r\n", "+ idling\r\n* 3 EXISTS\r\n"},
      {"DONE\r\n", "a5 OK IDLE terminated\r\n"},
      {"a6 LOGOUT\r\n", "* BYE logging out\r\na6 OK LOGOUT completed\r\n"},
  };
}

std::vector<Exchange> pop3_session() {
  std::string message = "From: a@example.org\r\n\r\n..stuffed\r\n+OK not a reply\r\n.x\r\n" +
                        std::string(2000, 'p') + "\r\n";
  return {
      {"", "+OK POP3 ready\r\n"},
      {"CAPA\r\n", "+OK Capability list follows\r\nUSER\r\nSASL PLAIN\r\nPIPELINING\r\n.\r\n"},
      {"AUTH PLAIN\r\n", "+ \r\n"},
      {"AGFsaWNlAHNlY3JldA==\r\n", "+OK Logged in.\r\n"},
      {"STAT\r\nLIST\r\nUIDL 1\r\n",
       "+OK 2 4096\r\n+OK 2 messages\r\n1 2048\r\n2 2048\r\n.\r\n"
       "+OK 1 whqtswO00WBw418f9t5JxYwZ\r\n"},
      {"RETR 1\r\n", "+OK 2048 octets\r\n" + message + ".\r\n"},
      {"TOP 2 0\r\n", "+OK\r\nSubject: y\r\n\r\n.\r\n"},
      {"RETR 9\r\n", "-ERR no such message\r\n"},
      {"DELE 1\r\nQUIT\r\n", "+OK deleted\r\n+OK bye\r\n"},
  };
}

void run_exactly(Protocol protocol, const std::vector<Exchange>& script, unsigned seed) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  Driver d(config_for(protocol, TlsMode::plain, TlsMode::plain));
  d.feed(ClientAccepted{"127.0.0.1:50000", "127.0.0.1:2525"});
  d.feed(UpstreamConnected{"192.0.2.25:25"});
  std::string from_client, from_server;
  for (const auto& x : script) {
    d.feed_pieces(Side::client, x.client, rng);
    d.feed_pieces(Side::server, x.server, rng);
    from_client += x.client;
    from_server += x.server;
  }
  d.feed(PeerClosed{Side::client, false, {}});
  d.feed(PeerClosed{Side::server, false, {}});
  ASSERT_TRUE(d.session().finished());
  ASSERT_TRUE(d.watch().closed());
  EXPECT_EQ(d.watch().sent(Side::server), from_client);
  EXPECT_EQ(d.watch().sent(Side::client), from_server);
  EXPECT_EQ(data_bytes(d.transcript(), Party::client, Party::server), from_client);
  EXPECT_EQ(data_bytes(d.transcript(), Party::server, Party::client), from_server);
  for (const auto& e : d.transcript()) {
    EXPECT_NE(e.type, transcript::EventType::warning) << describe(e);
    EXPECT_NE(e.type, transcript::EventType::error) << describe(e);
  }
}

TEST(SessionBytes, SmtpRelaysEveryByteExactly) {
  for (unsigned seed = 1; seed <= 40; ++seed) run_exactly(Protocol::smtp, smtp_session(), seed);
}

TEST(SessionBytes, ImapRelaysEveryByteExactly) {
  for (unsigned seed = 1; seed <= 40; ++seed) run_exactly(Protocol::imap, imap_session(), seed);
}

TEST(SessionBytes, Pop3RelaysEveryByteExactly) {
  for (unsigned seed = 1; seed <= 40; ++seed) run_exactly(Protocol::pop3, pop3_session(), seed);
}

// The same with TLS on both legs and STARTTLS passed through: inside TLS, still exact.
TEST(SessionBytes, SmtpRelaysExactlyAfterPassthroughStarttls) {
  std::mt19937 rng(7);
  Driver d(config_for(Protocol::smtp, TlsMode::starttls, TlsMode::starttls));
  d.feed(ClientAccepted{"127.0.0.1:50000", "127.0.0.1:2525"});
  d.feed(UpstreamConnected{"192.0.2.25:25"});
  d.feed(BytesReceived{Side::server, "220 hi\r\n"});
  d.feed(BytesReceived{Side::client, "EHLO c\r\n"});
  d.feed(BytesReceived{Side::server, "250-mx\r\n250 STARTTLS\r\n"});
  d.feed(BytesReceived{Side::client, "STARTTLS\r\n"});
  d.feed(BytesReceived{Side::server, "220 go\r\n"});
  d.feed(TlsEstablished{Side::server, tls_info(Side::server)});
  d.feed(TlsEstablished{Side::client, tls_info(Side::client)});
  std::string before_client = d.watch().sent(Side::server);
  std::string before_server = d.watch().sent(Side::client);
  ASSERT_EQ(before_client, "EHLO c\r\nSTARTTLS\r\n");
  ASSERT_EQ(before_server, "220 hi\r\n250-mx\r\n250 STARTTLS\r\n220 go\r\n");
  std::string from_client, from_server;
  auto script = smtp_session();
  for (size_t n = 1; n < script.size(); ++n) {
    d.feed_pieces(Side::client, script[n].client, rng);
    d.feed_pieces(Side::server, script[n].server, rng);
    from_client += script[n].client;
    from_server += script[n].server;
  }
  EXPECT_EQ(d.watch().sent(Side::server), before_client + from_client);
  EXPECT_EQ(d.watch().sent(Side::client), before_server + from_server);
  for (const auto* e : data_events(d.transcript(), Party::client, Party::server))
    if (e->bytes != "EHLO c\r\n" && e->bytes != "STARTTLS\r\n") {
      EXPECT_TRUE(e->over_tls) << describe(*e);
    }
}

}  // namespace
}  // namespace mailtap::session::test
