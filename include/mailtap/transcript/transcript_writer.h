// Writes transcripts off the event loop. One writer per process owns a background thread; each
// session gets a SessionTranscript handle whose record() only enqueues. The thread encodes events
// to JSON (text when printable, base64 otherwise), runs the protocol decoder, and appends to the
// session's file (mode 0600) promptly, so a crash loses at most what was still queued.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "mailtap/decode/session_decoder.h"
#include "mailtap/transcript/event.h"
#include "mailtap/transcript/session_header.h"

namespace mailtap::transcript {

struct WriterOptions {
  std::filesystem::path directory;  // created (0700) if missing
  bool write_files = true;          // false: record nothing to disk (benchmarks: recording off)
  decode::DecodeOptions decode;
  // Called on the writer thread with every encoded line (header included), e.g. for --tail.
  std::function<void(const std::string& session_id, const nlohmann::json& line)> observer;
};

class SessionTranscript {
 public:
  virtual ~SessionTranscript() = default;
  virtual void record(Event event) = 0;  // cheap, never blocks on I/O
  virtual void finish() = 0;             // no more events; file closed once drained
  virtual const std::filesystem::path& path() const = 0;
};

class TranscriptWriter {
 public:
  explicit TranscriptWriter(WriterOptions options);
  ~TranscriptWriter();  // drains every queue, closes every file
  TranscriptWriter(const TranscriptWriter&) = delete;
  TranscriptWriter& operator=(const TranscriptWriter&) = delete;

  // File name: <UTC yyyymmddThhmmss.uuuuuuZ>-<protocol>-<session id>.jsonl. The header line is the
  // first line written.
  std::shared_ptr<SessionTranscript> open(const SessionHeader& header);
  // Blocks until everything enqueued so far is written (used at shutdown and in tests).
  void flush();
  // A problem writing (disk full, read-only); empty when all is well.
  std::string last_error() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Encodes one event as its transcript JSON object (without decoding), `seq` its position.
nlohmann::json encode_event(const Event& event, uint64_t seq);
// Rebuilds the exact bytes of a data line from its "text" or "b64" field.
std::string decode_bytes(const nlohmann::json& line);

}  // namespace mailtap::transcript
