// Replies mailtap holds back until they are complete (a multi-line greeting; an EHLO reply whose
// capabilities it rewrites) are bounded: an upstream that never ends one cannot make mailtap hold
// it without limit. Beyond the bound the session ends with the protocol's fatal reply to the
// client and an error event; what was held is recorded as the server's words to mailtap.
#include <gtest/gtest.h>

#include "session/session_script.h"

namespace mailtap::session::test {
namespace {

using transcript::EventType;
using transcript::Party;

constexpr size_t kBound = size_t{1} << 20;  // Session::kMaxHeldReply

// `lines` copies of `line` in one read.
std::string repeated(const std::string& line, size_t lines) {
  std::string out;
  out.reserve(line.size() * lines);
  for (size_t n = 0; n < lines; ++n) out += line;
  return out;
}

TEST(SessionHeldReply, AnEndlessEhloReplyBeingRewrittenEndsTheSession) {
  // Client STARTTLS offered by mailtap, upstream plain: the EHLO reply is rewritten, so held.
  Playbook pb(config_for(Protocol::smtp, TlsMode::starttls, TlsMode::plain));
  open_session(pb);
  pb >> from_client("EHLO a\r\n") << to_server("EHLO a\r\n") >>
      from_server("250-mail.example.net\r\n");
  std::string read = repeated("250-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\r\n", 6000);
  size_t fed = 0;
  while (fed <= kBound - read.size()) {
    pb >> from_server(read);  // held: nothing is sent yet
    fed += read.size();
    ASSERT_FALSE(pb.failed()) << "at " << fed;
  }
  EXPECT_TRUE(pb.watch().sent(Side::client).find("250-XXXX") == std::string::npos);
  pb >> from_server(read) << to_client_line_starting(dialect(Protocol::smtp).fatal_prefix)
                          << close_session();
  ASSERT_FALSE(pb.failed());
  EXPECT_TRUE(has_error(pb.transcript(), "reply_too_long"));
  // None of it reached the client; all of it is in the transcript, addressed to mailtap, in
  // order: what was held up to the line that broke the bound, and the lines after it in the same
  // read (the session stopped acting on them, but they are the server's words all the same).
  EXPECT_EQ(pb.watch().sent(Side::client).find("250-XXXX"), std::string::npos);
  std::string recorded = data_bytes(pb.transcript(), Party::server, Party::mailtap);
  EXPECT_TRUE(recorded == "250-mail.example.net\r\n" + repeated(read, fed / read.size() + 1))
      << "recorded " << recorded.size() << " octets, not exactly what the server sent";
  EXPECT_GT(recorded.size(), kBound);
}

// The same in a read that ends with a partial line: the lines after the one that broke the bound
// come before that partial line (the framing holds it), and both are recorded in that order.
TEST(SessionHeldReply, TheRestOfTheReadThatBreaksTheBoundIsRecordedInOrder) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::starttls, TlsMode::plain));
  open_session(pb);
  pb >> from_client("EHLO a\r\n") << to_server("EHLO a\r\n");
  std::string line = "250-" + std::string(1000, 'Y') + "\r\n";
  std::string read = repeated(line, kBound / line.size() + 3) + "250-PART";
  pb >> from_server(read) << to_client_line_starting(dialect(Protocol::smtp).fatal_prefix)
     << close_session();
  ASSERT_FALSE(pb.failed());
  EXPECT_TRUE(has_error(pb.transcript(), "reply_too_long"));
  std::string recorded = data_bytes(pb.transcript(), Party::server, Party::mailtap);
  std::string tail = recorded.substr(recorded.size() > 40 ? recorded.size() - 40 : 0);
  EXPECT_TRUE(recorded == read) << "recorded " << recorded.size() << " of " << read.size()
                                << " octets; ends with \"" << printable(tail) << "\"";
}

TEST(SessionHeldReply, AnEndlessMultiLineGreetingEndsTheSession) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::plain, TlsMode::plain));
  pb >> accepted() << connect_upstream() >> upstream_connected();
  std::string read = repeated("220-welcome welcome welcome welcome welcome welcome\r\n", 6000);
  size_t fed = 0;
  while (fed <= kBound - read.size()) {
    pb >> from_server(read);
    fed += read.size();
    ASSERT_FALSE(pb.failed()) << "at " << fed;
  }
  pb >> from_server(read) << start_reading(Side::client)
                          << to_client_line_starting(dialect(Protocol::smtp).fatal_prefix)
                          << close_session();
  ASSERT_FALSE(pb.failed());
  EXPECT_TRUE(has_error(pb.transcript(), "reply_too_long"));
  EXPECT_EQ(pb.watch().sent(Side::client).find("220-welcome"), std::string::npos);
}

// A long reply that ends in time is delivered as usual.
TEST(SessionHeldReply, ALongEhloReplyBelowTheBoundIsDelivered) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::starttls, TlsMode::plain));
  open_session(pb);
  std::string body = repeated("250-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\r\n", 1000);
  pb >> from_client("EHLO a\r\n") << to_server("EHLO a\r\n") >>
      from_server("250-mail.example.net\r\n" + body + "250 PIPELINING\r\n")
          << to_client("250-mail.example.net\r\n" + body + "250-PIPELINING\r\n250 STARTTLS\r\n");
  ASSERT_FALSE(pb.failed());
  EXPECT_FALSE(has_error(pb.transcript(), "reply_too_long"));
  std::string sent = pb.watch().sent(Side::client);
  EXPECT_NE(sent.find("250-PIPELINING\r\n250 STARTTLS\r\n"), std::string::npos);
}

// Fuzz finding (session_fuzz crash-3d0fe1be): the server closed while mailtap held the start of an
// EHLO reply and after a partial line of it; the partial line was recorded before the held lines.
// The transcript must hold the server's bytes in the order sent, all undelivered, none relayed.
// (The client, left without its reply, is told why: session_upstream_loss_test.cc.)
TEST(SessionHeldReply, AServerClosingMidReplyIsRecordedInTheOrderItSpoke) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::starttls, TlsMode::plain));
  open_session(pb);
  pb >> from_client("EHLO a\r\n") << to_server("EHLO a\r\n") >>
      from_server("250-mail.example.net\r\n250-SIZE 1000\r\n") >> from_server("250-PIPE") >>
      peer_closed(Side::server) << to_client_line_starting(dialect(Protocol::smtp).fatal_prefix)
                                << close_session();
  ASSERT_FALSE(pb.failed());
  EXPECT_EQ(data_bytes(pb.transcript(), Party::server, Party::mailtap),
            "250-mail.example.net\r\n250-SIZE 1000\r\n250-PIPE");
  EXPECT_EQ(pb.watch().sent(Side::client).find("250-"), std::string::npos);
}

}  // namespace
}  // namespace mailtap::session::test
