// Each protocol's decoder as the transcript writer thread runs it: encode_event, then annotate,
// then dump the line. Also the encoder alone on the same events, so the decoder's own share is the
// difference. In MB/s of relayed bytes and events/s, for bulk transfers and chatty sessions.
#include <benchmark/benchmark.h>

#include <string>

#include "bench_sessions.h"
#include "mailtap/decode/session_decoder.h"
#include "mailtap/transcript/json_line.h"
#include "mailtap/transcript/transcript_writer.h"

namespace {

using namespace mailtap;

// One protocol's decoder over a session: the setup once, then a round per iteration (a 1 MiB
// message in 64 KiB frames when bulk, one small command and reply when chatty). `encode_only`
// skips the decoder, to separate its cost from the encoder's; `whole_line` adds the serialisation
// as the writer thread did until it stopped building an object per event (encode_event, the
// decoder annotates it, append_json_line); `writer_line` is what it does now (the decoder
// annotates an object holding "seq", append_data_event_line writes the line).
enum class Work { encode_only, encode_decode, whole_line, writer_line };

void BM_Decoder(benchmark::State& state, Protocol protocol, bool bulk, Work work) {
  bench::EventScript script = bench::event_script(protocol, bulk);
  auto decoder = decode::make_session_decoder(protocol, {});
  uint64_t seq = 0;
  for (const auto& e : script.setup) {
    nlohmann::json j = transcript::encode_event(e, ++seq);
    decoder->annotate(e, j);
  }
  std::string out;
  for (auto _ : state) {
    for (const auto& e : script.round) {
      if (work == Work::writer_line) {
        nlohmann::json annotation = {{"seq", ++seq}};
        decoder->annotate(e, annotation);
        out.clear();
        transcript::append_data_event_line(out, e, seq, annotation);
        benchmark::DoNotOptimize(out.data());
        continue;
      }
      nlohmann::json j = transcript::encode_event(e, ++seq);
      if (work != Work::encode_only) decoder->annotate(e, j);
      if (work == Work::whole_line) {
        out.clear();
        const bool verbatim = !j.contains("redacted");
        transcript::append_json_line(out, j,
                                     verbatim ? std::string_view(e.bytes) : std::string_view());
        benchmark::DoNotOptimize(out.data());
      }
      benchmark::DoNotOptimize(j);
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * script.round_bytes()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * script.round.size()));
}

#define MAILTAP_DECODER_BENCH(proto)                                                             \
  BENCHMARK_CAPTURE(BM_Decoder, proto##_bulk_encode_only, Protocol::proto, true,                 \
                    Work::encode_only)                                                           \
      ->Unit(benchmark::kMicrosecond);                                                           \
  BENCHMARK_CAPTURE(BM_Decoder, proto##_bulk_decode, Protocol::proto, true, Work::encode_decode) \
      ->Unit(benchmark::kMicrosecond);                                                           \
  BENCHMARK_CAPTURE(BM_Decoder, proto##_bulk_line, Protocol::proto, true, Work::whole_line)      \
      ->Unit(benchmark::kMicrosecond);                                                           \
  BENCHMARK_CAPTURE(BM_Decoder, proto##_chatty_encode_only, Protocol::proto, false,              \
                    Work::encode_only);                                                          \
  BENCHMARK_CAPTURE(BM_Decoder, proto##_chatty_decode, Protocol::proto, false,                   \
                    Work::encode_decode);                                                        \
  BENCHMARK_CAPTURE(BM_Decoder, proto##_bulk_writer, Protocol::proto, true, Work::writer_line)   \
      ->Unit(benchmark::kMicrosecond);                                                           \
  BENCHMARK_CAPTURE(BM_Decoder, proto##_chatty_line, Protocol::proto, false, Work::whole_line);  \
  BENCHMARK_CAPTURE(BM_Decoder, proto##_chatty_writer, Protocol::proto, false, Work::writer_line)

// A pipelined IMAP burst: `range(0)` NOOPs sent before any answer, then their completions in the
// order sent. The cost per command shows how the pending list copes with many open commands.
void BM_ImapPipelinedBurst(benchmark::State& state) {
  const auto burst = static_cast<size_t>(state.range(0));
  bench::EventScript script = bench::event_script(Protocol::imap, false);
  auto decoder = decode::make_session_decoder(Protocol::imap, {});
  uint64_t seq = 0;
  for (const auto& e : script.setup) {
    nlohmann::json j = transcript::encode_event(e, ++seq);
    decoder->annotate(e, j);
  }
  std::vector<transcript::Event> round;
  Microseconds t = 1'800'000'000'000'000;
  for (int side = 0; side < 2; ++side) {
    for (size_t i = 0; i < burst; ++i) {
      std::string tag = "p" + std::to_string(i);
      round.push_back(
          side == 0
              ? transcript::make_data(++t, transcript::Party::client, transcript::Party::server,
                                      transcript::FrameKind::line, true, tag + " NOOP\r\n")
              : transcript::make_data(++t, transcript::Party::server, transcript::Party::client,
                                      transcript::FrameKind::line, true,
                                      tag + " OK NOOP completed\r\n"));
    }
  }
  for (auto _ : state) {
    for (const auto& e : round) {
      nlohmann::json annotation = {{"seq", ++seq}};
      decoder->annotate(e, annotation);
      benchmark::DoNotOptimize(annotation);
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * burst));
}
BENCHMARK(BM_ImapPipelinedBurst)->Arg(10)->Arg(1000)->Unit(benchmark::kMicrosecond);

MAILTAP_DECODER_BENCH(smtp);
MAILTAP_DECODER_BENCH(imap);
MAILTAP_DECODER_BENCH(pop3);

}  // namespace
