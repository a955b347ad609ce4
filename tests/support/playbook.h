// A playbook for the sans-I/O Session, after mitmproxy's Playbook (test/mitmproxy/proxy/tutils.py):
//
//   Playbook pb(config);
//   pb >> from_client("a1 STARTTLS\r\n")
//      << to_server("a1 STARTTLS\r\n")
//      >> from_server("a1 OK Begin TLS\r\n")
//      << start_tls(Side::server);
//
// `>>` feeds an event, `<<` expects the next command, in order. Feeding an event while commands of
// the previous one are still unexpected fails, and so does anything left over when the playbook
// ends. After every event the transcript is checked against the wire (SessionWatch). A failure
// prints the whole playbook with the failing step marked, then the transcript.
#pragma once

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "mailtap/session/session.h"
#include "support/session_invariants.h"

namespace mailtap::session::test {

// Time stands still unless a test moves it.
class FakeClock {
 public:
  Microseconds now() const { return now_; }
  void advance(Microseconds us) { now_ += us; }
  Clock clock() {
    return [this] { return now_; };
  }

 private:
  Microseconds now_ = 1'700'000'000'000'000;
};

class RecordingSink final : public EventSink {
 public:
  void record(transcript::Event event) override { events.push_back(std::move(event)); }
  std::vector<transcript::Event> events;
};

// ---- events ------------------------------------------------------------------------------

struct In {
  Event event;
  std::string bytes;  // owns what a BytesReceived views
  std::string text;   // for failure messages
};

inline tls::CertificateInfo upstream_certificate() {
  tls::CertificateInfo c;
  c.subject = "CN=mail.example.net";
  c.issuer = "CN=Example Issuing CA";
  c.common_name = "mail.example.net";
  c.names = {"mail.example.net", "smtp.example.net"};
  c.sha256 = "5e0c9b1f3a0d4c7e8f2b6a9d1c3e5f7a9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a";
  c.not_before = "2026-01-01T00:00:00Z";
  c.not_after = "2027-01-01T00:00:00Z";
  return c;
}

inline tls::TlsInfo tls_info(Side side, std::string version = "TLSv1.3") {
  tls::TlsInfo info;
  info.version = std::move(version);
  info.cipher = "TLS_AES_256_GCM_SHA384";
  if (side == Side::server) {
    info.sni = "mail.example.net";
    info.peer_certificate = upstream_certificate();
    info.verification = "verified";
  }
  return info;
}

inline In accepted(std::string peer = "127.0.0.1:50000") {
  return {ClientAccepted{peer, "127.0.0.1:2525"}, {}, "accepted(" + peer + ")"};
}
inline In upstream_connected(std::string peer = "192.0.2.25:25") {
  return {UpstreamConnected{peer}, {}, "upstream_connected(" + peer + ")"};
}
inline In upstream_failed(std::string reason) {
  return {UpstreamConnectFailed{reason}, {}, "upstream_failed(\"" + reason + "\")"};
}
inline In from_client(std::string bytes) {
  std::string text = "from_client(\"" + printable(bytes) + "\")";
  return {BytesReceived{Side::client, {}}, std::move(bytes), std::move(text)};
}
inline In from_server(std::string bytes) {
  std::string text = "from_server(\"" + printable(bytes) + "\")";
  return {BytesReceived{Side::server, {}}, std::move(bytes), std::move(text)};
}
inline In tls_established(Side side, tls::TlsInfo info) {
  return {TlsEstablished{side, std::move(info)},
          {},
          "tls_established(" + std::string(to_string(side)) + ")"};
}
inline In tls_established(Side side) {
  return tls_established(side, tls_info(side));
}
inline In tls_failed(Side side, std::string reason) {
  return {TlsFailed{side, reason},
          {},
          "tls_failed(" + std::string(to_string(side)) + ", \"" + reason + "\")"};
}
inline In peer_closed(Side side, bool reset = false) {
  return {PeerClosed{side, reset, {}},
          {},
          "peer_closed(" + std::string(to_string(side)) + (reset ? ", reset" : "") + ")"};
}
inline In timed_out(std::string what) {
  return {TimedOut{what}, {}, "timed_out(\"" + what + "\")"};
}
inline In shutdown_requested(std::string reason = "SIGTERM") {
  return {ShutdownRequested{reason}, {}, "shutdown_requested(\"" + reason + "\")"};
}
// mailtap ends this one session (its transcript cannot be written); the process goes on.
inline In session_ended_by_mailtap(std::string reason) {
  return {ShutdownRequested{reason, false}, {}, "session_ended_by_mailtap(\"" + reason + "\")"};
}

// ---- expected commands ---------------------------------------------------------------------

struct Out {
  std::string text;
  // "" when `command` is the expected one, else why not.
  std::function<std::string(const Command&)> mismatch;
};

template <typename T>
Out expect_kind(std::string text, std::function<std::string(const T&)> check = nullptr) {
  return {text, [check](const Command& c) -> std::string {
            const T* t = std::get_if<T>(&c);
            if (!t) return "a different command";
            return check ? check(*t) : std::string();
          }};
}

inline Out connect_upstream() {
  return expect_kind<ConnectUpstream>("connect_upstream()");
}

inline Out send_to(Side side, std::string bytes) {
  std::string text = std::string(side == Side::client ? "to_client" : "to_server") + "(\"" +
                     printable(bytes) + "\")";
  return expect_kind<Send>(text, [side, bytes](const Send& s) -> std::string {
    if (s.side != side) return "sent to the other side";
    if (s.bytes != bytes) return "other bytes";
    return {};
  });
}
inline Out to_client(std::string bytes) {
  return send_to(Side::client, std::move(bytes));
}
inline Out to_server(std::string bytes) {
  return send_to(Side::server, std::move(bytes));
}

// A protocol message mailtap says itself: starts with `prefix`, one line, CRLF-terminated.
inline Out to_client_line_starting(std::string prefix) {
  return expect_kind<Send>(
      "to_client(\"" + printable(prefix) + "...\\r\\n\")", [prefix](const Send& s) -> std::string {
        if (s.side != Side::client) return "sent to the server";
        if (s.bytes.rfind(prefix, 0) != 0) return "another beginning";
        if (s.bytes.size() < 2 || s.bytes.compare(s.bytes.size() - 2, 2, "\r\n") != 0)
          return "not CRLF-terminated";
        if (s.bytes.find('\n') != s.bytes.size() - 1) return "several lines";
        return {};
      });
}

inline Out start_tls(Side side) {
  return expect_kind<StartTls>("start_tls(" + std::string(to_string(side)) + ")",
                               [side](const StartTls& s) -> std::string {
                                 return s.side == side ? "" : "on the other side";
                               });
}
// Client TLS whose leaf must mirror the upstream's certificate.
inline Out start_client_tls_mirroring(tls::CertificateInfo cert, std::string upstream_host) {
  return expect_kind<StartTls>(
      "start_tls(client, leaf mirrors " + cert.subject + ")",
      [cert, upstream_host](const StartTls& s) -> std::string {
        if (s.side != Side::client) return "on the server side";
        if (!s.leaf.real) return "the leaf spec carries no upstream certificate";
        if (s.leaf.real->sha256 != cert.sha256 || s.leaf.real->names != cert.names)
          return "the leaf spec carries another certificate (" + s.leaf.real->subject + ")";
        if (s.leaf.upstream_host != upstream_host) return "another upstream host";
        return {};
      });
}
// Client TLS before any upstream certificate is known (upstream plain, or it failed).
inline Out start_client_tls_by_host(std::string upstream_host) {
  return expect_kind<StartTls>(
      "start_tls(client, leaf for host " + upstream_host + ")",
      [upstream_host](const StartTls& s) -> std::string {
        if (s.side != Side::client) return "on the server side";
        if (s.leaf.real) return "the leaf spec carries a certificate though none is known";
        if (s.leaf.upstream_host != upstream_host) return "another upstream host";
        return {};
      });
}
inline Out start_reading(Side side) {
  return expect_kind<StartReading>("start_reading(" + std::string(to_string(side)) + ")",
                                   [side](const StartReading& s) -> std::string {
                                     return s.side == side ? "" : "on the other side";
                                   });
}
inline Out shutdown_write(Side side) {
  return expect_kind<ShutdownWrite>("shutdown_write(" + std::string(to_string(side)) + ")",
                                    [side](const ShutdownWrite& s) -> std::string {
                                      return s.side == side ? "" : "on the other side";
                                    });
}
inline Out close_session(std::string reason_part = {}) {
  return expect_kind<Close>("close(\"" + reason_part + "\")",
                            [reason_part](const Close& c) -> std::string {
                              if (c.reason.find(reason_part) == std::string::npos)
                                return "another reason";
                              return {};
                            });
}

// ---- the playbook --------------------------------------------------------------------------

class Playbook {
 public:
  explicit Playbook(SessionConfig config)
      : config_(std::move(config)),
        session_(config_, clock_.clock(), sink_),
        watch_(config_, sink_.events) {}

  ~Playbook() {
    if (!failed_ && !pending_.empty()) fail("the session produced commands no step expected");
  }

  Playbook(const Playbook&) = delete;
  Playbook& operator=(const Playbook&) = delete;

  Playbook& operator>>(In in) {
    if (failed_) return *this;
    if (!pending_.empty()) {
      log_.push_back(">> " + in.text);
      fail("commands of the previous event were not all expected before this event");
      return *this;
    }
    log_.push_back(">> " + in.text);
    if (auto* b = std::get_if<BytesReceived>(&in.event)) b->bytes = in.bytes;
    watch_.before(in.event);
    std::vector<Command> out = session_.handle(in.event);
    std::string violation = watch_.after(out);
    for (auto& c : out) pending_.push_back(std::move(c));
    if (!violation.empty()) fail("an invariant broke: " + violation);
    return *this;
  }

  Playbook& operator<<(Out out) {
    if (failed_) return *this;
    log_.push_back("<< " + out.text);
    if (pending_.empty()) {
      fail("expected a command, the session produced none");
      return *this;
    }
    Command got = std::move(pending_.front());
    pending_.pop_front();
    std::string why = out.mismatch(got);
    if (!why.empty()) fail("got " + describe(got) + ": " + why);
    return *this;
  }

  // For steps that do not care about the exact commands of the last event (rare; say why).
  std::vector<Command> take_pending() {
    std::vector<Command> out(std::make_move_iterator(pending_.begin()),
                             std::make_move_iterator(pending_.end()));
    pending_.clear();
    return out;
  }

  Session& session() { return session_; }
  FakeClock& clock() { return clock_; }
  const SessionConfig& config() const { return config_; }
  const std::vector<transcript::Event>& transcript() const { return sink_.events; }
  const SessionWatch& watch() const { return watch_; }
  bool failed() const { return failed_; }

  std::string dump_transcript() const {
    std::string out;
    for (const auto& e : sink_.events) out += "  " + describe(e) + "\n";
    return out;
  }

 private:
  void fail(const std::string& why) {
    failed_ = true;
    std::string steps;
    for (size_t n = 0; n < log_.size(); ++n)
      steps += (n + 1 == log_.size() ? " -> " : "    ") + log_[n] + "\n";
    std::string left;
    for (const auto& c : pending_) left += "    " + describe(c) + "\n";
    ADD_FAILURE() << "playbook failed: " << why << "\n  steps:\n"
                  << steps << (left.empty() ? "" : "  commands not expected:\n" + left)
                  << "  transcript:\n"
                  << dump_transcript();
  }

  SessionConfig config_;
  FakeClock clock_;
  RecordingSink sink_;
  Session session_;
  SessionWatch watch_;
  std::deque<Command> pending_;
  std::vector<std::string> log_;
  bool failed_ = false;
};

// ---- transcript queries --------------------------------------------------------------------

using Transcript = std::vector<transcript::Event>;

inline const transcript::Event* find_event(const Transcript& t, transcript::EventType type,
                                           std::string_view code = {}) {
  for (const auto& e : t) {
    if (e.type != type) continue;
    if (code.empty()) return &e;
    if (e.fields.is_object() && e.fields.value("code", "") == code) return &e;
  }
  return nullptr;
}

inline size_t count_events(const Transcript& t, transcript::EventType type,
                           std::string_view code = {}) {
  size_t n = 0;
  for (const auto& e : t)
    if (e.type == type &&
        (code.empty() || (e.fields.is_object() && e.fields.value("code", "") == code)))
      ++n;
  return n;
}

inline ::testing::AssertionResult has_event(const Transcript& t, transcript::EventType type,
                                            std::string_view code = {}) {
  if (find_event(t, type, code)) return ::testing::AssertionSuccess();
  std::string all;
  for (const auto& e : t) all += "  " + describe(e) + "\n";
  return ::testing::AssertionFailure()
         << "no " << to_string(type) << " event" << (code.empty() ? "" : " with code ")
         << std::string(code) << " in the transcript:\n"
         << all;
}
inline ::testing::AssertionResult has_warning(const Transcript& t, std::string_view code) {
  return has_event(t, transcript::EventType::warning, code);
}
inline ::testing::AssertionResult has_error(const Transcript& t, std::string_view code) {
  return has_event(t, transcript::EventType::error, code);
}

// The data events from one party to another, in order.
inline std::vector<const transcript::Event*> data_events(const Transcript& t,
                                                         transcript::Party from,
                                                         transcript::Party to) {
  std::vector<const transcript::Event*> out;
  for (const auto& e : t)
    if (e.type == transcript::EventType::data && e.from == from && e.to == to) out.push_back(&e);
  return out;
}

// Everything one party sent another according to the transcript, concatenated.
inline std::string data_bytes(const Transcript& t, transcript::Party from, transcript::Party to) {
  std::string out;
  for (const auto* e : data_events(t, from, to)) out += e->bytes;
  return out;
}

// The data event carrying exactly `bytes` from one party to another, if any.
inline const transcript::Event* find_data(const Transcript& t, transcript::Party from,
                                          transcript::Party to, std::string_view bytes) {
  for (const auto* e : data_events(t, from, to))
    if (e->bytes == bytes) return e;
  return nullptr;
}

}  // namespace mailtap::session::test
