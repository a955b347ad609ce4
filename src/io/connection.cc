#include "mailtap/io/connection.h"

#include <arpa/inet.h>

#include <cstdio>

#include "mailtap/tls/tls_endpoint.h"

namespace mailtap::io {
namespace {

std::string address_of(const sockaddr* sa) {
  char host[INET6_ADDRSTRLEN] = {0};
  if (sa->sa_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    uv_ip4_name(in, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (sa->sa_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    uv_ip6_name(in6, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  return "?";
}

std::string peer_of(uv_tcp_t* tcp, bool local) {
  sockaddr_storage ss{};
  int len = sizeof ss;
  int rc = local ? uv_tcp_getsockname(tcp, reinterpret_cast<sockaddr*>(&ss), &len)
                 : uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&ss), &len);
  return rc == 0 ? address_of(reinterpret_cast<sockaddr*>(&ss)) : "?";
}

}  // namespace

struct Connection::ConnectAttempt {
  uv_getaddrinfo_t resolve_req;
  uv_connect_t connect_req;
  addrinfo* addresses = nullptr;
  addrinfo* next_address = nullptr;
  std::string last_error;
  bool resolving = false;  // resolve_req is in flight (it can be cancelled)
  ~ConnectAttempt() {
    if (addresses) uv_freeaddrinfo(addresses);
  }
};

std::string_view to_string(TranscriptErrorPolicy p) {
  return p == TranscriptErrorPolicy::close ? "close" : "continue";
}

Connection::Connection(uv_loop_t* loop, const ListenerContext& context, std::string session_id,
                       ConnectionOwner& owner)
    : context_(context),
      id_(std::move(session_id)),
      owner_(owner),
      client_(loop, Side::client, *this),
      server_(loop, Side::server, *this) {}

Connection::~Connection() = default;

void Connection::start() {
  uv_tcp_nodelay(client_.tcp(), 1);
  const ListenerConfig& cfg = context_.config;
  transcript::SessionHeader header;
  header.session_id = id_;
  header.protocol = cfg.protocol;
  header.listener = cfg.name;
  header.listen = cfg.listen.str();
  header.client_address = peer_of(client_.tcp(), false);
  header.upstream = cfg.upstream.str();
  header.client_tls = cfg.client_tls;
  header.upstream_tls = cfg.upstream_tls;
  header.upstream_insecure = context_.upstream_insecure;
  header.started_us = system_now_us();
  // Nothing to record (--no-transcripts): no handle, so the session builds no events at all.
  if (context_.writer->records()) transcript_ = context_.writer->open(header, context_.stage);

  session::SessionConfig sc;
  sc.protocol = cfg.protocol;
  sc.client_tls = cfg.client_tls;
  sc.upstream_tls = cfg.upstream_tls;
  sc.upstream_host = cfg.upstream.host;
  sc.upstream_insecure = context_.upstream_insecure;
  sc.limits = cfg.limits;
  session_ = std::make_unique<session::Session>(sc, &system_now_us, *this);

  last_activity_ = uv_now(loop());
  dispatch(session::ClientAccepted{header.client_address, peer_of(client_.tcp(), true)});
}

void Connection::shutdown(const std::string& reason, bool process_stopping) {
  if (closing_) return;
  dispatch(session::ShutdownRequested{reason, process_stopping});
  begin_close();
}

void Connection::abort(const std::string& reason) {
  shutdown(reason);
  begin_close();
  client_.force_close();
  server_.force_close();
}

// ---- session plumbing ----------------------------------------------------------------------

void Connection::record(transcript::Event event) {
  if (transcript_) transcript_->record(std::move(event));
}

void Connection::dispatch(const session::Event& event) {
  if (closing_ || !session_) return;
  std::vector<session::Command> commands;
  session_->handle(event, commands);
  // What one event makes the session send leaves as one write per leg (Leg::hold_writes): a
  // reply of many lines read at once costs one TLS record and one system call, not one each.
  const bool gather = commands.size() > 1;
  if (gather) {
    client_.hold_writes();
    server_.hold_writes();
  }
  for (auto& c : commands) execute(c);
  if (gather) {
    client_.release_writes();
    server_.release_writes();
  }
  // Backpressure: a slow reader stops us reading the side that feeds it.
  for (Side side : {Side::client, Side::server}) {
    if (leg(side).pending_write_bytes() > Leg::kHighWatermark) leg(other(side)).set_paused(true);
  }
}

void Connection::execute(session::Command& command) {
  std::visit(
      [this](auto& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, session::ConnectUpstream>) {
          connect_upstream();
        } else if constexpr (std::is_same_v<T, session::Send>) {
          leg(c.side).write(std::move(c.bytes));
        } else if constexpr (std::is_same_v<T, session::StartTls>) {
          handshake_started_ = uv_now(loop());
          if (c.side == Side::client) {
            // Clients that connect by IP send no SNI: the leaf must name the address they used.
            c.leaf.extra_names.push_back(context_.config.listen.host);
            client_.start_tls(tls::TlsEndpoint::make_server(context_.client_ctx, c.leaf));
          } else {
            tls::ClientOptions options;
            options.server_name = context_.config.upstream.host;
            options.verify = !context_.upstream_insecure;
            options.resumption_key = context_.config.upstream.str();
            server_.start_tls(tls::TlsEndpoint::make_client(context_.upstream_ctx, options));
          }
        } else if constexpr (std::is_same_v<T, session::StartReading>) {
          leg(c.side).allow_reading();
        } else if constexpr (std::is_same_v<T, session::ShutdownWrite>) {
          leg(c.side).shutdown_write();
        } else if constexpr (std::is_same_v<T, session::Close>) {
          begin_close();
        }
      },
      command);
}

// ---- legs ----------------------------------------------------------------------------------

void Connection::on_plaintext(Side side, std::string_view bytes) {
  check_transcript();
  if (closing_) return;
  last_activity_ = uv_now(loop());
  dispatch(session::BytesReceived{side, bytes});
  if (!session_->holding_partial_line()) {
    partial_line_since_ = 0;
  } else if (partial_line_since_ == 0) {
    partial_line_since_ = last_activity_;
  }
}

void Connection::on_eof(Side side, bool reset, std::string reason) {
  last_activity_ = uv_now(loop());
  dispatch(session::PeerClosed{side, reset, std::move(reason)});
}

void Connection::on_tls_established(Side side, const tls::TlsInfo& info) {
  dispatch(session::TlsEstablished{side, info});
}

void Connection::on_tls_failed(Side side, std::string reason) {
  dispatch(session::TlsFailed{side, std::move(reason)});
}

void Connection::on_write_drained(Side side) {
  leg(other(side)).set_paused(false);
}

void Connection::on_leg_closed(Side) {
  --open_handles_;
  maybe_finished();
}

// ---- upstream connection -------------------------------------------------------------------

void Connection::connect_upstream() {
  connecting_ = true;
  connect_started_ = uv_now(loop());
  connect_ = std::make_unique<ConnectAttempt>();
  const HostPort& up = context_.config.upstream;
  // An IP address needs no resolver: connect at once instead of a round trip through libuv's
  // thread pool (a hand-off to another thread and back, slowest on a busy machine).
  sockaddr_storage literal{};
  if (uv_ip4_addr(up.host.c_str(), up.port, reinterpret_cast<sockaddr_in*>(&literal)) == 0 ||
      uv_ip6_addr(up.host.c_str(), up.port, reinterpret_cast<sockaddr_in6*>(&literal)) == 0) {
    connect_->connect_req.data = this;
    int rc = uv_tcp_connect(&connect_->connect_req, server_.tcp(),
                            reinterpret_cast<sockaddr*>(&literal), &Connection::on_connected);
    if (rc == 0) {
      ++pending_ops_;
      return;
    }
    end_connect_attempt();
    dispatch(session::UpstreamConnectFailed{up.str() + ": " + uv_strerror(rc)});
    return;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  connect_->resolve_req.data = this;
  std::string port = std::to_string(up.port);
  if (uv_getaddrinfo(loop(), &connect_->resolve_req, &Connection::on_resolved, up.host.c_str(),
                     port.c_str(), &hints) == 0) {
    ++pending_ops_;
    connect_->resolving = true;
  } else {
    end_connect_attempt();
    dispatch(session::UpstreamConnectFailed{"cannot resolve " + up.host});
  }
}

// Called with no request of the attempt in flight: its memory goes.
void Connection::end_connect_attempt() {
  connecting_ = false;
  connect_.reset();
}

void Connection::on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
  auto* self = static_cast<Connection*>(req->data);
  --self->pending_ops_;
  self->connect_->resolving = false;
  if (self->closing_ || status != 0) {
    if (res) uv_freeaddrinfo(res);
    self->end_connect_attempt();
    if (!self->closing_) {
      self->dispatch(session::UpstreamConnectFailed{
          "cannot resolve " + self->context_.config.upstream.host + ": " + uv_strerror(status)});
    }
    self->maybe_finished();
    return;
  }
  self->connect_->addresses = res;
  self->connect_->next_address = res;
  self->try_next_address();
}

void Connection::try_next_address() {
  ConnectAttempt& attempt = *connect_;
  while (attempt.next_address) {
    addrinfo* ai = attempt.next_address;
    attempt.next_address = ai->ai_next;
    attempt.connect_req.data = this;
    int rc =
        uv_tcp_connect(&attempt.connect_req, server_.tcp(), ai->ai_addr, &Connection::on_connected);
    if (rc == 0) {
      ++pending_ops_;
      return;
    }
    attempt.last_error = uv_strerror(rc);
  }
  std::string reason = context_.config.upstream.str() + ": " + attempt.last_error;
  end_connect_attempt();
  dispatch(session::UpstreamConnectFailed{std::move(reason)});
}

void Connection::on_connected(uv_connect_t* req, int status) {
  auto* self = static_cast<Connection*>(req->data);
  --self->pending_ops_;
  if (self->closing_) {
    self->end_connect_attempt();
    self->maybe_finished();
    return;
  }
  if (status != 0) {
    self->connect_->last_error = uv_strerror(status);
    // A failed connect leaves the handle unusable for another attempt on most platforms, so
    // only the first address is tried per handle; report the failure.
    self->connect_->next_address = nullptr;
    self->try_next_address();
    return;
  }
  self->end_connect_attempt();
  uv_tcp_nodelay(self->server_.tcp(), 1);
  self->server_.allow_reading();
  self->dispatch(session::UpstreamConnected{peer_of(self->server_.tcp(), false)});
}

// ---- deadlines and closing -----------------------------------------------------------------

void Connection::check_transcript() {
  if (transcript_failure_handled_ || !transcript_ || !transcript_->failed()) return;
  transcript_failure_handled_ = true;
  bool close = context_.on_transcript_error == TranscriptErrorPolicy::close;
  std::fprintf(stderr, "mailtap: session %s: its transcript cannot be written (%s); %s\n",
               id_.c_str(), transcript_->failure().c_str(),
               close ? "closing the session (--on-transcript-error close)"
                     : "relaying continues unrecorded (--on-transcript-error continue)");
  if (close && !closing_) shutdown("its transcript cannot be written", false);
}

void Connection::check_deadlines() {
  check_transcript();
  uint64_t now = uv_now(loop());
  const Timeouts& to = context_.timeouts;
  if (closing_) {
    if (now - closing_started_ > to.close_ms) {
      client_.force_close();
      server_.force_close();
    }
    return;
  }
  if (connecting_ && now - connect_started_ > to.connect_ms) {
    connecting_ = false;
    dispatch(session::TimedOut{"connecting to the upstream " + context_.config.upstream.str()});
  } else if ((client_.tls_handshaking() || server_.tls_handshaking()) &&
             now - handshake_started_ > to.handshake_ms) {
    dispatch(session::TimedOut{std::string("the TLS handshake with the ") +
                               (server_.tls_handshaking() ? "upstream" : "client")});
  } else if (partial_line_since_ && now - partial_line_since_ > to.line_ms) {
    dispatch(
        session::TimedOut{"the end of a line (a peer sent part of a line and then stalled "
                          "for " +
                          std::to_string(to.line_ms / 1000) + " s)"});
  } else if (now - last_activity_ > to.idle_ms) {
    dispatch(session::TimedOut{"activity (idle for " + std::to_string(to.idle_ms / 1000) + " s)"});
  }
}

void Connection::begin_close() {
  if (closing_) return;
  closing_ = true;
  closing_started_ = uv_now(loop());
  if (connect_ && connect_->resolving)
    uv_cancel(reinterpret_cast<uv_req_t*>(&connect_->resolve_req));
  client_.close();
  server_.close();
  if (transcript_) transcript_->finish();
}

void Connection::maybe_finished() {
  if (!closing_ || pending_ops_ > 0) return;
  if (open_handles_ == 0) owner_.connection_finished(this);
}

}  // namespace mailtap::io
