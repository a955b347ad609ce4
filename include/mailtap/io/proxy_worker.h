// One event loop of the proxy: a listening socket per listener, the connections they accept, and
// the TLS contexts those sessions use. `mailtap proxy --threads N` runs N workers, one loop each:
// worker 0 on the main thread (which also handles signals), the others on their own threads.
// Their listening sockets share each address with SO_REUSEPORT, so the kernel spreads new
// connections over the loops; a session lives on one loop from accept to close.
//
// Threads meet only in WorkerShared (atomics), in the transcript writer (thread-safe), and in
// request_shutdown()/request_stop(), which hand the request to the worker's loop (uv_async).
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "mailtap/io/connection.h"
#include "mailtap/io/listener_config.h"
#include "mailtap/tls/cert_authority.h"

namespace mailtap::io {

// What the workers of one process share.
struct WorkerShared {
  size_t max_connections = 1000;       // across all workers
  std::atomic<size_t> connections{0};  // sessions open in all workers
  std::atomic<uint64_t> sessions_started{0};
  uint32_t run_tag = 0;           // tells this process's session ids from another run's
  std::string next_session_id();  // unique across workers
};

// The TLS contexts of one worker. Each worker has its own: the CA's leaf cache is not meant for
// concurrent use, and separate contexts keep every handshake free of cross-thread locks.
struct WorkerTls {
  std::shared_ptr<tls::CertAuthority> ca;
  std::shared_ptr<SSL_CTX> client_ctx;
  std::shared_ptr<SSL_CTX> upstream_ctx;
};

class ProxyWorker final : public ConnectionOwner {
 public:
  // Called on the worker's thread once it has shut down and its last session has closed.
  using Drained = std::function<void(ProxyWorker*)>;

  ProxyWorker(size_t index, WorkerShared& shared, WorkerTls tls, Drained drained);
  ~ProxyWorker() override;
  ProxyWorker(const ProxyWorker&) = delete;
  ProxyWorker& operator=(const ProxyWorker&) = delete;

  uv_loop_t* loop() { return &loop_; }
  size_t index() const { return index_; }

  // Binds and listens on every listener. `reuse_port`: SO_REUSEPORT, so that other workers can
  // bind the same addresses; a listener on port 0 gets its real port filled in.
  bool listen(std::vector<ListenerContext> contexts, bool reuse_port, std::string& error);
  // The listeners as bound (real ports).
  std::vector<ListenerConfig> bound() const;

  // Runs the loop until it has nothing left to do or is stopped (its own thread, or the main).
  void run();
  // Worker's thread only: say goodbye to every session, stop accepting; drained() follows once
  // the last session has closed.
  void shutdown(const std::string& reason);
  size_t open_connections() const { return connections_.size(); }

  // Any thread: the same, delivered to the worker's loop. A worker that has already drained
  // ignores them.
  void request_shutdown(const std::string& reason);
  void request_stop();  // stop the loop now, sessions left as they are (second signal)
  // Any thread: lets request_*() wake this loop (workers that run on their own thread).
  void enable_requests();

 private:
  struct Listener {
    ProxyWorker* worker;
    ListenerContext context;
    uv_tcp_t tcp;
  };

  bool bind(Listener& l, bool reuse_port, std::string& error);
  static void on_connection(uv_stream_t* s, int status);
  static void on_request(uv_async_t* a);
  static void on_loop_iteration(uv_handle_t* h);
  void refuse(Listener& l, uv_stream_t* server);
  void connection_finished(Connection* c) override;
  static void on_deadline_tick(uv_timer_t* t);
  void drained();

  size_t index_;
  WorkerShared& shared_;
  WorkerTls tls_;
  Drained drained_cb_;
  uv_loop_t loop_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  // Each connection knows its index here (Connection::owner_slot): removal moves the last one into
  // its place, and a session costs one pointer instead of a hash map node.
  std::vector<std::unique_ptr<Connection>> connections_;
  // Transcript events this loop's sessions record wait here and go to the writer thread once per
  // loop iteration: from uv_check (after I/O callbacks) and uv_prepare (before the loop blocks,
  // for what timers and close callbacks recorded). Neither hook keeps the loop alive.
  std::shared_ptr<transcript::TranscriptStage> stage_;
  uv_prepare_t before_poll_;
  uv_check_t after_poll_;
  // Every second, each connection checks its deadlines: one timer for the loop, not one per
  // connection (an idle session holds no timer handle). It keeps the loop alive only while there
  // are connections, as their own timers did.
  uv_timer_t deadline_tick_;
  bool shutting_down_ = false;
  bool drained_ = false;

  // Requests from other threads.
  uv_async_t requests_;
  std::mutex request_mutex_;
  bool requests_open_ = false;  // requests_ is initialised and not yet closed
  bool shutdown_requested_ = false;
  bool stop_requested_ = false;
  std::string shutdown_reason_;
};

}  // namespace mailtap::io
