// libFuzzer target: whole Sessions. The input picks a protocol, the TLS modes of both legs and the
// line limits, then a sequence of events for both sides, as an I/O layer could deliver them (the
// client is read only after StartReading, a leg's TLS completes only after StartTls, no bytes
// arrive on a leg while its handshake is pending or after its EOF). Bytes are raw input or
// protocol words. After every event, SessionWatch checks that the transcript matches the wire,
// nothing follows Close, TLS starts at most once per leg, implicit legs never get cleartext, and
// no credentials reach an upstream that requires TLS before that TLS is up; the state stays
// bounded (commands, transcript events and bytes sent grow at most with what was received).
#include <cstdio>
#include <cstdlib>

#include "../support/session_invariants.h"
#include "mailtap/session/session.h"
#include "session_fuzz_input.h"

namespace {

using namespace mailtap;
using namespace mailtap::session;
using mailtap::fuzz::FuzzInput;

class Sink final : public EventSink {
 public:
  void record(transcript::Event event) override { events.push_back(std::move(event)); }
  std::vector<transcript::Event> events;
};

// SESSION_FUZZ_TRACE=1 prints every event fed and every data event recorded, to diagnose a finding.
const bool kTrace = std::getenv("SESSION_FUZZ_TRACE") != nullptr;

std::string printable(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return out;
}

void trace_event(const Event& e) {
  if (!kTrace) return;
  static const char* const kNames[] = {
      "ClientAccepted", "UpstreamConnected", "UpstreamConnectFailed",
      "BytesReceived",  "TlsEstablished",    "TlsFailed",
      "PeerClosed",     "TimedOut",          "ShutdownRequested"};
  std::fprintf(stderr, "> %s", kNames[e.index()]);
  if (const auto* b = std::get_if<BytesReceived>(&e))
    std::fprintf(stderr, " %s \"%s\"", b->side == Side::client ? "client" : "server",
                 printable(b->bytes).c_str());
  std::fprintf(stderr, "\n");
}

void trace_recorded(const std::vector<transcript::Event>& events, size_t from) {
  if (!kTrace) return;
  for (size_t n = from; n < events.size(); ++n) {
    const auto& e = events[n];
    if (e.type == transcript::EventType::data)
      std::fprintf(stderr, "    data %s->%s %s \"%s\"\n", std::string(to_string(e.from)).c_str(),
                   std::string(to_string(e.to)).c_str(), std::string(to_string(e.frame)).c_str(),
                   printable(e.bytes).c_str());
    else
      std::fprintf(stderr, "    %s %s\n", std::string(to_string(e.type)).c_str(),
                   e.fields.dump().c_str());
  }
}

[[noreturn]] void violation(const std::string& what) {
  std::fprintf(stderr, "session invariant broken: %s\n", what.c_str());
  std::abort();
}

// What the I/O layer knows from the commands it executed.
struct Io {
  bool connect_requested = false;
  bool connect_done = false;
  bool reading_client = false;
  bool tls_started[2] = {false, false};
  bool tls_done[2] = {false, false};
  bool eof[2] = {false, false};
  bool closed = false;

  static size_t i(Side s) { return s == Side::client ? 0 : 1; }
  bool can_receive(Side s) const {
    if (eof[i(s)]) return false;
    if (tls_started[i(s)] && !tls_done[i(s)]) return false;
    return s == Side::client ? reading_client : connect_done;
  }
  void execute(const std::vector<Command>& commands) {
    for (const auto& c : commands) {
      if (std::holds_alternative<ConnectUpstream>(c)) connect_requested = true;
      if (auto* r = std::get_if<StartReading>(&c)) reading_client |= r->side == Side::client;
      if (auto* t = std::get_if<StartTls>(&c)) tls_started[i(t->side)] = true;
      if (std::holds_alternative<Close>(c)) closed = true;
    }
  }
};

enum class Kind {
  connected,
  connect_failed,
  tls_done,
  tls_failed,
  bytes,
  eof,
  reset,
  timeout,
  shutdown
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  uint8_t setup = in.byte();
  SessionConfig config;
  config.protocol = static_cast<Protocol>(setup % 3);
  config.client_tls = static_cast<TlsMode>((setup / 3) % 3);
  config.upstream_tls = static_cast<TlsMode>((setup / 9) % 3);
  config.upstream_insecure = setup & 0x40;
  config.upstream_host = "mail.example.net";
  if (setup & 0x80) {  // small limits, so that the limit paths are reached with short inputs
    config.limits.client_command = 24 + in.byte() % 64;
    config.limits.client_sasl = 48 + in.byte() % 64;
    config.limits.server_line = 24 + in.byte() % 64;
  }

  Sink sink;
  Microseconds now = 1'700'000'000'000'000;
  Session session(
      config, [&now] { return now++; }, sink);
  test::SessionWatch watch(config, sink.events);
  Io io;
  size_t received_total = 0;
  size_t events_fed = 0;

  auto feed = [&](const Event& e) {
    ++events_fed;
    if (const auto* b = std::get_if<BytesReceived>(&e)) received_total += b->bytes.size();
    trace_event(e);
    size_t recorded_before = sink.events.size();
    watch.before(e);
    bool was_finished = session.finished();
    std::vector<Command> out = session.handle(e);
    trace_recorded(sink.events, recorded_before);
    if (was_finished && !out.empty()) violation("commands from a finished session");
    std::string broken = watch.after(out);
    if (!broken.empty()) violation(broken);
    io.execute(out);
    if (io.closed != session.finished()) violation("Close and finished() disagree");
    // Bounded: what mailtap says itself is a few lines per event at most.
    size_t sent = watch.sent(Side::client).size() + watch.sent(Side::server).size();
    if (sent > received_total + 2048 * events_fed) violation("sends more than it received");
    if (sink.events.size() > 16 * (received_total + events_fed))
      violation("transcript grows faster than the input");
    if (out.size() > 16 + 4 * (received_total + 1)) violation("too many commands for one event");
  };

  feed(ClientAccepted{"127.0.0.1:50000", "127.0.0.1:2525"});
  std::string bytes;  // must outlive the BytesReceived view
  while (!in.empty() && !io.closed) {
    uint8_t op = in.byte();
    Side side = (op & 0x80) ? Side::server : Side::client;
    std::vector<Kind> allowed;
    if (io.connect_requested && !io.connect_done) {
      allowed.push_back(Kind::connected);
      allowed.push_back(Kind::connect_failed);
    }
    if (io.tls_started[Io::i(side)] && !io.tls_done[Io::i(side)]) {
      allowed.push_back(Kind::tls_done);
      allowed.push_back(Kind::tls_done);  // success more often than failure
      allowed.push_back(Kind::tls_failed);
    }
    if (io.can_receive(side)) {
      for (int n = 0; n < 6; ++n) allowed.push_back(Kind::bytes);
    }
    if (!io.eof[Io::i(side)] && (side == Side::client || io.connect_done)) {
      allowed.push_back(Kind::eof);
      allowed.push_back(Kind::reset);
    }
    // Deadlines and shutdown are rare, else sessions would mostly end before they begin.
    if ((op & 0x1f) == 0x1f || allowed.empty()) allowed.push_back(Kind::timeout);
    if ((op & 0x3f) == 0x3e) allowed.push_back(Kind::shutdown);
    Kind kind = allowed[(op & 0x7f) % allowed.size()];
    switch (kind) {
      case Kind::connected:
        io.connect_done = true;
        feed(UpstreamConnected{"192.0.2.25:25"});
        break;
      case Kind::connect_failed:
        io.connect_requested = false;  // no further connect events
        feed(UpstreamConnectFailed{"connection refused"});
        break;
      case Kind::tls_done: {
        io.tls_done[Io::i(side)] = true;
        tls::TlsInfo info;
        info.version = (op & 0x20) ? "TLSv1.3" : "TLSv1";
        info.cipher = "TLS_AES_128_GCM_SHA256";
        if (side == Side::server) {
          tls::CertificateInfo cert;
          cert.subject = "CN=mail.example.net";
          cert.names = {"mail.example.net"};
          cert.sha256 = "00";
          info.peer_certificate = cert;
        }
        feed(TlsEstablished{side, info});
        break;
      }
      case Kind::tls_failed:
        io.tls_done[Io::i(side)] = true;
        feed(TlsFailed{side, "handshake failure"});
        break;
      case Kind::bytes:
        bytes = mailtap::fuzz::next_bytes(in, config.protocol, side);
        if (!bytes.empty()) feed(BytesReceived{side, bytes});
        break;
      case Kind::eof:
      case Kind::reset:
        io.eof[Io::i(side)] = true;
        feed(PeerClosed{side, kind == Kind::reset, {}});
        break;
      case Kind::timeout:
        feed(TimedOut{"idle"});
        break;
      case Kind::shutdown:
        feed(ShutdownRequested{"SIGTERM"});
        break;
    }
  }
  // Both peers go away: every session must end.
  for (Side side : {Side::client, Side::server}) {
    if (io.closed) break;
    if (!io.eof[Io::i(side)]) feed(PeerClosed{side, false, {}});
  }
  if (!io.closed) feed(TimedOut{"idle"});
  if (!io.closed) feed(TimedOut{"TLS handshake"});
  if (!io.closed || !session.finished()) violation("the session did not end when both peers left");
  return 0;
}
