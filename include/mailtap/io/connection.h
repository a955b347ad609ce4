// One proxied session on the event loop: the two legs, the sans-I/O Session that decides, the
// transcript it records into, and its deadlines. Executes the session's commands and nothing else.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "mailtap/io/leg.h"
#include "mailtap/io/listener_config.h"
#include "mailtap/session/session.h"
#include "mailtap/transcript/transcript_writer.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace mailtap::io {

struct Timeouts {
  uint64_t connect_ms = 10'000;
  uint64_t handshake_ms = 10'000;
  uint64_t idle_ms = 600'000;
  uint64_t line_ms = 30'000;  // a started line must be completed within this (slowloris)
  uint64_t close_ms = 5'000;  // how long queued writes may take once the session is over
};

// What a session does when its transcript cannot be written (disk full, read-only directory).
enum class TranscriptErrorPolicy {
  close,     // end the session with a protocol-correct goodbye: nothing is relayed unrecorded
  continue_  // keep relaying without a record
};
std::string_view to_string(TranscriptErrorPolicy p);

// What every connection of one listener shares.
struct ListenerContext {
  ListenerConfig config;
  SSL_CTX* client_ctx = nullptr;    // towards mail clients (server role)
  SSL_CTX* upstream_ctx = nullptr;  // towards the upstream (client role)
  bool upstream_insecure = false;
  Timeouts timeouts;
  transcript::TranscriptWriter* writer = nullptr;
  // The event loop's stage (handed to the writer once per loop iteration); null: hand each
  // event over at once.
  std::shared_ptr<transcript::TranscriptStage> stage;
  TranscriptErrorPolicy on_transcript_error = TranscriptErrorPolicy::close;
};

class Connection final : public LegOwner, public session::EventSink {
 public:
  using Finished = std::function<void(Connection*)>;
  Connection(uv_loop_t* loop, const ListenerContext& context, std::string session_id,
             Finished finished);
  ~Connection() override;

  uv_stream_t* client_stream() { return client_.stream(); }
  // Call once the client is accepted into client_stream().
  void start();
  // Ends the session now (process shutdown): the client gets a protocol-correct goodbye.
  void shutdown(const std::string& reason);
  // Ends the session without waiting for any peer (the loop is about to be torn down): after
  // shutdown(), both sockets are closed at once; pending writes and connects are cancelled.
  void abort(const std::string& reason);
  const std::string& id() const { return id_; }

 private:
  // LegOwner
  void on_plaintext(Side side, std::string_view bytes) override;
  void on_eof(Side side, bool reset, std::string reason) override;
  void on_tls_established(Side side, const tls::TlsInfo& info) override;
  void on_tls_failed(Side side, std::string reason) override;
  void on_write_drained(Side side) override;
  void on_leg_closed(Side side) override;
  // EventSink
  void record(transcript::Event event) override;

  void dispatch(const session::Event& event);
  void execute(session::Command& command);
  void connect_upstream();
  void try_next_address();
  static void on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res);
  static void on_connected(uv_connect_t* req, int status);
  static void on_tick(uv_timer_t* t);
  static void on_timer_closed(uv_handle_t* h);
  void check_deadlines();
  // Applies --on-transcript-error once the writer has reported this session's file failed.
  void check_transcript();
  void begin_close();
  void maybe_finished();
  Leg& leg(Side s) { return s == Side::client ? client_ : server_; }

  uv_loop_t* loop_;
  const ListenerContext& context_;
  std::string id_;
  Finished finished_;
  Leg client_;
  Leg server_;
  std::shared_ptr<transcript::SessionTranscript> transcript_;
  std::unique_ptr<session::Session> session_;
  uv_timer_t timer_;
  uv_getaddrinfo_t resolve_req_;
  uv_connect_t connect_req_;
  addrinfo* addresses_ = nullptr;
  addrinfo* next_address_ = nullptr;
  std::string last_connect_error_;
  int pending_ops_ = 0;     // resolve/connect requests in flight
  bool resolving_ = false;  // resolve_req_ is in flight (it can be cancelled)
  int open_handles_ = 3;    // client, server, timer
  bool closing_ = false;
  bool connecting_ = false;
  bool transcript_failure_handled_ = false;
  uint64_t connect_started_ = 0;
  uint64_t handshake_started_ = 0;
  uint64_t last_activity_ = 0;
  uint64_t closing_started_ = 0;
  uint64_t partial_line_since_ = 0;  // 0: no partial line held
};

}  // namespace mailtap::io
