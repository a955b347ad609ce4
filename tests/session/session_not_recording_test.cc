// Session with a sink that records nothing (`--no-transcripts`): the session builds no events at
// all, yet relays exactly what it relays when recording.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "session/session_script.h"

namespace mailtap::session::test {
namespace {

class NotRecordingSink final : public EventSink {
 public:
  void record(transcript::Event) override { ++records; }
  bool recording() const override { return false; }
  int records = 0;
};

class KeepingSink final : public EventSink {
 public:
  void record(transcript::Event) override { ++records; }
  int records = 0;
};

struct Relayed {
  std::string to_client;
  std::string to_server;
  int closes = 0;
};

// Feeds the steps to a fresh session over `sink` and gathers what it sends to each side.
Relayed run(const SessionConfig& config, EventSink& sink, std::vector<In> steps) {
  FakeClock clock;
  Session session(config, clock.clock(), sink);
  Relayed out;
  for (In& step : steps) {
    if (auto* b = std::get_if<BytesReceived>(&step.event)) b->bytes = step.bytes;
    for (const Command& c : session.handle(step.event)) {
      if (const auto* s = std::get_if<Send>(&c))
        (s->side == Side::client ? out.to_client : out.to_server) += s->bytes;
      if (std::holds_alternative<Close>(c)) ++out.closes;
    }
  }
  return out;
}

std::vector<In> smtp_session_with_a_message() {
  return {accepted(),
          upstream_connected(),
          from_server("220 mx.example ESMTP\r\n"),
          from_client("EHLO client.example\r\n"),
          from_server("250-mx.example\r\n250 8BITMIME\r\n"),
          from_client("MAIL FROM:<a@example.org>\r\n"),
          from_server("250 2.1.0 Ok\r\n"),
          from_client("RCPT TO:<b@example.org>\r\n"),
          from_server("250 2.1.5 Ok\r\n"),
          from_client("DATA\r\n"),
          from_server("354 End data with <CR><LF>.<CR><LF>\r\n"),
          from_client("Subject: hi\r\n\r\n..a stuffed line\r\nbody\r\n.\r\n"),
          from_server("250 2.0.0 Ok: queued\r\n"),
          from_client("QUIT\r\n"),
          from_server("221 2.0.0 Bye\r\n"),
          peer_closed(Side::server),
          peer_closed(Side::client)};
}

TEST(SessionNotRecording, BuildsNoEventAndRelaysTheSameBytes) {
  SessionConfig config = config_for(Protocol::smtp, TlsMode::plain, TlsMode::plain);
  KeepingSink keeping;
  Relayed recorded = run(config, keeping, smtp_session_with_a_message());
  NotRecordingSink nothing;
  Relayed unrecorded = run(config, nothing, smtp_session_with_a_message());

  EXPECT_GE(keeping.records, 15);  // the same steps do make events when recording
  EXPECT_EQ(nothing.records, 0);
  EXPECT_EQ(unrecorded.to_server, recorded.to_server);
  EXPECT_EQ(unrecorded.to_client, recorded.to_client);
  EXPECT_EQ(unrecorded.closes, recorded.closes);
  EXPECT_NE(unrecorded.to_server.find("..a stuffed line\r\nbody\r\n.\r\n"), std::string::npos);
  EXPECT_NE(unrecorded.to_client.find("221 2.0.0 Bye\r\n"), std::string::npos);
}

}  // namespace
}  // namespace mailtap::session::test
