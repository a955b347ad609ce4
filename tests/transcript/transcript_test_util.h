// Helpers shared by the transcript and show tests: a scratch directory every test transcript is
// written under (the schema test validates all of them at the end), and a small, realistic SMTP
// session covering every event type.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mailtap/transcript/transcript_writer.h"

namespace mailtap::transcript::testing {

// One directory per test process; kept until the process exits so the schema test can read
// whatever the other tests wrote.
inline std::filesystem::path transcript_root() {
  static const std::filesystem::path root =
      std::filesystem::temp_directory_path() /
      ("mailtap-transcript-tests-" + std::to_string(::getpid()));
  return root;
}

// Removes the per-process directory when the test binary exits.
struct TranscriptRootCleaner {
  ~TranscriptRootCleaner() {
    std::error_code ec;
    std::filesystem::remove_all(std::filesystem::temp_directory_path(ec) /
                                    ("mailtap-transcript-tests-" + std::to_string(::getpid())),
                                ec);
  }
};
inline TranscriptRootCleaner transcript_root_cleaner;

// A fresh, empty sub directory of transcript_root() for one test.
inline std::filesystem::path fresh_dir(const std::string& name) {
  auto dir = transcript_root() / name;
  std::filesystem::remove_all(dir);
  return dir;
}

inline std::vector<std::filesystem::path> jsonl_files(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  if (!std::filesystem::exists(dir)) return out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".jsonl") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<nlohmann::json> json_lines(const std::filesystem::path& p) {
  std::vector<nlohmann::json> out;
  std::istringstream in(slurp(p));
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

// Lines of the file so far (0 before the writer has created it).
inline size_t lines_in(const std::filesystem::path& p) {
  return std::filesystem::exists(p) ? json_lines(p).size() : 0;
}

// Polls (generous deadline, no timing assertion) until the file holds `n` lines.
inline bool eventually_has_lines(const std::filesystem::path& p, size_t n) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (lines_in(p) >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

// One client command line, as a data event.
inline Event client_line(Microseconds t, const std::string& text) {
  return make_data(t, Party::client, Party::server, FrameKind::line, false, text);
}

inline SessionHeader sample_header(const std::string& id, Microseconds started) {
  SessionHeader h;
  h.session_id = id;
  h.protocol = Protocol::smtp;
  h.listener = "smtp-submission";
  h.listen = "127.0.0.1:2587";
  h.client_address = "127.0.0.1:5555";
  h.upstream = "127.0.0.1:10587";
  h.client_tls = TlsMode::starttls;
  h.upstream_tls = TlsMode::starttls;
  h.started_us = started;
  return h;
}

// Records an SMTP session with STARTTLS, a message body, dropped bytes, a synthesized reply,
// binary bytes and closes. Times are `t0` plus small offsets.
inline void record_sample_smtp(SessionTranscript& s, Microseconds t0) {
  using nlohmann::json;
  auto data = [&](Microseconds dt, Party from, Party to, FrameKind k, bool tls, std::string b) {
    s.record(make_data(t0 + dt, from, to, k, tls, std::move(b)));
  };
  const auto C = Party::client, S = Party::server, P = Party::mailtap;
  s.record(
      make_event(t0 + 10, EventType::connect, {{"leg", "client"}, {"peer", "127.0.0.1:5555"}}));
  s.record(
      make_event(t0 + 900, EventType::connect, {{"leg", "server"}, {"peer", "127.0.0.1:10587"}}));
  data(1500, S, C, FrameKind::line, false, "220 mx.example.com ESMTP Postfix\r\n");
  data(2000, C, S, FrameKind::line, false, "EHLO localhost\r\n");
  data(2600, S, C, FrameKind::line, false, "250-mx.example.com\r\n");
  data(2610, S, C, FrameKind::line, false, "250-PIPELINING\r\n");
  data(2620, S, C, FrameKind::line, false, "250 STARTTLS\r\n");
  data(3000, C, S, FrameKind::line, false, "STARTTLS\r\n");
  data(3001, C, P, FrameKind::line, false, "RSET\r\n");
  s.record(
      make_event(t0 + 3002, EventType::warning,
                 {{"code", "starttls_injection"},
                  {"message", "client sent bytes after STARTTLS before the handshake; dropped"}}));
  data(3500, S, C, FrameKind::line, false, "220 2.0.0 Ready to start TLS\r\n");
  s.record(make_event(t0 + 3501, EventType::starttls, {{"leg", "client"}, {"phase", "handshake"}}));
  s.record(make_event(t0 + 9000, EventType::tls,
                      {{"leg", "client"},
                       {"version", "TLSv1.3"},
                       {"cipher", "TLS_AES_256_GCM_SHA384"},
                       {"sni", "localhost"}}));
  s.record(make_event(t0 + 9500, EventType::tls,
                      {{"leg", "server"},
                       {"version", "TLSv1.3"},
                       {"cipher", "TLS_AES_256_GCM_SHA384"},
                       {"sni", "localhost"},
                       {"peer_certificate",
                        {{"subject", "CN=localhost"},
                         {"issuer", "CN=mailtap sandbox CA"},
                         {"names", json::array({"localhost", "127.0.0.1"})},
                         {"sha256", std::string(64, 'a')}}},
                       {"verification", "ok"}}));
  data(10000, C, S, FrameKind::line, true, "MAIL FROM:<a@example.com>\r\n");
  data(10400, S, C, FrameKind::line, true, "250 2.1.0 Ok\r\n");
  data(10500, C, S, FrameKind::line, true, "DATA\r\n");
  data(10800, S, C, FrameKind::line, true, "354 End data with <CR><LF>.<CR><LF>\r\n");
  data(11000, C, S, FrameKind::body, true, "From: a@example.com\r\nSubject: hi\r\n\r\n");
  data(11001, C, S, FrameKind::body, true, std::string("bin\x00\xff\r\n", 7));
  data(11002, C, S, FrameKind::line, true, ".\r\n");
  data(11500, S, C, FrameKind::line, true, "250 2.0.0 Ok: queued as 1234\r\n");
  data(12000, P, C, FrameKind::line, true, "421 4.4.0 upstream went away\r\n");
  s.record(
      make_event(t0 + 12001, EventType::error,
                 {{"code", "upstream_closed"}, {"message", "upstream closed the connection"}}));
  s.record(make_event(t0 + 12002, EventType::close,
                      {{"leg", "server"},
                       {"by", "server"},
                       {"reason", "eof"},
                       {"bytes_in", 200},
                       {"bytes_out", 120}}));
  s.record(make_event(t0 + 12003, EventType::close,
                      {{"leg", "client"},
                       {"by", "mailtap"},
                       {"reason", "upstream closed"},
                       {"bytes_in", 120},
                       {"bytes_out", 230}}));
}

// Keeps recorded events in memory instead of writing them.
class CollectingTranscript : public SessionTranscript {
 public:
  void record(Event event) override { events.push_back(std::move(event)); }
  void finish() override {}
  std::filesystem::path path() const override { return path_; }
  std::vector<Event> events;

 private:
  std::filesystem::path path_;
};

// The sample SMTP session as encoded lines without any protocol decoding, for tests of renderers
// that must not depend on what the decoders currently say.
inline std::vector<nlohmann::json> encoded_sample_smtp(Microseconds t0) {
  CollectingTranscript c;
  record_sample_smtp(c, t0);
  std::vector<nlohmann::json> out;
  uint64_t seq = 0;
  for (const Event& e : c.events) out.push_back(encode_event(e, ++seq));
  return out;
}

// Writes one sample SMTP session into a fresh directory `name` and returns the file's path.
inline std::filesystem::path write_sample_transcript(const std::string& name, Microseconds t0) {
  WriterOptions o;
  o.directory = fresh_dir(name);
  TranscriptWriter writer(o);
  auto s = writer.open(sample_header(name, t0));
  record_sample_smtp(*s, t0);
  s->finish();
  writer.flush();
  return s->path();
}

}  // namespace mailtap::transcript::testing
