#include "mailtap/io/proxy_server.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <random>

namespace mailtap::io {
namespace {

// Said to a client turned away at the connection limit, in its protocol's words.
std::string too_busy(Protocol p) {
  switch (p) {
    case Protocol::smtp: return "421 4.3.2 mailtap: too many connections, try again later\r\n";
    case Protocol::imap: return "* BYE mailtap: too many connections, try again later\r\n";
    case Protocol::pop3: return "-ERR [SYS/TEMP] mailtap: too many connections, try again later\r\n";
  }
  return {};
}

struct RefusedClient {
  uv_tcp_t tcp;
  uv_write_t write;
  std::string message;
};

}  // namespace

ProxyServer::ProxyServer(ProxyOptions options) : options_(std::move(options)) {
  uv_loop_init(&loop_);
  std::random_device rd;
  run_tag_ = rd() & 0xffff;
}

ProxyServer::~ProxyServer() {
  connections_.clear();
  writer_.reset();
  uv_loop_close(&loop_);
}

std::string ProxyServer::next_session_id() {
  char buf[32];
  std::snprintf(buf, sizeof buf, "s%06llu-%04x", static_cast<unsigned long long>(++session_counter_),
                run_tag_);
  return buf;
}

bool ProxyServer::setup(std::string& error) {
  if (options_.listeners.empty()) {
    error = "no listener: give --listen and --upstream, --listener SPEC, or --config FILE";
    return false;
  }
  bool needs_ca = false, needs_upstream_tls = false;
  for (const auto& l : options_.listeners) {
    needs_ca |= l.client_tls != TlsMode::plain;
    needs_upstream_tls |= l.upstream_tls != TlsMode::plain;
  }
  if (needs_ca) {
    std::string ca_error;
    auto ca = tls::CertAuthority::load(options_.ca_dir, ca_error);
    if (!ca) {
      error = ca_error;
      return false;
    }
    ca_ = std::move(ca);
    client_ctx_ = tls::make_client_facing_context(ca_, error);
    if (!client_ctx_) return false;
  }
  if (needs_upstream_tls) {
    upstream_ctx_ = tls::make_upstream_context(options_.trust, error);
    if (!upstream_ctx_) return false;
  }
  writer_ = std::make_unique<transcript::TranscriptWriter>(options_.transcripts);
  for (auto& cfg : options_.listeners) {
    auto l = std::make_unique<Listener>();
    l->server = this;
    l->context.config = cfg;
    l->context.client_ctx = client_ctx_.get();
    l->context.upstream_ctx = upstream_ctx_.get();
    l->context.upstream_insecure = options_.trust.insecure;
    l->context.timeouts = options_.timeouts;
    l->context.writer = writer_.get();
    if (!bind(*l, error)) return false;
    listeners_.push_back(std::move(l));
  }
  uv_signal_init(&loop_, &sigint_);
  uv_signal_init(&loop_, &sigterm_);
  sigint_.data = sigterm_.data = this;
  uv_signal_start(&sigint_, &ProxyServer::on_signal, SIGINT);
  uv_signal_start(&sigterm_, &ProxyServer::on_signal, SIGTERM);
  return true;
}

bool ProxyServer::bind(Listener& l, std::string& error) {
  const HostPort& at = l.context.config.listen;
  sockaddr_storage addr{};
  if (uv_ip4_addr(at.host.c_str(), at.port, reinterpret_cast<sockaddr_in*>(&addr)) != 0 &&
      uv_ip6_addr(at.host.c_str(), at.port, reinterpret_cast<sockaddr_in6*>(&addr)) != 0) {
    error = "listen address " + at.str() + " is not an IP address";
    return false;
  }
  uv_tcp_init(&loop_, &l.tcp);
  l.tcp.data = &l;
  int rc = uv_tcp_bind(&l.tcp, reinterpret_cast<sockaddr*>(&addr), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&l.tcp), 511, &ProxyServer::on_connection);
  if (rc != 0) {
    error = "cannot listen on " + at.str() + ": " + uv_strerror(rc);
    return false;
  }
  // With port 0 the kernel chose one: record the real address.
  sockaddr_storage bound{};
  int len = sizeof bound;
  uv_tcp_getsockname(&l.tcp, reinterpret_cast<sockaddr*>(&bound), &len);
  if (bound.ss_family == AF_INET)
    l.context.config.listen.port = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  else if (bound.ss_family == AF_INET6)
    l.context.config.listen.port = ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  return true;
}

void ProxyServer::write_ready_file() {
  nlohmann::json ready = {{"pid", ::getpid()}, {"listeners", nlohmann::json::array()}};
  for (const auto& l : listeners_) ready["listeners"].push_back(to_json(l->context.config));
  if (!options_.transcripts.directory.empty())
    ready["transcripts"] = options_.transcripts.directory.string();
  if (ca_) ready["ca"] = ca_->certificate_path().string();
  if (options_.ready_file.empty()) return;
  auto tmp = options_.ready_file;
  tmp += ".tmp";
  {
    std::ofstream out(tmp);
    out << ready.dump(2) << "\n";
  }
  std::filesystem::rename(tmp, options_.ready_file);
}

int ProxyServer::run() {
  std::string error;
  if (!setup(error)) {
    std::fprintf(stderr, "mailtap proxy: %s\n", error.c_str());
    return 2;
  }
  for (const auto& l : listeners_) {
    const ListenerConfig& c = l->context.config;
    std::fprintf(stderr, "mailtap: listening on %s (%s, client %s) -> %s (upstream %s)\n",
                 c.listen.str().c_str(), std::string(to_string(c.protocol)).c_str(),
                 std::string(to_string(c.client_tls)).c_str(), c.upstream.str().c_str(),
                 std::string(to_string(c.upstream_tls)).c_str());
  }
  if (!options_.transcripts.directory.empty() && options_.transcripts.write_files)
    std::fprintf(stderr, "mailtap: transcripts in %s\n", options_.transcripts.directory.c_str());
  write_ready_file();
  uv_run(&loop_, UV_RUN_DEFAULT);
  writer_->flush();
  std::string werr = writer_->last_error();
  if (!werr.empty()) std::fprintf(stderr, "mailtap: transcript writing failed: %s\n", werr.c_str());
  return 0;
}

void ProxyServer::on_connection(uv_stream_t* s, int status) {
  auto* l = static_cast<Listener*>(s->data);
  ProxyServer* self = l->server;
  if (status != 0 || self->shutting_down_) return;
  if (self->connections_.size() >= self->options_.max_connections) {
    // Accept and turn away politely rather than leave the client hanging in the backlog.
    auto* r = new RefusedClient;
    uv_tcp_init(&self->loop_, &r->tcp);
    r->tcp.data = r;
    if (uv_accept(s, reinterpret_cast<uv_stream_t*>(&r->tcp)) != 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(&r->tcp),
               [](uv_handle_t* h) { delete static_cast<RefusedClient*>(h->data); });
      return;
    }
    std::fprintf(stderr, "mailtap: connection limit (%zu) reached on %s; client turned away\n",
                 self->options_.max_connections, l->context.config.name.c_str());
    r->message = l->context.config.client_tls == TlsMode::implicit
                     ? std::string()
                     : too_busy(l->context.config.protocol);
    uv_buf_t b = uv_buf_init(r->message.data(), static_cast<unsigned>(r->message.size()));
    r->write.data = r;
    auto close_it = [](uv_write_t* w, int) {
      auto* rc = static_cast<RefusedClient*>(w->data);
      uv_close(reinterpret_cast<uv_handle_t*>(&rc->tcp),
               [](uv_handle_t* h) { delete static_cast<RefusedClient*>(h->data); });
    };
    if (r->message.empty() ||
        uv_write(&r->write, reinterpret_cast<uv_stream_t*>(&r->tcp), &b, 1, close_it) != 0)
      close_it(&r->write, 0);
    return;
  }
  auto conn = std::make_unique<Connection>(&self->loop_, l->context, self->next_session_id(),
                                           [self](Connection* c) { self->on_finished(c); });
  if (uv_accept(s, conn->client_stream()) != 0) {
    conn->shutdown("accept failed");
  } else {
    conn->start();
  }
  Connection* raw = conn.get();
  self->connections_.emplace(raw, std::move(conn));
}

void ProxyServer::on_finished(Connection* c) {
  // Deleting from inside the connection's last close callback: nothing touches it afterwards.
  connections_.erase(c);
  if (shutting_down_ && connections_.empty()) stop();
}

void ProxyServer::stop() {
  uv_signal_stop(&sigint_);
  uv_signal_stop(&sigterm_);
  uv_stop(&loop_);
}

void ProxyServer::on_signal(uv_signal_t* s, int signum) {
  auto* self = static_cast<ProxyServer*>(s->data);
  if (self->shutting_down_) {
    // Second signal: stop now; transcripts are still flushed by run().
    self->stop();
    return;
  }
  self->begin_shutdown(signum == SIGINT ? "SIGINT" : "SIGTERM");
}

void ProxyServer::begin_shutdown(const std::string& reason) {
  shutting_down_ = true;
  std::fprintf(stderr, "mailtap: %s: closing %zu session(s) and flushing transcripts\n",
               reason.c_str(), connections_.size());
  for (auto& l : listeners_) uv_close(reinterpret_cast<uv_handle_t*>(&l->tcp), nullptr);
  std::vector<Connection*> open;
  for (auto& [c, _] : connections_) open.push_back(c);
  for (Connection* c : open) c->shutdown(reason);
  if (connections_.empty()) stop();
}

}  // namespace mailtap::io
