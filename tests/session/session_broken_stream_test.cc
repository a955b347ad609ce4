// A line that breaks a limit ends the session; the transcript still holds what that side sent up
// to the break, in order, with a capped prefix of the offending read (so a 10 MB line costs the
// transcript 1 KiB) and a warning that says how many bytes were left out.
#include <gtest/gtest.h>

#include "session/session_script.h"

namespace mailtap::session::test {
namespace {

using transcript::EventType;
using transcript::Party;

const transcript::Event* not_recorded_warning(const Playbook& pb) {
  for (const auto& e : pb.transcript())
    if (e.type == EventType::warning && e.fields.value("code", "") == "bytes_not_recorded")
      return &e;
  return nullptr;
}

// The session_fuzz reproducer's shape: a partial line held, then a read that breaks the limit.
// Both reads are the server's words and must be in the transcript, in order.
TEST(SessionBrokenStream, TheReadThatBreaksAServerLineLimitIsRecorded) {
  SessionConfig config = config_for(Protocol::smtp, TlsMode::plain, TlsMode::plain);
  config.limits.server_line = 80;
  Playbook pb(config);
  establish(pb);
  std::string first(53, 'a'), second(53, 'b');
  pb >> from_server(first) >> from_server(second)
     << to_client_line_starting(dialect(Protocol::smtp).fatal_prefix) << close_session();
  ASSERT_FALSE(pb.failed());
  EXPECT_TRUE(has_error(pb.transcript(), "line_too_long"));
  std::string from_server = data_bytes(pb.transcript(), Party::server, Party::mailtap);
  EXPECT_EQ(from_server, first + second);
  EXPECT_EQ(not_recorded_warning(pb), nullptr);  // nothing left out
}

// Lines before the long one in the same read are relayed; the long one and what follows it in
// that read are recorded as the client's words to mailtap.
TEST(SessionBrokenStream, TheRestOfAClientReadAfterALongLineIsRecorded) {
  Playbook pb(config_for(Protocol::pop3, TlsMode::plain, TlsMode::plain));
  establish(pb);
  std::string long_line = "NOOP " + std::string(600, 'x') + "\r\n";
  std::string after = "QUIT\r\n";
  pb >> from_client("NOOP\r\n" + long_line + after) << to_server("NOOP\r\n")
     << to_client_line_starting(dialect(Protocol::pop3).fatal_prefix) << close_session();
  ASSERT_FALSE(pb.failed());
  EXPECT_EQ(data_bytes(pb.transcript(), Party::client, Party::mailtap), long_line + after);
  EXPECT_EQ(not_recorded_warning(pb), nullptr);
}

// A line the framing refuses for its content (not its length) is recorded too, before the rest.
TEST(SessionBrokenStream, ALineWithABadLiteralIsRecordedBeforeTheRestOfTheRead) {
  Playbook pb(config_for(Protocol::imap, TlsMode::plain, TlsMode::plain));
  establish(pb);
  std::string bad = "a APPEND INBOX {99999999999999999999}\r\n";
  std::string after = "b NOOP\r\n";
  pb >> from_client(bad + after)
     << to_client_line_starting(dialect(Protocol::imap).fatal_prefix) << close_session();
  ASSERT_FALSE(pb.failed());
  EXPECT_TRUE(has_error(pb.transcript(), "bad_literal"));
  EXPECT_EQ(data_bytes(pb.transcript(), Party::client, Party::mailtap), bad + after);
}

TEST(SessionBrokenStream, ABdatWithABadSizeIsRecordedBeforeTheRestOfTheRead) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::plain, TlsMode::plain));
  establish(pb);
  std::string bad = "BDAT x LAST\r\n";
  std::string after = "QUIT\r\n";
  pb >> from_client(bad + after)
     << to_client_line_starting(dialect(Protocol::smtp).fatal_prefix) << close_session();
  ASSERT_FALSE(pb.failed());
  EXPECT_TRUE(has_error(pb.transcript(), "bad_chunk_size"));
  EXPECT_EQ(data_bytes(pb.transcript(), Party::client, Party::mailtap), bad + after);
}

// A huge line: the transcript keeps its first 1 KiB and says how much more was discarded.
TEST(SessionBrokenStream, AHugeLineIsRecordedAsACappedPrefixWithTheDiscardedCount) {
  Playbook pb(config_for(Protocol::smtp, TlsMode::plain, TlsMode::plain));
  establish(pb);
  std::string huge = "NOOP " + std::string(64 * 1024, 'z');
  pb >> from_client(huge) << to_client_line_starting(dialect(Protocol::smtp).fatal_prefix)
     << close_session();
  ASSERT_FALSE(pb.failed());
  EXPECT_TRUE(has_error(pb.transcript(), "line_too_long"));
  std::string recorded = data_bytes(pb.transcript(), Party::client, Party::mailtap);
  EXPECT_EQ(recorded, huge.substr(0, 1024));
  const auto* w = not_recorded_warning(pb);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->fields.value("dropped_bytes", uint64_t{0}), huge.size() - 1024);
  EXPECT_EQ(pb.watch().sent(Side::server).find("zzzz"), std::string::npos);
}

// ---- the session fails on a line in the middle of a read ----------------------------------------
// Not a framing limit: the session itself ends on one frame (an IMAP PREAUTH greeting where TLS to
// the upstream is required, a continuation answering STARTTLS, a refused command whose LITERAL+
// follows). The frames after it in the same read, what the framing held of it and the part it had
// not read yet are still that peer's words: recorded (addressed to mailtap), in order, none lost.

TEST(SessionBrokenStream, LinesAfterAFailingGreetingLineInTheSameReadAreRecorded) {
  Playbook pb(config_for(Protocol::imap, TlsMode::plain, TlsMode::starttls));
  std::string read = "* PREAUTH logged in\r\n* OK [ALERT] more\r\n* 1 EXI";
  pb >> accepted() << connect_upstream() >> upstream_connected() >> from_server(read)
     << start_reading(Side::client) << to_client_line_starting(dialect(Protocol::imap).fatal_prefix)
     << close_session();
  ASSERT_FALSE(pb.failed());
  EXPECT_TRUE(has_error(pb.transcript(), "upstream_starttls_unavailable"));
  EXPECT_EQ(data_bytes(pb.transcript(), Party::server, Party::mailtap), read);
  EXPECT_EQ(not_recorded_warning(pb), nullptr);
}

TEST(SessionBrokenStream, LinesAfterAContinuationAnsweringStarttlsAreRecorded) {
  Playbook pb(config_for(Protocol::imap, TlsMode::starttls, TlsMode::starttls));
  open_session(pb);
  std::string read = "+ go on\r\n* OK trailing\r\na1 OK Begin TLS\r\n";
  pb >> from_client("a1 STARTTLS\r\n") << to_server("a1 STARTTLS\r\n") >> from_server(read)
     << to_client_line_starting(dialect(Protocol::imap).fatal_prefix) << close_session();
  ASSERT_FALSE(pb.failed());
  EXPECT_TRUE(has_error(pb.transcript(), "upstream_starttls_unavailable"));
  EXPECT_EQ(data_bytes(pb.transcript(), Party::server, Party::mailtap), read);
}

TEST(SessionBrokenStream, TheRestOfAClientReadAfterARefusedLiteralPlusCommandIsRecorded) {
  Playbook pb(config_for(Protocol::imap, TlsMode::plain, TlsMode::plain));
  establish(pb);
  std::string read = "a1 COMPRESS DEFLATE {3+}\r\nabc\r\nb NOOP\r\nc NO";
  pb >> from_client(read) << to_client_line_starting(dialect(Protocol::imap).fatal_prefix)
     << close_session();
  ASSERT_FALSE(pb.failed());
  EXPECT_TRUE(has_error(pb.transcript(), "unfinished_refused_command"));
  EXPECT_EQ(data_bytes(pb.transcript(), Party::client, Party::mailtap), read);
  EXPECT_EQ(pb.watch().sent(Side::server), "");
}

}  // namespace
}  // namespace mailtap::session::test
