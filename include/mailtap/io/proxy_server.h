// The proxy process: the transcript writer and TLS material every session shares, one or more
// event loops (ProxyWorker) that accept and run the sessions, signals, and the connection limit.
#pragma once

#include <uv.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "mailtap/io/connection.h"
#include "mailtap/io/listener_config.h"
#include "mailtap/io/proxy_worker.h"
#include "mailtap/tls/tls_contexts.h"
#include "mailtap/transcript/transcript_writer.h"

namespace mailtap::io {

struct ProxyOptions {
  std::vector<ListenerConfig> listeners;
  std::filesystem::path ca_dir;
  tls::UpstreamTrust trust;
  Timeouts timeouts;
  size_t max_connections = 1000;
  std::filesystem::path ready_file;  // written once every listener is bound
  transcript::WriterOptions transcripts;
  // A session whose transcript cannot be written: closed (default) or relayed unrecorded. At
  // start, an unwritable transcript directory is fatal under `close`, a warning under `continue`.
  TranscriptErrorPolicy on_transcript_error = TranscriptErrorPolicy::close;
  // Event loops, each on its own thread and accepting on its own SO_REUSEPORT socket. 1: one
  // loop on the main thread, as plain as it gets.
  size_t threads = 1;
};

class ProxyServer {
 public:
  explicit ProxyServer(ProxyOptions options);
  ~ProxyServer();
  // Sets everything up and runs until SIGINT/SIGTERM. Returns the exit status: 0; 2 after a
  // setup failure (why is on stderr); 3 when some session's transcript could not be written.
  int run();

 private:
  bool setup(std::string& error);
  bool make_tls(WorkerTls& tls, std::string& error);
  bool check_transcript_directory(std::string& error);
  void write_ready_file();
  static void on_signal(uv_signal_t* s, int signum);
  static void on_worker_exited(uv_async_t* a);
  void begin_shutdown(const std::string& reason);
  void check_done();
  void stop();
  void ignore_further_signals();

  ProxyOptions options_;
  WorkerShared shared_;
  std::unique_ptr<transcript::TranscriptWriter> writer_;
  std::vector<std::unique_ptr<ProxyWorker>> workers_;  // [0] runs on the main thread
  std::vector<std::thread> threads_;                   // workers_[1..]
  std::atomic<size_t> workers_exited_{0};
  std::filesystem::path ca_certificate_;
  uv_signal_t sigint_, sigterm_;
  uv_async_t worker_exited_;
  bool shutting_down_ = false;
  bool main_drained_ = false;
  bool stopped_ = false;
};

}  // namespace mailtap::io
