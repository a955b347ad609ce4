// One TCP leg of a proxied session (towards the client or the upstream), with optional TLS over
// it. The only place bytes meet sockets: reads into a loop-wide buffer, writes with uv_try_write
// first and a queue after, reports what happened to its owner. Plaintext in, plaintext out.
#pragma once

#include <uv.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "mailtap/core/side.h"
#include "mailtap/tls/tls_endpoint.h"

namespace mailtap::io {

class LegOwner {
 public:
  virtual ~LegOwner() = default;
  virtual void on_plaintext(Side side, std::string_view bytes) = 0;
  virtual void on_eof(Side side, bool reset, std::string reason) = 0;
  virtual void on_tls_established(Side side, const tls::TlsInfo& info) = 0;
  virtual void on_tls_failed(Side side, std::string reason) = 0;
  virtual void on_write_drained(Side side) = 0;  // pending writes fell below the low watermark
  virtual void on_leg_closed(Side side) = 0;     // the handle is closed; the leg may be destroyed
};

class Leg {
 public:
  // Backpressure thresholds on bytes queued for writing.
  static constexpr size_t kHighWatermark = 1 << 20;
  static constexpr size_t kLowWatermark = 256 << 10;
  // Held writes are joined (copied) while they add up to one TLS record at most.
  static constexpr size_t kCoalesceBytes = 16 << 10;

  Leg(uv_loop_t* loop, Side side, LegOwner& owner);
  ~Leg();
  Leg(const Leg&) = delete;
  Leg& operator=(const Leg&) = delete;

  uv_tcp_t* tcp() { return &tcp_; }
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }

  // Reading happens while allowed by the session and not paused for backpressure.
  void allow_reading();
  void set_paused(bool paused);

  void write(std::string bytes);
  // Between hold_writes() and release_writes() (nested: the outermost release counts), writes
  // are gathered and leave together on release, in order: the commands that answer one read
  // cost one TLS record and one system call per leg instead of one per line. Starting TLS,
  // shutting down or closing sends what is held first.
  void hold_writes();
  void release_writes();
  void start_tls(std::unique_ptr<tls::TlsEndpoint> endpoint);
  void shutdown_write();  // after queued writes; sends close_notify first on TLS
  void close();           // close_notify + flush when possible, then close the handle
  void force_close();     // close now, dropping queued writes (a peer that never reads)
  size_t pending_write_bytes() const { return pending_write_bytes_; }
  bool tls_handshaking() const { return tls_ && !tls_->handshake_complete() && !tls_->failed(); }
  bool closing() const { return closing_; }
  uint64_t wire_bytes_in() const { return wire_in_; }
  uint64_t wire_bytes_out() const { return wire_out_; }

 private:
  static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  void note_write_error(int status);
  static void on_shutdown(uv_shutdown_t* req, int status);
  static void on_close(uv_handle_t* h);

  void handle_bytes(std::string_view bytes);
  void flush_tls();
  void send_held();
  void write_wire(std::string bytes);
  void update_reading();
  void maybe_close_handle();

  uv_tcp_t tcp_;
  Side side_;
  LegOwner& owner_;
  std::unique_ptr<tls::TlsEndpoint> tls_;
  bool tls_reported_ = false;
  bool read_allowed_ = false;
  bool paused_ = false;
  bool reading_ = false;
  bool eof_ = false;
  bool closing_ = false;
  bool shutdown_sent_ = false;
  bool shutdown_done_ = false;
  size_t pending_write_bytes_ = 0;
  uint64_t wire_in_ = 0;
  uint64_t wire_out_ = 0;
  int hold_depth_ = 0;
  int write_error_ = 0;  // UV_ECONNRESET / UV_EPIPE met by a write: the peer reset
  // Written while held (never empty); null otherwise, as it is for an idle session.
  std::unique_ptr<std::string> held_;
};

}  // namespace mailtap::io
