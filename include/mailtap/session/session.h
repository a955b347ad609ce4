// The sans-I/O core of one proxied session: events in, commands out, transcript events recorded.
// Decides the TLS transitions of both legs (implicit, STARTTLS passed through, answered by mailtap,
// or negotiated by mailtap with the upstream), relays frames, and fails closed.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mailtap/core/clock.h"
#include "mailtap/core/protocol.h"
#include "mailtap/session/commands.h"
#include "mailtap/session/events.h"
#include "mailtap/session/framing.h"
#include "mailtap/session/protocol_rules.h"
#include "mailtap/transcript/event.h"

namespace mailtap::session {

struct SessionConfig {
  Protocol protocol = Protocol::smtp;
  TlsMode client_tls = TlsMode::plain;
  TlsMode upstream_tls = TlsMode::plain;
  bool upstream_insecure = false;
  std::string upstream_host;  // for the leaf certificate when nothing better is known
  LineLimits limits;
  std::string ehlo_name = "mailtap.invalid";  // used when mailtap negotiates STARTTLS itself
};

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void record(transcript::Event event) = 0;
  // False when nothing is recorded (`--no-transcripts`): the session then builds no events, and
  // copies no relayed bytes into them.
  virtual bool recording() const { return true; }
};

class Session {
 public:
  Session(SessionConfig config, Clock clock, EventSink& sink);
  ~Session();

  void handle(const Event& event, std::vector<Command>& out);
  std::vector<Command> handle(const Event& event);
  bool finished() const { return finished_; }
  // Part of a line is held from either side (for the slow-sender deadline).
  bool holding_partial_line() const {
    return framing_->holding_partial_line(Side::client) ||
           framing_->holding_partial_line(Side::server);
  }

 private:
  enum class Upstream {
    idle,
    connecting,
    tls,
    greeting,
    negotiating,
    negotiating_tls,
    upgrading,
    ready
  };
  // starttls_deferred: mailtap answers the client's STARTTLS itself once the upstream's replies
  // to earlier commands have been relayed.
  enum class Client {
    waiting,
    tls_handshake,
    relaying,
    starttls_sent,
    starttls_deferred,
    upgrading
  };

  void on(const ClientAccepted& e);
  void on(const UpstreamConnected& e);
  void on(const UpstreamConnectFailed& e);
  void on(const BytesReceived& e);
  void on(const TlsEstablished& e);
  void on(const TlsFailed& e);
  void on(const PeerClosed& e);
  void on(const TimedOut& e);
  void on(const ShutdownRequested& e);

  void on_client_frame(Frame& frame);
  void on_server_frame(Frame& frame);
  void on_greeting_line(Frame& frame);
  void on_negotiation_line(Frame& frame);
  void on_starttls_reply(Frame& frame);
  void client_ready();
  void forward_to_client(Frame& frame);
  void relay_to_client(Frame& frame);
  void answer_client(std::string bytes, std::string_view note);
  void upgrade_client();
  void answer_starttls_for_client();
  void start_upstream_tls();
  void deliver_synthesized(std::string bytes, std::string_view note);
  void drop_rest(Side side);
  void record_dropped(Side side, transcript::FrameKind kind, const std::string& bytes);
  void on_dropped_after_starttls(Side side);
  void fail(std::string_view code, std::string reason);
  void close(std::string reason);
  void record_undelivered();
  bool record_held_server_lines();
  void fail_unfinished_command();
  void fail_held_reply_too_long(std::string_view what);
  void record_broken_stream(Side side, std::string unread);
  void record_unprocessed_batch();
  void record_leg_close(const PeerClosed& e);
  bool client_left_waiting() const;
  void upstream_lost(const PeerClosed& e);
  std::string upstream_loss_reason(const PeerClosed& e) const;

  void send(Side side, std::string bytes);
  void record_data(transcript::Party from, transcript::Party to, transcript::FrameKind kind,
                   std::string_view bytes, bool over_tls);
  void record(transcript::EventType type, nlohmann::json fields);
  void warn(std::string_view code, std::string message);
  CapabilityPolicy capability_policy() const;
  tls::LeafSpec leaf_spec() const;
  bool tls_up(Side side) const { return side == Side::client ? client_tls_up_ : upstream_tls_up_; }
  bool passthrough_starttls() const;

  SessionConfig config_;
  Clock clock_;
  EventSink& sink_;
  std::unique_ptr<Framing> framing_;
  std::unique_ptr<ProtocolRules> rules_;
  std::vector<Command>* out_ = nullptr;

  // The flags sit together (an idle session's size: no padding between them).
  Upstream upstream_ = Upstream::idle;
  Client client_ = Client::waiting;
  bool client_tls_up_ = false;
  bool upstream_tls_up_ = false;
  bool greeting_held_ = false;  // recorded as the server's words to mailtap, delivered later
  bool finished_ = false;
  bool batch_active_ = false;         // see batch_side_ below
  bool server_said_goodbye_ = false;  // a relayed line was the server's own goodbye (421, BYE)
  bool discard_[2] = {false, false};  // drop what is left of the current batch from a side
  bool eof_[2] = {false, false};
  // A side broke a framing limit: only a capped prefix of its unread bytes is recorded, and
  // nothing it sends later (the transcript stays a prefix of what it sent, and bounded).
  bool stream_broken_[2] = {false, false};
  Side batch_side_ = Side::client;
  // The upstream certificate's description, mirrored by the client's leaf: kept only until the
  // client's TLS is up (an idle session holds none; ~0.5 KiB inline and on the heap).
  std::unique_ptr<tls::CertificateInfo> upstream_cert_;
  std::string greeting_;  // held until the client leg is ready
  // A STARTTLS under way, allocated when the first one is (most sessions never see one).
  struct StartTlsState {
    std::string tag;    // IMAP tag of the client's STARTTLS in flight
    std::string verb;   // STARTTLS / STLS: what the reply the framing pairs must answer
    std::string reply;  // upstream's positive reply, delivered once its TLS is up
  };
  std::unique_ptr<StartTlsState> starttls_;
  StartTlsState& starttls();
  bool starttls_reply_held() const { return starttls_ && !starttls_->reply.empty(); }
  std::unique_ptr<std::string> pending_fatal_;           // said to the client once its TLS is up
  static constexpr size_t kBrokenStreamRecorded = 1024;  // of a broken stream's unread bytes
  uint64_t bytes_in_[2] = {0, 0};                        // plaintext received from a leg
  uint64_t bytes_out_[2] = {0, 0};                       // plaintext sent to a leg
  // The frames of the read being acted on; its memory is lent by the thread for the read and
  // given back after it (FramesLease in session.cc), so an idle session holds none.
  std::vector<Frame> frames_;
  std::vector<Frame> held_;  // server lines held while a reply is rewritten
  size_t held_bytes_ = 0;    // octets in held_
  // A reply mailtap holds back (a multi-line greeting, an EHLO reply being rewritten) may grow to
  // this many octets; beyond it the session ends (an upstream must not make mailtap hold 150 MB).
  static constexpr size_t kMaxHeldReply = size_t{1} << 20;
  // The read being framed (batch_active_, batch_side_ above): when the session fails while acting
  // on one of its frames, the frames after it and the bytes the framing has not read yet are
  // still that peer's words, recorded (addressed to mailtap) in the order they came.
  size_t batch_next_ = 0;        // the first frame of frames_ not acted on yet
  std::string_view batch_rest_;  // the part of the read not framed yet
};

}  // namespace mailtap::session
