// Session: the STARTTLS bar of GUIDE §3 — command injection after STARTTLS, response injection
// after the positive reply, stripping (no STARTTLS offered, or refused, while TLS to the upstream
// is required), credentials held back in cleartext, literals that read like commands, bytes that
// look like a ClientHello — and the capability rewriting that makes each mode work.
#include <gtest/gtest.h>

#include "session/session_script.h"

namespace mailtap::session::test {

// Playbooks are laid out one step per line, which clang-format cannot keep.
// clang-format off
namespace {

using transcript::EventType;
using transcript::FrameKind;
using transcript::Party;

// ---- command injection (CVE-2011-0411 class) -------------------------------------------------

TEST(StarttlsCommandInjection, SmtpPassthroughRsetNeverReachesTheServer) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::starttls, TlsMode::starttls));
  open_session(pb);
  pb >> from_client("EHLO a\r\nSTARTTLS\r\nRSET\r\n")
     << to_server("EHLO a\r\n") << to_server("STARTTLS\r\n")
     >> from_server("250-mail.example.net\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
     << to_client("250-mail.example.net\r\n") << to_client("250-PIPELINING\r\n")
     << to_client("250 STARTTLS\r\n")
     >> from_server("220 2.0.0 Ready to start TLS\r\n") << start_tls(Side::server)
     >> tls_established(Side::server) << to_client("220 2.0.0 Ready to start TLS\r\n")
     << start_client_tls(pb.config()) >> tls_established(Side::client);
  ASSERT_FALSE(pb.failed());
  const auto& t = pb.transcript();
  EXPECT_NE(find_data(t, Party::client, Party::mailtap, "RSET\r\n"), nullptr)
      << pb.dump_transcript();
  EXPECT_EQ(data_bytes(t, Party::client, Party::server).find("RSET"), std::string::npos);
  EXPECT_TRUE(has_warning(t, "starttls_command_injection"));

  // The dropped RSET leaves no trace in the reply pairing: inside TLS, DATA's 354 still opens
  // the message body (a body framed as commands would be mangled or refused).
  pb >> from_client("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
     << to_server("MAIL FROM:<a@example.org>\r\n") << to_server("RCPT TO:<b@example.net>\r\n")
     << to_server("DATA\r\n")
     >> from_server("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n")
     << to_client("250 2.1.0 Ok\r\n") << to_client("250 2.1.5 Ok\r\n")
     << to_client("354 End data with <CR><LF>.<CR><LF>\r\n")
     >> from_client("Subject: x\r\n\r\nSTARTTLS\r\n.\r\n")
     << to_server("Subject: x\r\n\r\nSTARTTLS\r\n") << to_server(".\r\n");
  ASSERT_FALSE(pb.failed());
  const auto* body = find_data(t, Party::client, Party::server, "Subject: x\r\n\r\nSTARTTLS\r\n");
  ASSERT_NE(body, nullptr) << pb.dump_transcript();
  EXPECT_EQ(body->frame, FrameKind::body);
}

TEST(StarttlsCommandInjection, SmtpAnsweredByMailtapRsetNeverReachesTheServer) {
  for (TlsMode upstream : {TlsMode::plain, TlsMode::implicit}) {
    SCOPED_TRACE("upstream " + mode_name(upstream));
    Playbook pb(config_for(Protocol::smtp, TlsMode::starttls, upstream));
    open_session(pb);
    pb >> from_client("EHLO a\r\n") << to_server("EHLO a\r\n")
       >> from_server("250-mail.example.net\r\n250 PIPELINING\r\n")
       << to_client("250-mail.example.net\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
       >> from_client("STARTTLS\r\nRSET\r\n")
       << to_client("220 2.0.0 Ready to start TLS (mailtap)\r\n") << start_client_tls(pb.config())
       >> tls_established(Side::client)
       >> from_client("MAIL FROM:<a@example.org>\r\n") << to_server("MAIL FROM:<a@example.org>\r\n")
       >> from_server("250 2.1.0 Ok\r\n") << to_client("250 2.1.0 Ok\r\n")
       >> from_client("RCPT TO:<b@example.net>\r\n") << to_server("RCPT TO:<b@example.net>\r\n")
       >> from_server("250 2.1.5 Ok\r\n") << to_client("250 2.1.5 Ok\r\n")
       >> from_client("DATA\r\n") << to_server("DATA\r\n")
       >> from_server("354 go ahead\r\n") << to_client("354 go ahead\r\n")
       >> from_client("hello\r\n.\r\n") << to_server("hello\r\n") << to_server(".\r\n");
    ASSERT_FALSE(pb.failed());
    const auto& t = pb.transcript();
    EXPECT_NE(find_data(t, Party::client, Party::mailtap, "RSET\r\n"), nullptr);
    EXPECT_NE(find_data(t, Party::client, Party::mailtap, "STARTTLS\r\n"), nullptr);
    EXPECT_TRUE(has_warning(t, "starttls_command_injection"));
    const auto* body = find_data(t, Party::client, Party::server, "hello\r\n");
    ASSERT_NE(body, nullptr);
    EXPECT_EQ(body->frame, FrameKind::body) << pb.dump_transcript();
  }
}

// RFC 2920 lets EHLO only end a pipelined group, but a client may still send EHLO and STARTTLS
// in one segment. When mailtap answers STARTTLS itself, its answer must wait for the EHLO reply,
// which the client expects first, in cleartext. (Found by tests/integration/test_attacks.py:
// mailtap used to answer at once, so the client read "220" as its EHLO reply and the EHLO reply
// arrived after StartTls, inside the TLS stream.)
TEST(StarttlsCommandInjection, SmtpAnsweredByMailtapWaitsForEarlierReplies) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::starttls, TlsMode::plain));
  open_session(pb);
  pb >> from_client("EHLO a\r\nSTARTTLS\r\nRSET\r\n") << to_server("EHLO a\r\n")
     >> from_client("NOOP\r\n")  // still before the answer: dropped as well
     >> from_server("250-mail.example.net\r\n")  // half the reply: still owed, nothing sent
     >> from_server("250 PIPELINING\r\n")
     << to_client("250-mail.example.net\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
     << to_client("220 2.0.0 Ready to start TLS (mailtap)\r\n")
     << start_client_tls(pb.config())
     >> tls_established(Side::client) >> from_client("EHLO b\r\n") << to_server("EHLO b\r\n");
  ASSERT_FALSE(pb.failed());
  const auto& t = pb.transcript();
  EXPECT_EQ(data_bytes(t, Party::client, Party::server), "EHLO a\r\nEHLO b\r\n");
  EXPECT_NE(find_data(t, Party::client, Party::mailtap, "RSET\r\n"), nullptr);
  EXPECT_NE(find_data(t, Party::client, Party::mailtap, "NOOP\r\n"), nullptr);
  EXPECT_TRUE(has_warning(t, "starttls_command_injection"));
}

// The same for IMAP (a tagged command still open) and POP3 (a multi-line reply under way).
TEST(StarttlsCommandInjection, ImapAnsweredByMailtapWaitsForOpenCommands) {
  Playbook pb(config_for(Protocol::imap, TlsMode::starttls, TlsMode::plain));
  open_session(pb);
  pb >> from_client("a NOOP\r\nb STARTTLS\r\nc NOOP\r\n") << to_server("a NOOP\r\n")
     >> from_server("* 3 EXISTS\r\n") << to_client("* 3 EXISTS\r\n")
     >> from_server("a OK NOOP completed\r\n") << to_client("a OK NOOP completed\r\n")
     << to_client("b OK Begin TLS negotiation now (mailtap)\r\n")
     << start_client_tls(pb.config());
  ASSERT_FALSE(pb.failed());
  EXPECT_NE(find_data(pb.transcript(), Party::client, Party::mailtap, "c NOOP\r\n"), nullptr);
}

TEST(StarttlsCommandInjection, Pop3AnsweredByMailtapWaitsForTheWholeList) {
  Playbook pb(config_for(Protocol::pop3, TlsMode::starttls, TlsMode::plain));
  open_session(pb);
  pb >> from_client("CAPA\r\nSTLS\r\n") << to_server("CAPA\r\n")
     >> from_server("+OK Capability list follows\r\nUSER\r\n")
     << to_client("+OK Capability list follows\r\n") << to_client("USER\r\n")
     >> from_server(".\r\n") << to_client("STLS\r\n.\r\n")
     << to_client("+OK Begin TLS negotiation (mailtap)\r\n") << start_client_tls(pb.config());
  ASSERT_FALSE(pb.failed());
}

// Bytes that arrive in a later segment but before the handshake are dropped too.
TEST(StarttlsCommandInjection, SmtpLaterSegmentBeforeTheReplyIsDropped) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::starttls, TlsMode::starttls));
  open_session(pb);
  pb >> from_client("STARTTLS\r\n") << to_server("STARTTLS\r\n")
     >> from_client("MAIL FROM:<evil@example.org>\r\n")  // nothing forwarded
     >> from_server("220 go\r\n") << start_tls(Side::server);
  ASSERT_FALSE(pb.failed());
  EXPECT_NE(find_data(pb.transcript(), Party::client, Party::mailtap,
                      "MAIL FROM:<evil@example.org>\r\n"),
            nullptr);
  EXPECT_TRUE(has_warning(pb.transcript(), "starttls_command_injection"));
}

TEST(StarttlsCommandInjection, ImapNoopAfterStarttlsIsDropped) {
  for (TlsMode upstream : {TlsMode::plain, TlsMode::implicit, TlsMode::starttls}) {
    SCOPED_TRACE("upstream " + mode_name(upstream));
    Playbook pb(config_for(Protocol::imap, TlsMode::starttls, upstream));
    open_session(pb);
    if (upstream == TlsMode::starttls) {
      pb >> from_client("a STARTTLS\r\nb NOOP\r\n") << to_server("a STARTTLS\r\n")
         >> from_server("a OK Begin TLS negotiation now\r\n") << start_tls(Side::server)
         >> tls_established(Side::server) << to_client("a OK Begin TLS negotiation now\r\n")
         << start_client_tls(pb.config());
    } else {
      pb >> from_client("a STARTTLS\r\nb NOOP\r\n")
         << to_client("a OK Begin TLS negotiation now (mailtap)\r\n")
         << start_client_tls(pb.config());
    }
    pb >> tls_established(Side::client) >> from_client("c NOOP\r\n") << to_server("c NOOP\r\n");
    ASSERT_FALSE(pb.failed());
    EXPECT_NE(find_data(pb.transcript(), Party::client, Party::mailtap, "b NOOP\r\n"), nullptr);
    EXPECT_EQ(data_bytes(pb.transcript(), Party::client, Party::server).find("b NOOP"),
              std::string::npos);
    EXPECT_TRUE(has_warning(pb.transcript(), "starttls_command_injection"));
  }
}

TEST(StarttlsCommandInjection, ImapPendingLiteralIsForgottenAtTheSwitch) {
  // A literal announced in the injected bytes must not swallow the first commands inside TLS.
  Playbook pb(config_for(Protocol::imap, TlsMode::starttls, TlsMode::plain));
  open_session(pb);
  pb >> from_client("a STARTTLS\r\nb APPEND INBOX {40+}\r\nabc")
     << to_client("a OK Begin TLS negotiation now (mailtap)\r\n") << start_client_tls(pb.config())
     >> tls_established(Side::client)
     >> from_client("c COMPRESS DEFLATE\r\n")  // a command, refused by mailtap: not literal data
     << to_client_line_starting("c NO mailtap: COMPRESS");
}

TEST(StarttlsCommandInjection, Pop3CapaAfterStlsIsDropped) {
  for (TlsMode upstream : {TlsMode::plain, TlsMode::starttls}) {
    SCOPED_TRACE("upstream " + mode_name(upstream));
    Playbook pb(config_for(Protocol::pop3, TlsMode::starttls, upstream));
    open_session(pb);
    if (upstream == TlsMode::starttls) {
      pb >> from_client("STLS\r\nCAPA\r\n") << to_server("STLS\r\n")
         >> from_server("+OK Begin TLS\r\n") << start_tls(Side::server)
         >> tls_established(Side::server) << to_client("+OK Begin TLS\r\n")
         << start_client_tls(pb.config());
    } else {
      pb >> from_client("STLS\r\nCAPA\r\n")
         << to_client("+OK Begin TLS negotiation (mailtap)\r\n") << start_client_tls(pb.config());
    }
    pb >> tls_established(Side::client)
       // The dropped CAPA must not make mailtap read the next reply as a capability list.
       >> from_client("STAT\r\n") << to_server("STAT\r\n")
       >> from_server("+OK 2 320\r\n") << to_client("+OK 2 320\r\n")
       >> from_client("RETR 1\r\n") << to_server("RETR 1\r\n")
       >> from_server("+OK 120 octets\r\nline\r\n.\r\n") << to_client("+OK 120 octets\r\n")
       << to_client("line\r\n") << to_client(".\r\n");
    ASSERT_FALSE(pb.failed());
    EXPECT_NE(find_data(pb.transcript(), Party::client, Party::mailtap, "CAPA\r\n"), nullptr);
    EXPECT_TRUE(has_warning(pb.transcript(), "starttls_command_injection"));
    const auto* body = find_data(pb.transcript(), Party::server, Party::client, "line\r\n");
    ASSERT_NE(body, nullptr);
    EXPECT_EQ(body->frame, FrameKind::body);
  }
}

// ---- response injection (NO STARTTLS; curl CVE-2021-22947) ------------------------------------

TEST(StarttlsResponseInjection, SmtpPassthroughExtraReplyAbortsBeforeAnyTls) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::starttls, TlsMode::starttls));
  open_session(pb);
  pb >> from_client("STARTTLS\r\n") << to_server("STARTTLS\r\n")
     >> from_server("220 Ready\r\n250 AUTH LOGIN\r\n")
     // The client hears why in plaintext (it never got its 220), then the session ends: no TLS
     // is started towards an upstream that injected cleartext.
     << to_client_line_starting("421 4.4.0 mailtap: ") << close_session();
  ASSERT_FALSE(pb.failed());
  const auto& t = pb.transcript();
  EXPECT_TRUE(has_error(t, "starttls_response_injection"));
  EXPECT_NE(find_data(t, Party::server, Party::mailtap, "250 AUTH LOGIN\r\n"), nullptr);
  EXPECT_EQ(data_bytes(t, Party::mailtap, Party::client).find("250 AUTH"), std::string::npos);
  EXPECT_EQ(data_bytes(t, Party::server, Party::client).find("250 AUTH"), std::string::npos);
  // The positive reply itself is in the transcript, as never delivered.
  EXPECT_NE(find_data(t, Party::server, Party::mailtap, "220 Ready\r\n"), nullptr)
      << pb.dump_transcript();
  EXPECT_TRUE(pb.session().finished());
}

TEST(StarttlsResponseInjection, NegotiatedByMailtapExtraReplyAborts) {
  struct Case {
    Protocol protocol;
    std::vector<std::pair<std::string, std::string>> steps;  // mailtap says, server answers
  };
  const Case cases[] = {
      {Protocol::smtp,
       {{"EHLO mailtap.invalid\r\n", "250 STARTTLS\r\n"},
        {"STARTTLS\r\n", "220 Ready\r\n250 AUTH LOGIN\r\n"}}},
      {Protocol::imap,
       {{"mailtap1 STARTTLS\r\n", "mailtap1 OK go\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n"}}},
      {Protocol::pop3, {{"STLS\r\n", "+OK go\r\n+OK injected\r\n"}}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(to_string(c.protocol)));
    Playbook pb(config_for(c.protocol, TlsMode::plain, TlsMode::starttls));
    const Dialect& d = dialect(c.protocol);
    pb >> accepted() << connect_upstream() >> upstream_connected() >> from_server(d.greeting);
    for (size_t n = 0; n + 1 < c.steps.size(); ++n)
      pb << to_server(c.steps[n].first) >> from_server(c.steps[n].second);
    pb << to_server(c.steps.back().first) >> from_server(c.steps.back().second)
       << start_reading(Side::client) << to_client_line_starting(d.fatal_prefix)
       << close_session();
    ASSERT_FALSE(pb.failed());
    EXPECT_TRUE(has_error(pb.transcript(), "starttls_response_injection"));
    // Nothing the upstream said reached the client, not even its greeting.
    EXPECT_EQ(data_bytes(pb.transcript(), Party::server, Party::client), "");
  }
}

// ---- stripping: STARTTLS not offered or refused while TLS to the upstream is required ----------

TEST(StarttlsStripping, NegotiationFailsClosedWithAClearError) {
  struct Case {
    std::string name;
    Protocol protocol;
    std::vector<std::pair<std::string, std::string>> steps;
  };
  const Case cases[] = {
      {"smtp not offered", Protocol::smtp,
       {{"EHLO mailtap.invalid\r\n", "250-mail.example.net\r\n250 AUTH PLAIN LOGIN\r\n"}}},
      {"smtp 454", Protocol::smtp,
       {{"EHLO mailtap.invalid\r\n", "250 STARTTLS\r\n"},
        {"STARTTLS\r\n", "454 4.7.0 TLS not available due to local problem\r\n"}}},
      {"smtp EHLO refused", Protocol::smtp,
       {{"EHLO mailtap.invalid\r\n", "550 5.7.1 go away\r\n"}}},
      {"imap NO", Protocol::imap, {{"mailtap1 STARTTLS\r\n", "mailtap1 NO not today\r\n"}}},
      {"imap BAD", Protocol::imap, {{"mailtap1 STARTTLS\r\n", "mailtap1 BAD unknown command\r\n"}}},
      {"pop3 -ERR", Protocol::pop3, {{"STLS\r\n", "-ERR command not supported\r\n"}}},
  };
  for (const auto& c : cases) {
    for (TlsMode client : {TlsMode::plain, TlsMode::implicit}) {
      SCOPED_TRACE(c.name + ", client " + mode_name(client));
      Playbook pb(config_for(c.protocol, client, TlsMode::starttls));
      const Dialect& d = dialect(c.protocol);
      pb >> accepted() << connect_upstream() >> upstream_connected() >> from_server(d.greeting);
      for (size_t n = 0; n + 1 < c.steps.size(); ++n)
        pb << to_server(c.steps[n].first) >> from_server(c.steps[n].second);
      pb << to_server(c.steps.back().first) >> from_server(c.steps.back().second)
         << start_reading(Side::client);
      if (client == TlsMode::implicit) {
        // The client expects TLS first: shake hands, then say why.
        pb << start_client_tls_by_host(kUpstreamHost) >> tls_established(Side::client);
      }
      pb << to_client_line_starting(d.fatal_prefix) << close_session();
      ASSERT_FALSE(pb.failed());
      const auto* error = find_event(pb.transcript(), EventType::error);
      ASSERT_NE(error, nullptr);
      EXPECT_EQ(error->fields.value("code", ""), "upstream_starttls_unavailable");
      // Says what the upstream did, in its words.
      std::string last_reply(c.steps.back().second);
      last_reply = last_reply.substr(last_reply.rfind('\n', last_reply.size() - 2) + 1);
      std::string message = error->fields.value("message", "");
      EXPECT_NE(message.find("upstream"), std::string::npos) << message;
      EXPECT_TRUE(message.find(last_reply.substr(0, last_reply.size() - 2)) != std::string::npos ||
                  message.find("does not offer STARTTLS") != std::string::npos)
          << message;
      EXPECT_EQ(data_bytes(pb.transcript(), Party::server, Party::client), "");
    }
  }
}

// STARTTLS takes no continuation: "334", "+ " where its reply is due is neither an acceptance nor
// a refusal, and the server now waits for something. Found by tests/integration/test_attacks.py:
// IMAP used to wait for a tagged reply that never came (the client heard nothing), and in
// passthrough the continuation was relayed, leaving the client's next line (its credentials)
// dropped as injection with no answer.
TEST(StarttlsStripping, ContinuationInsteadOfAReplyEndsTheSession) {
  struct Case {
    Protocol protocol;
    std::string reply;
  };
  const Case cases[] = {{Protocol::smtp, "334 \r\n"},
                        {Protocol::imap, "+ go ahead\r\n"},
                        {Protocol::pop3, "+ \r\n"}};
  for (const auto& c : cases) {
    for (TlsMode client : {TlsMode::starttls, TlsMode::plain}) {
      SCOPED_TRACE(std::string(to_string(c.protocol)) + ", client " + mode_name(client));
      Playbook pb(config_for(c.protocol, client, TlsMode::starttls));
      const Dialect& d = dialect(c.protocol);
      if (client == TlsMode::starttls) {
        open_session(pb);
        std::string command = c.protocol == Protocol::smtp   ? "STARTTLS\r\n"
                              : c.protocol == Protocol::imap ? "a STARTTLS\r\n"
                                                             : "STLS\r\n";
        pb >> from_client(command) << to_server(command) >> from_server(c.reply);
      } else {
        pb >> accepted() << connect_upstream() >> upstream_connected() >> from_server(d.greeting);
        if (c.protocol == Protocol::smtp)
          pb << to_server("EHLO mailtap.invalid\r\n") >> from_server("250 STARTTLS\r\n");
        pb << to_server(c.protocol == Protocol::imap ? "mailtap1 STARTTLS\r\n"
                        : c.protocol == Protocol::smtp ? "STARTTLS\r\n" : "STLS\r\n")
           >> from_server(c.reply) << start_reading(Side::client);
      }
      pb << to_client_line_starting(d.fatal_prefix) << close_session();
      ASSERT_FALSE(pb.failed());
      const auto* error = find_event(pb.transcript(), EventType::error);
      ASSERT_NE(error, nullptr);
      EXPECT_EQ(error->fields.value("code", ""), "upstream_starttls_unavailable");
      EXPECT_NE(error->fields.value("message", "").find("continuation"), std::string::npos);
      EXPECT_EQ(data_bytes(pb.transcript(), Party::server, Party::client).find(c.reply),
                std::string::npos);
      EXPECT_NE(find_data(pb.transcript(), Party::server, Party::mailtap, c.reply), nullptr)
          << pb.dump_transcript();
    }
  }
}

TEST(StarttlsStripping, ImapPreauthGreetingFailsClosedWhenNegotiating) {
  Playbook pb(config_for(Protocol::imap, TlsMode::plain, TlsMode::starttls));
  pb >> accepted() << connect_upstream() >> upstream_connected()
     >> from_server("* PREAUTH IMAP4rev1 server logged in as alice\r\n")
     << start_reading(Side::client) << to_client_line_starting("* BYE mailtap: ")
     << close_session();
  ASSERT_FALSE(pb.failed());
  EXPECT_TRUE(has_error(pb.transcript(), "upstream_starttls_unavailable"));
  EXPECT_EQ(data_bytes(pb.transcript(), Party::server, Party::client), "");
}

// With STARTTLS passed through, a PREAUTH greeting makes STARTTLS impossible just the same: the
// session would carry a logged-in mailbox over a cleartext upstream leg.
TEST(StarttlsStripping, ImapPreauthGreetingFailsClosedWhenPassingThrough) {
  Playbook pb(config_for(Protocol::imap, TlsMode::starttls, TlsMode::starttls));
  pb >> accepted() << connect_upstream() >> upstream_connected()
     >> from_server("* PREAUTH IMAP4rev1 server logged in as alice\r\n")
     << start_reading(Side::client) << to_client_line_starting("* BYE mailtap: ")
     << close_session();
  ASSERT_FALSE(pb.failed());
  EXPECT_TRUE(has_error(pb.transcript(), "upstream_starttls_unavailable"));
}

TEST(StarttlsStripping, PassthroughRefusalIsRelayedAndCredentialsAreHeldBack) {
  struct Case {
    Protocol protocol;
    std::string refusal;
    std::string credentials;
    std::string tls_required_prefix;
  };
  const Case cases[] = {
      {Protocol::smtp, "454 4.7.0 TLS not available\r\n", "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
       "530 5.7.0 mailtap: "},
      {Protocol::imap, "a1 NO STARTTLS failed\r\n", "a2 LOGIN alice secret\r\n",
       "a2 NO [PRIVACYREQUIRED] mailtap: "},
      {Protocol::imap, "a1 BAD unknown\r\n", "a2 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n",
       "a2 NO [PRIVACYREQUIRED] mailtap: "},
      {Protocol::pop3, "-ERR not now\r\n", "USER alice\r\n", "-ERR mailtap: "},
      {Protocol::pop3, "-ERR not now\r\n", "PASS secret\r\n", "-ERR mailtap: "},
      {Protocol::pop3, "-ERR not now\r\n", "APOP alice c4c9334bac560ecc979e58001b3e22fb\r\n",
       "-ERR mailtap: "},
      {Protocol::pop3, "-ERR not now\r\n", "AUTH PLAIN\r\n", "-ERR mailtap: "},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.credentials);
    Playbook pb(config_for(c.protocol, TlsMode::starttls, TlsMode::starttls));
    const Dialect& d = dialect(c.protocol);
    open_session(pb);
    pb >> from_client(d.client_starttls) << to_server(d.client_starttls)
       >> from_server(c.refusal) << to_client(c.refusal)
       >> from_client(c.credentials) << to_client_line_starting(c.tls_required_prefix);
    ASSERT_FALSE(pb.failed());
    const auto& t = pb.transcript();
    EXPECT_TRUE(has_warning(t, "upstream_refused_starttls"));
    EXPECT_TRUE(has_warning(t, "credentials_blocked"));
    EXPECT_NE(find_data(t, Party::client, Party::mailtap, c.credentials), nullptr);
    EXPECT_EQ(find_data(t, Party::client, Party::server, c.credentials), nullptr);
  }
}

// The upstream never offered STARTTLS; the client sends credentials anyway.
TEST(StarttlsStripping, PassthroughCredentialsBeforeStarttlsAreHeldBack) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::starttls, TlsMode::starttls));
  open_session(pb);
  pb >> from_client("EHLO c\r\n") << to_server("EHLO c\r\n")
     >> from_server("250-mail.example.net\r\n250 AUTH LOGIN PLAIN\r\n")
     << to_client("250-mail.example.net\r\n") << to_client("250 AUTH LOGIN PLAIN\r\n")
     >> from_client("AUTH LOGIN\r\n") << to_client_line_starting("530 5.7.0 mailtap: ")
     // A well-behaved client stops here; the next command still works.
     >> from_client("QUIT\r\n") << to_server("QUIT\r\n");
  ASSERT_FALSE(pb.failed());
  EXPECT_TRUE(has_warning(pb.transcript(), "credentials_blocked"));
}

// RFC 7888 LITERAL+: the rest of a held-back LOGIN arrives without waiting for the server. It is
// the password: none of it may reach the server. The rest of the command cannot be told from the
// next one, so the session ends.
TEST(StarttlsStripping, ImapNonSynchronizingLiteralOfAHeldBackLoginEndsTheSession) {
  for (std::string split : {"", "alice"}) {
    SCOPED_TRACE(split.empty() ? "one segment" : "two segments");
    Playbook pb(config_for(Protocol::imap, TlsMode::starttls, TlsMode::starttls));
    open_session(pb);
    std::string all = "a2 LOGIN {5+}\r\nalice {6+}\r\nsecret\r\n";
    std::string first = split.empty() ? all : "a2 LOGIN {5+}\r\n";
    pb >> from_client(first) << to_client_line_starting("* BYE mailtap: ") << close_session();
    if (!split.empty()) pb >> from_client(all.substr(first.size()));
    ASSERT_FALSE(pb.failed());
    const auto& t = pb.transcript();
    EXPECT_EQ(data_bytes(t, Party::client, Party::server), "") << pb.dump_transcript();
    EXPECT_TRUE(has_warning(t, "credentials_blocked"));
    EXPECT_TRUE(has_error(t, "unfinished_refused_command"));
  }
}

// A synchronizing literal waits for "+"; mailtap refused the command, so no literal follows and
// the client's next command is a command, not literal data.
TEST(StarttlsStripping, ImapSynchronizingLiteralOfAHeldBackLoginIsNeverAwaited) {
  Playbook pb(config_for(Protocol::imap, TlsMode::starttls, TlsMode::starttls));
  open_session(pb);
  pb >> from_client("a2 LOGIN {5}\r\n")
     << to_client_line_starting("a2 NO [PRIVACYREQUIRED] mailtap: ")
     >> from_client("a3 STARTTLS\r\n") << to_server("a3 STARTTLS\r\n")
     >> from_server("a3 OK Begin TLS negotiation now\r\n") << start_tls(Side::server);
}

// ---- literal differential (JAMES-1862) and sniffing ---------------------------------------------

TEST(StarttlsLiterals, LiteralReadingLikeStarttlsIsData) {
  for (TlsMode upstream : {TlsMode::plain, TlsMode::starttls}) {
    SCOPED_TRACE("upstream " + mode_name(upstream));
    Playbook pb(config_for(Protocol::imap, TlsMode::starttls, upstream));
    open_session(pb);
    pb >> from_client("a APPEND INBOX {12}\r\n") << to_server("a APPEND INBOX {12}\r\n")
       >> from_server("+ Ready for literal data\r\n") << to_client("+ Ready for literal data\r\n")
       >> from_client("b STARTTLS\r\n") << to_server("b STARTTLS\r\n")
       >> from_client("\r\n") << to_server("\r\n")
       >> from_server("a OK APPEND completed\r\n") << to_client("a OK APPEND completed\r\n");
    ASSERT_FALSE(pb.failed());
    const auto* lit = find_data(pb.transcript(), Party::client, Party::server, "b STARTTLS\r\n");
    ASSERT_NE(lit, nullptr);
    EXPECT_EQ(lit->frame, FrameKind::literal);
    EXPECT_EQ(count_events(pb.transcript(), EventType::starttls), 0u);
  }
}

// After a literal, the rest of the command is not a new command, whatever its words.
// Found by session_fuzz (tests/fuzz/crashes/session/crash-34061ceb...): a malformed line announces
// a LITERAL+ literal, and the rest of that command reads "a1 LOGIN u p". For mailtap it is not a
// command; for a server that rejects the malformed line without reading its literal it is a LOGIN
// in cleartext. While TLS to the upstream is required and not up, it is never forwarded.
TEST(StarttlsLiterals, CredentialsAfterALiteralAreNotForwardedBeforeTls) {
  Playbook pb(config_for(Protocol::imap, TlsMode::starttls, TlsMode::starttls));
  open_session(pb);
  pb >> from_client(" {3+}\r\n\r\na1 LOGIN u p\r\n") << to_server(" {3+}\r\n")
     << to_server("\r\na") << to_client_line_starting("* BYE mailtap: ") << close_session();
  ASSERT_FALSE(pb.failed());
  EXPECT_EQ(data_bytes(pb.transcript(), Party::client, Party::server).find("LOGIN"),
            std::string::npos);
  EXPECT_TRUE(has_warning(pb.transcript(), "credentials_blocked"));
  EXPECT_TRUE(has_error(pb.transcript(), "credentials_blocked"));
}

TEST(StarttlsLiterals, LineAfterALiteralIsNotACommand) {
  Playbook pb(config_for(Protocol::imap, TlsMode::starttls, TlsMode::starttls));
  open_session(pb);
  pb >> from_client("a SELECT {5}\r\n") << to_server("a SELECT {5}\r\n")
     >> from_server("+ go\r\n") << to_client("+ go\r\n")
     >> from_client("INBOX x STARTTLS\r\n") << to_server("INBOX") << to_server(" x STARTTLS\r\n")
     >> from_server("a BAD syntax\r\n") << to_client("a BAD syntax\r\n")
     >> from_client("b NOOP\r\n") << to_server("b NOOP\r\n");
  ASSERT_FALSE(pb.failed());
  EXPECT_EQ(count_events(pb.transcript(), EventType::starttls), 0u);
}

// A SASL response is not a command either, even one that reads STARTTLS.
TEST(StarttlsLiterals, SaslResponseIsNotACommand) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::starttls, TlsMode::plain));
  open_session(pb);
  pb >> from_client("AUTH LOGIN\r\n") << to_server("AUTH LOGIN\r\n")
     >> from_server("334 VXNlcm5hbWU6\r\n") << to_client("334 VXNlcm5hbWU6\r\n")
     >> from_client("STARTTLS\r\n") << to_server("STARTTLS\r\n")
     >> from_server("535 5.7.8 bad\r\n") << to_client("535 5.7.8 bad\r\n");
  ASSERT_FALSE(pb.failed());
  EXPECT_EQ(count_events(pb.transcript(), EventType::starttls), 0u);
}

TEST(StarttlsLiterals, ServerLiteralReadingLikeAPositiveReplyIsData) {
  Playbook pb(config_for(Protocol::imap, TlsMode::starttls, TlsMode::starttls));
  open_session(pb);
  pb >> from_client("a1 FETCH 1 BODY[]\r\na2 STARTTLS\r\n")
     << to_server("a1 FETCH 1 BODY[]\r\n") << to_server("a2 STARTTLS\r\n")
     // The message body happens to contain the line the STARTTLS reply would be.
     >> from_server("* 1 FETCH (BODY[] {33}\r\na2 OK Begin TLS negotiation now\r\n)\r\n")
     << to_client("* 1 FETCH (BODY[] {33}\r\n")
     << to_client("a2 OK Begin TLS negotiation now\r\n") << to_client(")\r\n")
     >> from_server("a1 OK FETCH completed\r\n") << to_client("a1 OK FETCH completed\r\n")
     >> from_server("a2 OK Begin TLS negotiation now\r\n") << start_tls(Side::server);
}

TEST(StarttlsSniffing, ClientHelloBytesWithoutStarttlsNeverStartTls) {
  std::string hello("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 11);
  hello += std::string(40, '\x42');
  for (Protocol p : {Protocol::smtp, Protocol::imap, Protocol::pop3}) {
    SCOPED_TRACE(std::string(to_string(p)));
    Playbook pb(config_for(p, TlsMode::starttls, TlsMode::starttls));
    open_session(pb);
    pb >> from_client(hello)                        // no line end: held, nothing else happens
       >> from_client("\r\n") << to_server(hello + "\r\n");
    ASSERT_FALSE(pb.failed());
    EXPECT_EQ(count_events(pb.transcript(), EventType::starttls), 0u);
    EXPECT_EQ(count_events(pb.transcript(), EventType::tls), 0u);
  }
}

TEST(StarttlsSniffing, ServerHelloBytesWithoutAReplyNeverStartTls) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::starttls, TlsMode::starttls));
  open_session(pb);
  std::string hello("\x16\x03\x03\x00\x5a\x02\x00\x00\x56\x03\x03\r\n", 13);
  pb >> from_server(hello) << to_client(hello);
}

// ---- capability rewriting ---------------------------------------------------------------------

TEST(StarttlsCapabilities, SmtpStarttlsAddedWhenMailtapAnswersIt) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::starttls, TlsMode::implicit));
  open_session(pb);
  pb >> from_client("EHLO c\r\n") << to_server("EHLO c\r\n")
     >> from_server("250-mail.example.net\r\n250-SIZE 10240000\r\n")  // held: not complete
     >> from_server("250 8BITMIME\r\n")
     << to_client("250-mail.example.net\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n250 STARTTLS\r\n");
  client_starttls(pb);
  // Inside TLS, STARTTLS is no longer offered, and the reply passes unchanged.
  pb >> from_client("EHLO c\r\n") << to_server("EHLO c\r\n")
     >> from_server("250-mail.example.net\r\n250 AUTH PLAIN\r\n")
     << to_client("250-mail.example.net\r\n") << to_client("250 AUTH PLAIN\r\n");
  ASSERT_FALSE(pb.failed());
  EXPECT_NE(find_data(pb.transcript(), Party::server, Party::mailtap, "250 8BITMIME\r\n"), nullptr);
}

TEST(StarttlsCapabilities, SmtpStarttlsRemovedForAPlainClient) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::plain, TlsMode::plain));
  open_session(pb);
  pb >> from_client("EHLO c\r\n") << to_server("EHLO c\r\n")
     >> from_server("250-mail.example.net\r\n250-STARTTLS\r\n250 SIZE 1000\r\n")
     << to_client("250-mail.example.net\r\n250 SIZE 1000\r\n")
     >> from_client("EHLO c\r\n") << to_server("EHLO c\r\n")
     >> from_server("250-mail.example.net\r\n250 STARTTLS\r\n")
     << to_client("250 mail.example.net\r\n");
}

// RFC 2920: a client may pipeline RSET before EHLO. The rewrite must apply to the EHLO reply,
// not to the RSET reply that comes first.
TEST(StarttlsCapabilities, SmtpRewritePairsWithTheEhloReplyWhenPipelined) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::starttls, TlsMode::plain));
  open_session(pb);
  pb >> from_client("RSET\r\nEHLO c\r\n") << to_server("RSET\r\n") << to_server("EHLO c\r\n")
     >> from_server("250 2.0.0 Ok\r\n") << to_client("250 2.0.0 Ok\r\n")
     >> from_server("250-mail.example.net\r\n250 SIZE 1000\r\n")
     << to_client("250-mail.example.net\r\n250-SIZE 1000\r\n250 STARTTLS\r\n");
}

// Passed through, STARTTLS is the upstream's to offer: nothing is rewritten.
TEST(StarttlsCapabilities, SmtpPassthroughLeavesTheEhloReplyAlone) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::starttls, TlsMode::starttls));
  open_session(pb);
  pb >> from_client("EHLO c\r\n") << to_server("EHLO c\r\n")
     >> from_server("250-mail.example.net\r\n250 STARTTLS\r\n")
     << to_client("250-mail.example.net\r\n") << to_client("250 STARTTLS\r\n");
}

TEST(StarttlsCapabilities, ImapGreetingAndCapabilityGetStarttlsWhenMailtapAnswersIt) {
  Playbook pb(config_for(Protocol::imap, TlsMode::starttls, TlsMode::implicit));
  pb >> accepted() << connect_upstream() >> upstream_connected() << start_tls(Side::server)
     >> tls_established(Side::server)
     >> from_server("* OK [CAPABILITY IMAP4rev1 LOGINDISABLED COMPRESS=DEFLATE] hi\r\n")
     << start_reading(Side::client)
     << to_client("* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n")
     >> from_client("a CAPABILITY\r\n") << to_server("a CAPABILITY\r\n")
     >> from_server("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\na OK done\r\n")
     << to_client("* CAPABILITY IMAP4rev1 AUTH=PLAIN STARTTLS\r\n") << to_client("a OK done\r\n")
     >> from_client("b COMPRESS DEFLATE\r\n") << to_client_line_starting("b NO mailtap: ");
  ASSERT_FALSE(pb.failed());
  EXPECT_EQ(data_bytes(pb.transcript(), Party::client, Party::server), "a CAPABILITY\r\n");
}

TEST(StarttlsCapabilities, ImapStarttlsWhenAlreadyTlsIsRefusedByMailtap) {
  Playbook pb(config_for(Protocol::imap, TlsMode::implicit, TlsMode::implicit));
  open_session(pb);
  pb >> from_client("a STARTTLS\r\n") << to_client("a NO mailtap: TLS is already active\r\n");
  ASSERT_FALSE(pb.failed());
  EXPECT_EQ(data_bytes(pb.transcript(), Party::client, Party::server), "");
}

TEST(StarttlsCapabilities, Pop3StlsAddedAndRemoved) {
  {
    Playbook pb(config_for(Protocol::pop3, TlsMode::starttls, TlsMode::plain));
    open_session(pb);
    pb >> from_client("CAPA\r\n") << to_server("CAPA\r\n")
       >> from_server("+OK Capability list follows\r\nUSER\r\n.\r\n")
       << to_client("+OK Capability list follows\r\n") << to_client("USER\r\n")
       << to_client("STLS\r\n.\r\n");
  }
  {
    Playbook pb(config_for(Protocol::pop3, TlsMode::plain, TlsMode::plain));
    open_session(pb);
    pb >> from_client("CAPA\r\n") << to_server("CAPA\r\n")
       >> from_server("+OK Capability list follows\r\nSTLS\r\nUSER\r\n.\r\n")
       << to_client("+OK Capability list follows\r\n") << to_client("USER\r\n")
       << to_client(".\r\n");
  }
}

// RFC 2449 PIPELINING: LIST and CAPA in one go. STLS belongs in the CAPA list, not in LIST's.
TEST(StarttlsCapabilities, Pop3RewritePairsWithTheCapaReplyWhenPipelined) {
  Playbook pb(config_for(Protocol::pop3, TlsMode::starttls, TlsMode::plain));
  open_session(pb);
  pb >> from_client("LIST\r\nCAPA\r\n") << to_server("LIST\r\n") << to_server("CAPA\r\n")
     >> from_server("+OK 1 messages\r\n1 120\r\n.\r\n")
     << to_client("+OK 1 messages\r\n") << to_client("1 120\r\n") << to_client(".\r\n")
     >> from_server("+OK Capability list follows\r\nUSER\r\n.\r\n")
     << to_client("+OK Capability list follows\r\n") << to_client("USER\r\n")
     << to_client("STLS\r\n.\r\n");
}

// ---- STARTTLS reply pairing ---------------------------------------------------------------------

// The client pipelines EHLO and STARTTLS: the EHLO reply comes first and is not the answer to
// STARTTLS.
TEST(StarttlsReplies, SmtpPipelinedEhloReplyIsNotTakenForTheStarttlsReply) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::starttls, TlsMode::starttls));
  open_session(pb);
  pb >> from_client("EHLO c\r\nSTARTTLS\r\n") << to_server("EHLO c\r\n")
     << to_server("STARTTLS\r\n")
     >> from_server("250-mail.example.net\r\n250 STARTTLS\r\n")
     << to_client("250-mail.example.net\r\n") << to_client("250 STARTTLS\r\n")
     >> from_server("220 2.0.0 Ready\r\n") << start_tls(Side::server)
     >> tls_established(Side::server) << to_client("220 2.0.0 Ready\r\n")
     << start_client_tls(pb.config());
  ASSERT_FALSE(pb.failed());
  EXPECT_FALSE(has_warning(pb.transcript(), "upstream_refused_starttls"));
}

TEST(StarttlsReplies, Pop3PipelinedCapaReplyIsNotTakenForTheStlsReply) {
  Playbook pb(config_for(Protocol::pop3, TlsMode::starttls, TlsMode::starttls));
  open_session(pb);
  pb >> from_client("CAPA\r\nSTLS\r\n") << to_server("CAPA\r\n") << to_server("STLS\r\n")
     >> from_server("+OK Capability list follows\r\nSTLS\r\n.\r\n")
     << to_client("+OK Capability list follows\r\n") << to_client("STLS\r\n") << to_client(".\r\n")
     >> from_server("+OK Begin TLS\r\n") << start_tls(Side::server);
}

TEST(StarttlsReplies, ImapUntaggedLinesBeforeTheTaggedReplyAreRelayed) {
  Playbook pb(config_for(Protocol::imap, TlsMode::starttls, TlsMode::starttls));
  open_session(pb);
  pb >> from_client("a1 STARTTLS\r\n") << to_server("a1 STARTTLS\r\n")
     >> from_server("* 3 EXISTS\r\n") << to_client("* 3 EXISTS\r\n")
     >> from_server("a1 OK Begin TLS negotiation now\r\n") << start_tls(Side::server)
     >> tls_established(Side::server) << to_client("a1 OK Begin TLS negotiation now\r\n")
     << start_client_tls(pb.config());
}

TEST(StarttlsReplies, UpstreamTlsFailureAfterThePositiveReplyTellsTheClient) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::starttls, TlsMode::starttls));
  open_session(pb);
  pb >> from_client("STARTTLS\r\n") << to_server("STARTTLS\r\n")
     >> from_server("220 Ready\r\n") << start_tls(Side::server)
     >> tls_failed(Side::server, "certificate verify failed: self-signed certificate")
     << to_client_line_starting("421 4.4.0 mailtap: ") << close_session();
  ASSERT_FALSE(pb.failed());
  EXPECT_TRUE(has_error(pb.transcript(), "upstream_tls_failed"));
  EXPECT_NE(find_data(pb.transcript(), Party::server, Party::mailtap, "220 Ready\r\n"), nullptr)
      << pb.dump_transcript();
}

}  // namespace
// clang-format on

}  // namespace mailtap::session::test
