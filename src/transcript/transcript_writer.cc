// The transcript writer thread. The event loop only moves events into a queue under a mutex; this
// thread swaps the whole queue out, encodes and decodes each event, and appends the batch's lines
// to each session's file with write(2). Nothing is buffered across batches in user space, so a
// crash loses at most what was still queued.
#include "mailtap/transcript/transcript_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mailtap/transcript/json_line.h"
#include "mailtap/transcript/time_format.h"

namespace mailtap::transcript {
namespace {

// Rough JSON cost of an event beyond its payload, so a flood of tiny events is also bounded.
constexpr size_t kEventOverhead = 160;

// After each batch the writer thread lingers this long, taking what busy sessions record
// meanwhile as its next batch. Only a writer asleep for lack of work is woken by record(), so
// relaying a command costs the event loop a mutex, never a wake-up (a futex call and a thread
// competing for its core) per event.
constexpr auto kLinger = std::chrono::milliseconds(10);
// ... unless this many bytes are waiting: a bulk transfer is written as it goes.
constexpr size_t kWakeBytes = size_t{1} << 20;
// A session's line buffer is kept between batches up to this size.
constexpr size_t kKeepPending = 16 << 10;

std::string errno_text(int err) {
  return std::strerror(err);
}

// Session ids come from the process, but a file name must never contain '/' or odd bytes.
std::string file_safe(std::string_view id) {
  std::string out;
  out.reserve(id.size());
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    out += ok ? c : '_';
  }
  if (out.empty() || out[0] == '.') out.insert(0, "_");
  return out;
}

std::string file_name_for(const SessionHeader& h) {
  return compact_utc(h.started_us) + "-" + std::string(to_string(h.protocol)) + "-" +
         file_safe(h.session_id) + ".jsonl";
}

// Writes all of `buf`, retrying short writes and EINTR. Returns 0 or the errno that stopped it.
int write_all(int fd, const std::string& buf) {
  const char* p = buf.data();
  size_t left = buf.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  return 0;
}

struct SessionState {
  SessionHeader header;
  std::filesystem::path path;

  // Writer thread only.
  int fd = -1;
  uint64_t seq = 0;
  std::unique_ptr<decode::SessionDecoder> decoder;
  bool failed = false;          // the file could not be created or written; lines are discarded
  bool error_reported = false;  // reported once per session
  bool closing = false;         // finish seen: close after this batch is written
  bool in_batch = false;        // already listed among this batch's touched sessions
  std::string pending;          // this batch's lines for the file

  // Guarded by Core::mutex.
  uint64_t dropped_events = 0;
  uint64_t dropped_bytes = 0;

  ~SessionState() {
    if (fd >= 0) ::close(fd);
  }
};

enum class ItemKind { open, event, finish };

struct Item {
  ItemKind kind;
  std::shared_ptr<SessionState> session;
  Event event;
  size_t cost = 0;
};

}  // namespace

struct detail::WriterCore {
  WriterOptions options;
  bool enabled = false;  // anything to do at all: files or an observer

  std::mutex mutex;
  std::condition_variable wake;      // the writer thread waits for work
  std::condition_variable progress;  // flush() waits for the writer thread
  std::vector<Item> queue;
  size_t pending_bytes = 0;
  uint64_t enqueued = 0;
  uint64_t completed = 0;
  bool stopping = false;
  bool running = false;
  bool sleeping = false;      // the writer thread waits for work with no time limit
  bool flush_wanted = false;  // flush() waits: no lingering

  mutable std::mutex error_mutex;
  std::string last_error;

  std::thread thread;

  explicit WriterCore(WriterOptions o) : options(std::move(o)) {
    enabled = options.write_files || static_cast<bool>(options.observer);
  }

  void set_error(const std::string& message) {
    std::lock_guard lock(error_mutex);
    last_error = message;
  }

  // ---- event-loop side ----

  // Caller holds `mutex`. Emits the overflow warning a session owes, if any.
  void push_overflow_warning_locked(const std::shared_ptr<SessionState>& s, Microseconds t) {
    if (s->dropped_events == 0) return;
    nlohmann::json fields = {
        {"code", "transcript_overflow"},
        {"message",
         "transcript queue full (writer could not keep up): " + std::to_string(s->dropped_events) +
             " data events (" + std::to_string(s->dropped_bytes) + " bytes) not recorded"},
        {"dropped_events", s->dropped_events},
        {"dropped_bytes", s->dropped_bytes},
    };
    s->dropped_events = 0;
    s->dropped_bytes = 0;
    queue.push_back(Item{ItemKind::event, s, make_event(t, EventType::warning, std::move(fields)),
                         kEventOverhead});
    pending_bytes += kEventOverhead;
    ++enqueued;
  }

  void enqueue(ItemKind kind, const std::shared_ptr<SessionState>& s, Event event) {
    if (!enabled) return;
    bool wake_writer;
    {
      std::lock_guard lock(mutex);
      if (stopping) return;
      size_t cost = kEventOverhead;
      if (kind == ItemKind::event && event.type == EventType::data) {
        cost += event.bytes.size();
        if (pending_bytes + cost > options.max_pending_bytes) {
          ++s->dropped_events;
          s->dropped_bytes += event.bytes.size();
          return;
        }
      }
      if (kind != ItemKind::open) {
        Microseconds t = kind == ItemKind::event ? event.time_us : system_now_us();
        push_overflow_warning_locked(s, t);
      }
      size_t before = pending_bytes;
      queue.push_back(Item{kind, s, std::move(event), cost});
      pending_bytes += cost;
      ++enqueued;
      // A lingering writer takes this within kLinger; wake one that sleeps, or one that lingers
      // while a bulk transfer piles up.
      wake_writer = sleeping || (before < kWakeBytes && pending_bytes >= kWakeBytes);
      if (sleeping) sleeping = false;  // one wake-up is enough
    }
    if (wake_writer) wake.notify_one();
  }

  void flush() {
    std::unique_lock lock(mutex);
    uint64_t target = enqueued;
    if (completed < target) {
      flush_wanted = true;
      wake.notify_one();
    }
    progress.wait(lock, [&] { return completed >= target || !running; });
  }

  // ---- writer thread ----

  void report(SessionState& s, const std::string& message) {
    set_error(message);
    if (s.error_reported) return;
    s.error_reported = true;
    if (options.observer) {
      nlohmann::json line = {{"t", system_now_us()},
                             {"type", "warning"},
                             {"code", "transcript_write_failed"},
                             {"message", message}};
      notify_observer(s, line);
    } else {
      std::fprintf(stderr, "mailtap: session %s: %s\n", s.header.session_id.c_str(),
                   message.c_str());
    }
  }

  void notify_observer(SessionState& s, const nlohmann::json& line) {
    if (!options.observer) return;
    try {
      options.observer(s.header.session_id, line);
    } catch (const std::exception& e) {
      set_error(std::string("transcript observer failed: ") + e.what());
    }
  }

  // `known_text`: the event's bytes when the line carries them as encode_event's "text" (so they
  // are transcript text), which lets the line be written without nlohmann's slow escaping.
  void emit(SessionState& s, const nlohmann::json& line, std::string_view known_text = {}) {
    notify_observer(s, line);
    if (!options.write_files || s.failed) return;
    // Invalid UTF-8 from a decoder would make dump() throw; it is replaced rather than the line
    // lost (append_json_line dumps with error_handler_t::replace).
    append_json_line(s.pending, line, known_text);
    s.pending += '\n';
  }

  void process_open(SessionState& s) {
    std::string open_error;
    if (options.write_files) {
      int fd = ::open(s.path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_APPEND | O_CLOEXEC, 0600);
      if (fd < 0) {
        s.failed = true;
        open_error = "cannot create transcript " + s.path.string() + ": " + errno_text(errno);
      } else {
        s.fd = fd;
      }
    }
    try {
      s.decoder = decode::make_session_decoder(s.header.protocol, options.decode);
    } catch (const std::exception& e) {
      set_error(std::string("cannot create decoder: ") + e.what());
    }
    emit(s, to_json(s.header));
    // After the header, so a live view shows which session the failure belongs to.
    if (!open_error.empty()) report(s, open_error);
  }

  void process_event(SessionState& s, const Event& event) {
    nlohmann::json line = encode_event(event, ++s.seq);
    if (s.decoder) {
      try {
        s.decoder->annotate(event, line);
      } catch (const std::exception& e) {
        // A decoder bug must not cost the raw record; say so on the line instead.
        nlohmann::json& warnings = line["warnings"];
        if (!warnings.is_array()) warnings = nlohmann::json::array();
        warnings.push_back({{"code", "decoder_failed"}, {"message", e.what()}});
      }
    }
    // A decoder that redacts replaces "text"; otherwise it is encode_event's copy of the bytes.
    bool verbatim = event.type == EventType::data && !line.contains("redacted");
    emit(s, line, verbatim ? std::string_view(event.bytes) : std::string_view());
  }

  void write_out(SessionState& s) {
    if (s.pending.empty()) return;
    if (s.fd >= 0 && !s.failed) {
      if (int err = write_all(s.fd, s.pending); err != 0) {
        // A partial line may be on disk now; stop appending so every earlier line stays intact
        // (readers tolerate a truncated last line).
        s.failed = true;
        ::close(s.fd);
        s.fd = -1;
        report(s, "cannot write transcript " + s.path.string() + ": " + errno_text(err));
      }
    }
    // A session that moved a message keeps no megabyte-sized buffer while it idles afterwards.
    if (s.pending.capacity() > kKeepPending) {
      std::string().swap(s.pending);
    } else {
      s.pending.clear();
    }
  }

  void close_session(SessionState& s) {
    if (s.fd >= 0) {
      if (::close(s.fd) != 0 && !s.failed) {
        report(s, "cannot close transcript " + s.path.string() + ": " + errno_text(errno));
      }
      s.fd = -1;
    }
    s.decoder.reset();
    if (options.session_finished) {
      try {
        options.session_finished(s.header.session_id);
      } catch (const std::exception& e) {
        set_error(std::string("transcript session_finished callback failed: ") + e.what());
      }
    }
  }

  void run() {
    std::vector<Item> batch;
    std::vector<SessionState*> touched;
    // Sessions whose file is open, so shutdown can close those never finished.
    std::unordered_map<SessionState*, std::shared_ptr<SessionState>> live;
    for (;;) {
      {
        std::unique_lock lock(mutex);
        auto urgent = [&] { return stopping || flush_wanted || pending_bytes >= kWakeBytes; };
        wake.wait_for(lock, kLinger, urgent);
        if (queue.empty() && !stopping) {
          flush_wanted = false;
          sleeping = true;
          wake.wait(lock, [&] { return !queue.empty() || stopping; });
          sleeping = false;
        }
        if (queue.empty()) break;  // stopping and drained
        flush_wanted = false;
        batch.swap(queue);
      }
      size_t cost = 0;
      for (Item& item : batch) {
        cost += item.cost;
        SessionState& s = *item.session;
        if (!s.in_batch) {
          s.in_batch = true;
          touched.push_back(&s);
        }
        switch (item.kind) {
          case ItemKind::open:
            live.emplace(&s, item.session);
            process_open(s);
            break;
          case ItemKind::event:
            process_event(s, item.event);
            break;
          case ItemKind::finish:
            s.closing = true;
            break;
        }
      }
      for (SessionState* s : touched) write_out(*s);
      for (SessionState* s : touched) {
        s->in_batch = false;
        if (s->closing && live.count(s)) {
          close_session(*s);
          live.erase(s);
        }
      }
      touched.clear();
      size_t n = batch.size();
      batch.clear();  // releases events (and possibly sessions) outside the lock
      {
        std::lock_guard lock(mutex);
        pending_bytes -= cost;
        completed += n;
      }
      progress.notify_all();
    }
    for (auto& [ptr, s] : live) close_session(*s);
    std::lock_guard lock(mutex);
    running = false;
    progress.notify_all();
  }
};

namespace {

class SessionHandle final : public SessionTranscript {
 public:
  SessionHandle(std::shared_ptr<detail::WriterCore> impl, std::shared_ptr<SessionState> state)
      : impl_(std::move(impl)), state_(std::move(state)) {}
  ~SessionHandle() override { finish(); }

  void record(Event event) override {
    if (!finished_) impl_->enqueue(ItemKind::event, state_, std::move(event));
  }
  void finish() override {
    if (finished_) return;
    finished_ = true;
    impl_->enqueue(ItemKind::finish, state_, Event{});
  }
  const std::filesystem::path& path() const override { return state_->path; }

 private:
  std::shared_ptr<detail::WriterCore> impl_;
  std::shared_ptr<SessionState> state_;
  bool finished_ = false;
};

}  // namespace

TranscriptWriter::TranscriptWriter(WriterOptions options)
    : impl_(std::make_shared<detail::WriterCore>(std::move(options))) {
  if (impl_->options.write_files) {
    const auto& dir = impl_->options.directory;
    std::error_code ec;
    bool existed = std::filesystem::exists(dir, ec);
    if (!existed) {
      std::filesystem::create_directories(dir, ec);
      if (ec) {
        impl_->set_error("cannot create transcript directory " + dir.string() + ": " +
                         ec.message());
      } else {
        // Transcripts hold mail and credentials: only the owner may list or read them.
        ::chmod(dir.c_str(), 0700);
      }
    }
  }
  impl_->running = true;
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
}

TranscriptWriter::~TranscriptWriter() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_one();
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::shared_ptr<SessionTranscript> TranscriptWriter::open(const SessionHeader& header) {
  auto state = std::make_shared<SessionState>();
  state->header = header;
  if (impl_->options.write_files) state->path = impl_->options.directory / file_name_for(header);
  impl_->enqueue(ItemKind::open, state, Event{});
  return std::make_shared<SessionHandle>(impl_, std::move(state));
}

void TranscriptWriter::flush() {
  impl_->flush();
}

std::string TranscriptWriter::last_error() const {
  std::lock_guard lock(impl_->error_mutex);
  return impl_->last_error;
}

}  // namespace mailtap::transcript
