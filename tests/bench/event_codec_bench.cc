// The transcript encoder: encode_event (the JSON object, bytes as text or base64) and the line
// as the writer thread writes it (encode + dump), per data event, in MB/s.
#include <benchmark/benchmark.h>

#include <random>
#include <string>

#include "bench_sessions.h"
#include "mailtap/transcript/bytes_codec.h"
#include "mailtap/transcript/json_line.h"
#include "mailtap/transcript/transcript_writer.h"

namespace {

using namespace mailtap;

transcript::Event data_event(std::string bytes) {
  return transcript::make_data(1'700'000'000'000'000, transcript::Party::server,
                               transcript::Party::client, transcript::FrameKind::literal, true,
                               std::move(bytes));
}

// encode_event on one data event of range(0) bytes, printable text (stored as a JSON string) or
// random binary (stored as base64); with `dump`, also nlohmann's dump: the JSON line as it was
// written to the file.
void BM_EncodeEvent(benchmark::State& state, bool text, bool dump) {
  size_t size = static_cast<size_t>(state.range(0));
  std::string bytes = bench::message_body(std::max<size_t>(size, 4));
  if (!text) {
    std::mt19937 rng(7);
    for (char& c : bytes) c = static_cast<char>(rng());
  }
  bytes.resize(size);
  transcript::Event event = data_event(bytes);
  uint64_t seq = 0;
  std::string out;
  for (auto _ : state) {
    nlohmann::json j = transcript::encode_event(event, ++seq);
    if (dump) {
      out = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      benchmark::DoNotOptimize(out.data());
    }
    benchmark::DoNotOptimize(j);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
}
void BM_EncodeAndDump(benchmark::State& state, bool text) {
  BM_EncodeEvent(state, text, true);
}
BENCHMARK_CAPTURE(BM_EncodeEvent, text, true, false)->Arg(30)->Arg(64 << 10);
BENCHMARK_CAPTURE(BM_EncodeEvent, binary, false, false)->Arg(30)->Arg(64 << 10);
BENCHMARK_CAPTURE(BM_EncodeAndDump, text, true)->Arg(30)->Arg(64 << 10);
BENCHMARK_CAPTURE(BM_EncodeAndDump, binary, false)->Arg(30)->Arg(64 << 10);

// A relayed message's text as a JSON string: nlohmann's escaping against append_json_text.
void BM_JsonText(benchmark::State& state, bool fast) {
  std::string text = bench::message_body(64 << 10);
  std::string out;
  for (auto _ : state) {
    out.clear();
    if (fast) {
      transcript::append_json_text(out, text);
    } else {
      out = nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK_CAPTURE(BM_JsonText, nlohmann_dump, false);
BENCHMARK_CAPTURE(BM_JsonText, append_json_text, true);

// The line as the writer thread writes it: encode_event, then append_json_line with the event's
// bytes as the known text (a data line) or without (a short line goes through our serializer).
void BM_EncodeAndAppendLine(benchmark::State& state) {
  size_t size = static_cast<size_t>(state.range(0));
  std::string bytes = bench::message_body(std::max<size_t>(size, 4));
  bytes.resize(size);
  transcript::Event event = data_event(bytes);
  uint64_t seq = 0;
  std::string out;
  for (auto _ : state) {
    nlohmann::json j = transcript::encode_event(event, ++seq);
    out.clear();
    transcript::append_json_line(out, j, event.bytes);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
}
BENCHMARK(BM_EncodeAndAppendLine)->Arg(30)->Arg(64 << 10);

// The line as the writer thread writes it now: no JSON object for the event, only for the
// decoder's annotation (here the "seq" every annotation starts with, and a short note).
void BM_AppendDataEventLine(benchmark::State& state) {
  size_t size = static_cast<size_t>(state.range(0));
  std::string bytes = bench::message_body(std::max<size_t>(size, 4));
  bytes.resize(size);
  transcript::Event event = data_event(bytes);
  uint64_t seq = 0;
  std::string out;
  for (auto _ : state) {
    nlohmann::json annotation = {{"seq", ++seq}};
    annotation["note"] = "a note";
    out.clear();
    transcript::append_data_event_line(out, event, seq, annotation);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
}
BENCHMARK(BM_AppendDataEventLine)->Arg(30)->Arg(64 << 10);

// The text-or-base64 decision made for every data event.
void BM_IsTranscriptText(benchmark::State& state) {
  std::string text = bench::message_body(64 << 10);
  for (auto _ : state) benchmark::DoNotOptimize(transcript::is_transcript_text(text));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_IsTranscriptText);

}  // namespace
