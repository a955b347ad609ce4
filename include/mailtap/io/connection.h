// One proxied session on the event loop: the two legs, the sans-I/O Session that decides, the
// transcript it records into, and its deadlines. Executes the session's commands and nothing else.
#pragma once

#include <uv.h>

#include <cstdint>
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

class Connection;

// Who owns the connections of a loop (ProxyWorker): told when one may be deleted.
class ConnectionOwner {
 public:
  virtual ~ConnectionOwner() = default;
  // From the connection's last close callback: nothing touches it afterwards.
  virtual void connection_finished(Connection* c) = 0;
};

class Connection final : public LegOwner, public session::EventSink {
 public:
  Connection(uv_loop_t* loop, const ListenerContext& context, std::string session_id,
             ConnectionOwner& owner);
  ~Connection() override;

  uv_stream_t* client_stream() { return client_.stream(); }
  // Call once the client is accepted into client_stream().
  void start();
  // Ends the session now (process shutdown, or with process_stopping false this session alone):
  // the client gets a protocol-correct goodbye saying which.
  void shutdown(const std::string& reason, bool process_stopping = true);
  // Ends the session without waiting for any peer (the loop is about to be torn down): after
  // shutdown(), both sockets are closed at once; pending writes and connects are cancelled.
  void abort(const std::string& reason);
  const std::string& id() const { return id_; }
  // Where its owner keeps it (ProxyWorker's index into its connections).
  uint32_t owner_slot() const { return owner_slot_; }
  void set_owner_slot(uint32_t slot) { owner_slot_ = slot; }
  // Enforces the session's deadlines (connect, TLS handshake, idle, a line left unfinished, the
  // close); the loop's owner calls it about once a second for every connection (one timer per
  // loop instead of one per connection).
  void check_deadlines();

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
  bool recording() const override { return transcript_ != nullptr; }

  void dispatch(const session::Event& event);
  void execute(session::Command& command);
  void connect_upstream();
  void try_next_address();
  static void on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res);
  static void on_connected(uv_connect_t* req, int status);
  // Applies --on-transcript-error once the writer has reported this session's file failed.
  void check_transcript();
  void begin_close();
  void maybe_finished();
  // The upstream connection attempt is over (no request in flight, none to follow).
  void end_connect_attempt();
  Leg& leg(Side s) { return s == Side::client ? client_ : server_; }
  uv_loop_t* loop() { return client_.tcp()->loop; }

  // Only while connecting to the upstream: its requests and resolved addresses (~0.3 KiB that
  // an established session does not keep).
  struct ConnectAttempt;

  const ListenerContext& context_;
  std::string id_;
  ConnectionOwner& owner_;
  Leg client_;
  Leg server_;
  std::shared_ptr<transcript::SessionTranscript> transcript_;
  std::unique_ptr<session::Session> session_;
  std::unique_ptr<ConnectAttempt> connect_;
  int pending_ops_ = 0;   // resolve/connect requests in flight
  int open_handles_ = 2;  // client, server
  uint32_t owner_slot_ = 0;
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
