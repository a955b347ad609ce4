// The transcript writer thread. Event loops hand events over in bulk, once per loop iteration
// (TranscriptStage), or one at a time (handles without a stage). Once woken, this thread lingers
// briefly (WriterOptions::linger, 2 ms) so that the hand-offs of many loop iterations make one
// batch, then swaps the whole queue out, encodes and decodes each event, and appends the batch's
// lines to each session's file with one write(2): nothing is buffered across batches in user
// space. A crash loses at most what was not yet handed over (the loop iteration in progress), the
// linger's worth of events and the batch being written.
#include "mailtap/transcript/transcript_writer.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
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
#include "mailtap/transcript/write_behind.h"

namespace mailtap::transcript {
namespace {

// Rough JSON cost of an event beyond its payload, so a flood of tiny events is also bounded.
constexpr size_t kEventOverhead = 160;

// Line buffers go back to a small pool after each batch, so an idle session holds none: one up to
// this size is kept for reuse, at most kSpareBuffers of them.
constexpr size_t kKeepPending = 16 << 10;
constexpr size_t kSpareBuffers = 16;

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

std::string file_name_for(Microseconds started_us, Protocol protocol, std::string_view id) {
  return compact_utc(started_us) + "-" + std::string(to_string(protocol)) + "-" + file_safe(id) +
         ".jsonl";
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
  // Until the writer thread has written the header line (then released: an idle session keeps
  // only what it needs).
  std::unique_ptr<SessionHeader> header;
  std::string session_id;
  Protocol protocol = Protocol::smtp;
  // The file is WriterOptions::directory / file_name_for(started_us, protocol, session_id) (see
  // WriterCore::path_of): the name is made when needed, not kept for the session's whole life.
  Microseconds started_us = 0;

  // Writer thread only.
  int fd = -1;
  uint64_t seq = 0;
  std::unique_ptr<decode::SessionDecoder> decoder;
  bool failed = false;          // the file could not be created or written; lines are discarded
  bool error_reported = false;  // reported once per session
  bool closing = false;         // finish seen: close after this batch is written
  bool in_batch = false;        // already listed among this batch's touched sessions
  std::string pending;          // this batch's lines for the file (from the pool, returned after)
  WriteBehind write_behind;     // a long transcript does not fill the page cache

  // Guarded by Core::mutex.
  uint64_t dropped_events = 0;
  uint64_t dropped_bytes = 0;

  // Set by the writer thread, read by the session's own thread (SessionTranscript::failed()):
  // `failure` is written once, before failed_flag is released, and read only after it is seen.
  std::atomic<bool> failed_flag{false};
  std::unique_ptr<const std::string> failure;

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

namespace detail {
struct StagedItem {
  ItemKind kind;
  std::shared_ptr<SessionState> session;
  Event event;
};
}  // namespace detail

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
  bool sleeping = false;   // the writer thread waits for work: the next hand-off wakes it
  bool lingering = false;  // it gathers more: only linger_bytes waiting (or a flush) wakes it
  int flush_waiters = 0;   // flush() calls waiting: no lingering while there are any
  std::atomic<uint64_t> failed_sessions{0};

  mutable std::mutex error_mutex;
  std::string last_error;

  std::thread thread;

  // Writer thread only: line buffers between batches (see kSpareBuffers).
  std::vector<std::string> spare_buffers;

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

  // Caller holds `mutex`. Queues one item, or drops it (data events beyond the memory bound).
  void enqueue_locked(ItemKind kind, const std::shared_ptr<SessionState>& s, Event&& event) {
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
    queue.push_back(Item{kind, s, std::move(event), cost});
    pending_bytes += cost;
    ++enqueued;
  }

  // Caller holds `mutex`. Whether the writer must be woken (it sleeps and there is work): one
  // wake-up per hand-off at most, none while the writer is busy (it looks again when done).
  bool wake_needed_locked() {
    if (lingering) {
      if (pending_bytes < options.linger_bytes) return false;
      lingering = false;
      return true;
    }
    if (!sleeping || queue.empty()) return false;
    sleeping = false;
    return true;
  }

  // One item at once (handles without a stage).
  void enqueue(ItemKind kind, const std::shared_ptr<SessionState>& s, Event event) {
    if (!enabled) return;
    bool wake_writer;
    {
      std::lock_guard lock(mutex);
      if (stopping) return;
      enqueue_locked(kind, s, std::move(event));
      wake_writer = wake_needed_locked();
    }
    if (wake_writer) wake.notify_one();
  }

  // A stage's items in one go.
  void hand_off(std::vector<detail::StagedItem>& items) {
    if (items.empty()) return;
    if (!enabled) {
      items.clear();
      return;
    }
    bool wake_writer = false;
    {
      std::lock_guard lock(mutex);
      if (!stopping) {
        for (auto& item : items) enqueue_locked(item.kind, item.session, std::move(item.event));
        wake_writer = wake_needed_locked();
      }
    }
    if (wake_writer) wake.notify_one();
    items.clear();  // releases session references outside the lock
  }

  void flush() {
    std::unique_lock lock(mutex);
    uint64_t target = enqueued;
    ++flush_waiters;
    if (completed < target) wake.notify_one();
    progress.wait(lock, [&] { return completed >= target || !running; });
    --flush_waiters;
  }

  // ---- writer thread ----

  void report(SessionState& s, const std::string& message) {
    set_error(message);
    if (s.error_reported) return;
    s.error_reported = true;
    s.failure = std::make_unique<const std::string>(message);
    s.failed_flag.store(true, std::memory_order_release);
    failed_sessions.fetch_add(1, std::memory_order_relaxed);
    if (options.observer) {
      nlohmann::json line = {{"t", system_now_us()},
                             {"type", "warning"},
                             {"code", "transcript_write_failed"},
                             {"message", message}};
      notify_observer(s, line);
    } else {
      std::fprintf(stderr, "mailtap: session %s: %s\n", s.session_id.c_str(), message.c_str());
    }
  }

  void notify_observer(SessionState& s, const nlohmann::json& line) {
    if (!options.observer) return;
    try {
      options.observer(s.session_id, line);
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
    std::string& out = line_buffer(s);
    append_json_line(out, line, known_text);
    out += '\n';
  }

  // The session's buffer for this batch's lines, taken from the pool when it has none.
  std::string& line_buffer(SessionState& s) {
    if (s.pending.empty() && !spare_buffers.empty()) {
      s.pending.swap(spare_buffers.back());
      spare_buffers.pop_back();
    }
    return s.pending;
  }

  // By path, not relative to a directory descriptor: a directory renamed away (rotation) and
  // made anew gets the new sessions.
  std::string path_of(const SessionState& s) const {
    return (options.directory / file_name_for(s.started_us, s.protocol, s.session_id)).string();
  }

  void process_open(SessionState& s) {
    std::string open_error;
    if (options.write_files) {
      std::string path = path_of(s);
      int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_APPEND | O_CLOEXEC, 0600);
      if (fd < 0) {
        s.failed = true;
        open_error = "cannot create transcript " + path + ": " + errno_text(errno);
      } else {
        s.fd = fd;
      }
    }
    try {
      s.decoder = decode::make_session_decoder(s.protocol, options.decode);
    } catch (const std::exception& e) {
      set_error(std::string("cannot create decoder: ") + e.what());
    }
    if (s.header) emit(s, to_json(*s.header));
    s.header.reset();
    // After the header, so a live view shows which session the failure belongs to.
    if (!open_error.empty()) report(s, open_error);
  }

  void process_event(SessionState& s, const Event& event) {
    const uint64_t seq = ++s.seq;
    // Nearly every line: a data event with no fields of its own, and no observer that wants the
    // line as JSON. Its keys are written directly; only the decoder's annotation is a JSON object
    // (it starts with "seq", which decoders may refer to).
    if (event.type == EventType::data && !options.observer &&
        !(event.fields.is_object() && !event.fields.empty())) {
      nlohmann::json annotation = {{"seq", seq}};
      if (s.decoder) {
        try {
          s.decoder->annotate(event, annotation);
        } catch (const std::exception& e) {
          if (!annotation.is_object()) annotation = nlohmann::json::object();
          nlohmann::json& warnings = annotation["warnings"];
          if (!warnings.is_array()) warnings = nlohmann::json::array();
          warnings.push_back({{"code", "decoder_failed"}, {"message", e.what()}});
        }
      }
      if (!options.write_files || s.failed) return;
      std::string& out = line_buffer(s);
      // Passed as it is (a non-object counts as no annotation): a conditional here would copy it.
      append_data_event_line(out, event, seq, annotation);
      out += '\n';
      return;
    }
    nlohmann::json line = encode_event(event, seq);
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
        report(s, "cannot write transcript " + path_of(s) + ": " + errno_text(err));
      } else if (int wb = s.write_behind.wrote(s.fd, s.pending.size()); wb != 0) {
        // The lines reached the page cache but the kernel could not write them to the disk.
        report(s, "transcript " + path_of(s) + " is incomplete on disk: " + errno_text(wb));
      }
    }
    // An idle session keeps no buffer: a small one goes back to the pool for the next session
    // written, a message-sized one is freed.
    std::string buffer;
    buffer.swap(s.pending);
    if (buffer.capacity() <= kKeepPending && spare_buffers.size() < kSpareBuffers) {
      buffer.clear();
      spare_buffers.push_back(std::move(buffer));
    }
  }

  void close_session(SessionState& s) {
    if (s.fd >= 0) {
      if (::close(s.fd) != 0 && !s.failed) {
        report(s, "cannot close transcript " + path_of(s) + ": " + errno_text(errno));
      }
      s.fd = -1;
    }
    s.decoder.reset();
    if (options.session_finished) {
      try {
        options.session_finished(s.session_id);
      } catch (const std::exception& e) {
        set_error(std::string("transcript session_finished callback failed: ") + e.what());
      }
    }
  }

  // Caller holds `lock` on `mutex` and the queue has work. Lets more hand-offs join the batch.
  void linger(std::unique_lock<std::mutex>& lock) {
    auto done = [&] {
      return stopping || flush_waiters > 0 || pending_bytes >= options.linger_bytes;
    };
    if (options.linger.count() <= 0 || done()) return;
    lingering = true;
    wake.wait_for(lock, options.linger, done);
    lingering = false;
  }

  void run() {
    // SCHED_BATCH: same share of the CPU, but the writer's wake-ups do not preempt a running
    // event loop (or the client and server beside it): on a busy core the relay's round trip
    // comes first and the batch is written a moment later. Unprivileged; if refused, no harm.
    sched_param batch_param{};
    pthread_setschedparam(pthread_self(), SCHED_BATCH, &batch_param);
    std::vector<Item> batch;
    std::vector<SessionState*> touched;
    // Sessions whose file is open, so shutdown can close those never finished.
    std::unordered_map<SessionState*, std::shared_ptr<SessionState>> live;
    for (;;) {
      {
        // No lingering: whatever was handed over is written now, so a crash cannot take it.
        std::unique_lock lock(mutex);
        if (queue.empty() && !stopping) {
          sleeping = true;
          wake.wait(lock, [&] { return !queue.empty() || stopping; });
          sleeping = false;
        }
        if (queue.empty()) break;  // stopping and drained
        linger(lock);
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

class Stage final : public TranscriptStage {
 public:
  explicit Stage(std::shared_ptr<detail::WriterCore> impl) : impl_(std::move(impl)) {}
  ~Stage() override { hand_off(); }

  void hand_off() override { impl_->hand_off(items_); }
  bool empty() const override { return items_.empty(); }

  void add(ItemKind kind, const std::shared_ptr<SessionState>& s, Event&& event) {
    items_.push_back(detail::StagedItem{kind, s, std::move(event)});
  }

 private:
  std::shared_ptr<detail::WriterCore> impl_;
  std::vector<detail::StagedItem> items_;
};

class SessionHandle final : public SessionTranscript {
 public:
  SessionHandle(std::shared_ptr<detail::WriterCore> impl, std::shared_ptr<SessionState> state,
                std::shared_ptr<Stage> stage)
      : impl_(std::move(impl)), state_(std::move(state)), stage_(std::move(stage)) {}
  ~SessionHandle() override { finish(); }

  void record(Event event) override {
    if (!finished_) put(ItemKind::event, std::move(event));
  }
  void finish() override {
    if (finished_) return;
    finished_ = true;
    put(ItemKind::finish, Event{});
  }
  std::filesystem::path path() const override {
    if (!impl_->options.write_files) return {};
    return impl_->path_of(*state_);
  }
  bool failed() const override { return state_->failed_flag.load(std::memory_order_acquire); }
  std::string failure() const override {
    if (!failed()) return {};
    return *state_->failure;
  }

 private:
  void put(ItemKind kind, Event&& event) {
    if (stage_) {
      stage_->add(kind, state_, std::move(event));
    } else {
      impl_->enqueue(kind, state_, std::move(event));
    }
  }

  std::shared_ptr<detail::WriterCore> impl_;
  std::shared_ptr<SessionState> state_;
  std::shared_ptr<Stage> stage_;
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
  impl_->wake.notify_one();  // a sleeping writer drains what is queued, then ends
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::shared_ptr<SessionTranscript> TranscriptWriter::open(
    const SessionHeader& header, const std::shared_ptr<TranscriptStage>& stage) {
  auto state = std::make_shared<SessionState>();
  state->header = std::make_unique<SessionHeader>(header);
  state->session_id = header.session_id;
  state->protocol = header.protocol;
  state->started_us = header.started_us;
  // Only stages made by this writer are accepted (make_stage() is the only maker).
  auto staged = std::static_pointer_cast<Stage>(stage);
  if (staged) {
    staged->add(ItemKind::open, state, Event{});
  } else {
    impl_->enqueue(ItemKind::open, state, Event{});
  }
  return std::make_shared<SessionHandle>(impl_, std::move(state), std::move(staged));
}

bool TranscriptWriter::records() const {
  return impl_->enabled;
}

std::shared_ptr<TranscriptStage> TranscriptWriter::make_stage() {
  return std::make_shared<Stage>(impl_);
}

uint64_t TranscriptWriter::failed_sessions() const {
  return impl_->failed_sessions.load(std::memory_order_relaxed);
}

void TranscriptWriter::flush() {
  impl_->flush();
}

std::string TranscriptWriter::last_error() const {
  std::lock_guard lock(impl_->error_mutex);
  return impl_->last_error;
}

}  // namespace mailtap::transcript
