// Writes transcripts off the event loop. One writer per process owns a background thread; each
// session gets a SessionTranscript handle whose record() only appends to a queue. The thread
// encodes events to JSON (text when printable, base64 otherwise), runs the protocol decoder, and
// appends to the session's file (mode 0600) with write(2) as soon as it is handed the events.
//
// Hand-off. A handle opened without a stage hands each event over at once (a mutex, and a wake-up
// when the writer sleeps). An event loop opens its handles on a TranscriptStage instead: record()
// is then a plain append to a loop-local vector, and the loop calls hand_off() once per iteration
// (io::ProxyWorker does, from uv_prepare and uv_check hooks), which moves everything under one lock
// and wakes the writer at most once. A crash therefore loses at most what the current loop
// iteration recorded, plus the batch the writer thread is writing at that instant.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "mailtap/decode/session_decoder.h"
#include "mailtap/transcript/event.h"
#include "mailtap/transcript/session_header.h"

namespace mailtap::transcript {

namespace detail {
struct WriterCore;  // shared by the writer and every session handle, so a handle outliving the
                    // writer stays safe (its events are then dropped)
}

struct WriterOptions {
  std::filesystem::path directory;  // created (0700) if missing
  bool write_files = true;          // false: record nothing to disk (benchmarks: recording off)
  decode::DecodeOptions decode;
  // Called on the writer thread with every encoded line (header included), e.g. for --tail. A
  // transcript that cannot be written is reported here once per session as a line of type
  // "warning" with code "transcript_write_failed" (that line is not in any file); without an
  // observer the report goes to stderr.
  std::function<void(const std::string& session_id, const nlohmann::json& line)> observer;
  // Called on the writer thread once a session's last line has been handled (after finish()), so
  // an observer can drop per-session state (TailPrinter::forget).
  std::function<void(const std::string& session_id)> session_finished;
  // Memory bound on the queue. record() never blocks: once this many bytes of data events are
  // waiting, further data events of a session are dropped and counted, and a "transcript_overflow"
  // warning event with the counts is recorded in their place as soon as the queue has room again
  // (or at finish). Non-data events (connect, tls, close, ...) are small and always kept.
  size_t max_pending_bytes = size_t{64} << 20;
  // Once woken, the writer gathers events this long (or until linger_bytes are waiting) before
  // it encodes and writes them, so a busy relay costs one wake-up and one write(2) per session
  // per linger rather than per loop iteration. A crash can lose this much more of a transcript.
  // flush(), shutdown and a full linger_bytes end the wait at once. 0: write every hand-off.
  std::chrono::microseconds linger{2000};
  size_t linger_bytes = size_t{256} << 10;
};

class SessionTranscript {
 public:
  virtual ~SessionTranscript() = default;
  virtual void record(Event event) = 0;  // cheap, never blocks on I/O
  virtual void finish() = 0;             // no more events; file closed once drained
  virtual std::filesystem::path path() const = 0;
  // Any thread: the file could not be created or written (disk full, read-only directory); the
  // session's lines are being discarded. Set by the writer thread, so it turns true some time
  // after the failing event was recorded.
  // (Not pure: sinks other than the writer, e.g. test collectors, never fail.)
  virtual bool failed() const { return false; }
  // Why, once failed() is true (empty before).
  virtual std::string failure() const { return {}; }
};

// Events recorded on one thread (an event loop), handed to the writer in bulk. Not thread-safe:
// record() on its handles, hand_off() and destruction all happen on the owning thread.
class TranscriptStage {
 public:
  virtual ~TranscriptStage() = default;  // hands off what is left
  // Moves every event recorded since the last call to the writer thread (one lock, and one
  // wake-up only if the writer sleeps). Cheap when nothing was recorded.
  virtual void hand_off() = 0;
  virtual bool empty() const = 0;
};

class TranscriptWriter {
 public:
  explicit TranscriptWriter(WriterOptions options);
  ~TranscriptWriter();  // drains every queue, closes every file
  TranscriptWriter(const TranscriptWriter&) = delete;
  TranscriptWriter& operator=(const TranscriptWriter&) = delete;

  // File name: <UTC yyyymmddThhmmss.uuuuuuZ>-<protocol>-<session id>.jsonl. The header line is the
  // first line written.
  // With a stage, the handle's events wait on it until its next hand_off(); the stage must be
  // used on one thread and outlive nothing in particular (handles keep it alive).
  std::shared_ptr<SessionTranscript> open(const SessionHeader& header,
                                          const std::shared_ptr<TranscriptStage>& stage = nullptr);
  // Whether anything recorded goes anywhere (files, or an observer such as --tail): when not,
  // callers need not build events at all.
  bool records() const;
  // A stage for one event loop's sessions (see the top of this file).
  std::shared_ptr<TranscriptStage> make_stage();
  // Blocks until everything handed to the writer so far is written (used at shutdown and in
  // tests). Events still on a stage are not waited for: hand them off first.
  void flush();
  // Sessions whose transcript could not be written so far (files not created or cut short).
  uint64_t failed_sessions() const;
  // A problem writing (disk full, read-only); empty when all is well.
  std::string last_error() const;

 private:
  std::shared_ptr<detail::WriterCore> impl_;
};

// Encodes one event as its transcript JSON object (without decoding), `seq` its position.
nlohmann::json encode_event(const Event& event, uint64_t seq);
// Appends the line of a data event, number `seq`, with a decoder's `annotation` (an object, or
// null) merged in, without building the event's JSON object: byte for byte what
// append_json_line() writes for encode_event(event, seq) once the annotation's keys are set on it
// (keys in order, an annotation's key winning; an annotation holding "text" or "b64", a redaction,
// replaces the event's own bytes). For data events whose `fields` are empty (or not an object);
// the writer uses it for nearly every line.
void append_data_event_line(std::string& out, const Event& event, uint64_t seq,
                            const nlohmann::json& annotation);
// Rebuilds the exact bytes of a data line from its "text" or "b64" field.
std::string decode_bytes(const nlohmann::json& line);

}  // namespace mailtap::transcript
