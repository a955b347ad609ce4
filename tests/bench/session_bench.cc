// What the event loop spends per relayed MB outside TLS and system calls: the session framing
// alone, and the whole sans-I/O Session (framing, relay decisions, Send commands, transcript
// events handed to a sink), for each protocol, bulk and chatty. Reads arrive as 64 KiB pieces.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "bench_sessions.h"
#include "mailtap/session/framing.h"
#include "mailtap/session/session.h"

namespace {

using namespace mailtap;

void BM_Framing(benchmark::State& state, Protocol protocol, bool bulk) {
  bench::Script script = bench::wire_script(protocol, bulk);
  auto framing = session::make_framing(protocol, {});
  std::vector<session::Frame> frames;
  for (const auto& step : script.setup) {
    frames.clear();
    framing->feed(step.from, step.bytes, frames);
  }
  for (auto _ : state) {
    for (const auto& step : script.round) {
      frames.clear();
      if (framing->feed(step.from, step.bytes, frames)) state.SkipWithError("framing error");
      benchmark::DoNotOptimize(frames.data());
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * script.round_bytes()));
}

// A sink that keeps nothing but touches what it gets, like a queue push would.
class CountingSink final : public session::EventSink {
 public:
  void record(transcript::Event event) override {
    bytes += event.bytes.size();
    ++events;
    last = std::move(event);
  }
  uint64_t bytes = 0, events = 0;
  transcript::Event last;
};

void BM_Session(benchmark::State& state, Protocol protocol, bool bulk) {
  bench::Script script = bench::wire_script(protocol, bulk);
  CountingSink sink;
  session::SessionConfig config;
  config.protocol = protocol;
  session::Session s(
      config, [] { return Microseconds{1'700'000'000'000'000}; }, sink);
  std::vector<session::Command> out;
  auto feed = [&](const session::Event& e) {
    out.clear();
    s.handle(e, out);
  };
  feed(session::ClientAccepted{"127.0.0.1:50000", "127.0.0.1:1143"});
  feed(session::UpstreamConnected{"127.0.0.1:143"});
  for (const auto& step : script.setup) feed(session::BytesReceived{step.from, step.bytes});
  size_t sent = 0;
  for (auto _ : state) {
    for (const auto& step : script.round) {
      feed(session::BytesReceived{step.from, step.bytes});
      for (const auto& c : out)
        if (const auto* send = std::get_if<session::Send>(&c)) sent += send->bytes.size();
    }
  }
  if (s.finished()) state.SkipWithError("the session ended");
  if (sent < state.iterations() * script.round_bytes() / 2) state.SkipWithError("nothing relayed");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * script.round_bytes()));
  state.counters["events_per_round"] =
      static_cast<double>(sink.events) / static_cast<double>(state.iterations() + 1);
}

BENCHMARK_CAPTURE(BM_Framing, smtp_bulk, Protocol::smtp, true)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Framing, imap_bulk, Protocol::imap, true)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Framing, pop3_bulk, Protocol::pop3, true)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Framing, smtp_chatty, Protocol::smtp, false);
BENCHMARK_CAPTURE(BM_Framing, imap_chatty, Protocol::imap, false);
BENCHMARK_CAPTURE(BM_Framing, pop3_chatty, Protocol::pop3, false);
BENCHMARK_CAPTURE(BM_Session, smtp_bulk, Protocol::smtp, true)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Session, imap_bulk, Protocol::imap, true)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Session, pop3_bulk, Protocol::pop3, true)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Session, smtp_chatty, Protocol::smtp, false);
BENCHMARK_CAPTURE(BM_Session, imap_chatty, Protocol::imap, false);
BENCHMARK_CAPTURE(BM_Session, pop3_chatty, Protocol::pop3, false);

}  // namespace
