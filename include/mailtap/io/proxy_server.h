// The proxy process: listeners on one libuv loop, the connections they accept, the TLS contexts and
// the transcript writer they share, signals, and the connection limit.
#pragma once

#include <uv.h>

#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "mailtap/io/connection.h"
#include "mailtap/io/listener_config.h"
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
};

class ProxyServer {
 public:
  explicit ProxyServer(ProxyOptions options);
  ~ProxyServer();
  // Sets everything up and runs the loop until SIGINT/SIGTERM. Returns the exit status; on a
  // setup failure prints why to stderr and returns 2.
  int run();

 private:
  struct Listener {
    ProxyServer* server;
    ListenerContext context;
    uv_tcp_t tcp;
  };

  bool setup(std::string& error);
  bool bind(Listener& l, std::string& error);
  void write_ready_file();
  static void on_connection(uv_stream_t* s, int status);
  static void on_signal(uv_signal_t* s, int signum);
  void begin_shutdown(const std::string& reason);
  void stop();
  void on_finished(Connection* c);
  std::string next_session_id();

  ProxyOptions options_;
  uv_loop_t loop_;
  std::shared_ptr<tls::CertAuthority> ca_;
  std::shared_ptr<SSL_CTX> client_ctx_;
  std::shared_ptr<SSL_CTX> upstream_ctx_;
  std::unique_ptr<transcript::TranscriptWriter> writer_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::unordered_map<Connection*, std::unique_ptr<Connection>> connections_;
  uv_signal_t sigint_, sigterm_;
  bool shutting_down_ = false;
  uint64_t session_counter_ = 0;
  uint32_t run_tag_ = 0;
};

}  // namespace mailtap::io
