#include "mailtap/io/proxy_worker.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace mailtap::io {
namespace {

// Said to a client turned away at the connection limit, in its protocol's words.
std::string too_busy(Protocol p) {
  switch (p) {
    case Protocol::smtp:
      return "421 4.3.2 mailtap: too many connections, try again later\r\n";
    case Protocol::imap:
      return "* BYE mailtap: too many connections, try again later\r\n";
    case Protocol::pop3:
      return "-ERR [SYS/TEMP] mailtap: too many connections, try again later\r\n";
  }
  return {};
}

struct RefusedClient {
  uv_tcp_t tcp;
  uv_write_t write;
  std::string message;
};

void close_refused(uv_handle_t* h) {
  delete static_cast<RefusedClient*>(h->data);
}

// A listening socket of our own, so SO_REUSEPORT can be set before bind (libuv 1.44 has no
// UV_TCP_REUSEPORT). Returns the descriptor, or -errno.
int reuse_port_socket(const sockaddr* addr) {
  socklen_t len = addr->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  int fd = ::socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
      ::bind(fd, addr, len) != 0) {
    int err = errno;
    ::close(fd);
    return -err;
  }
  return fd;
}

}  // namespace

std::string WorkerShared::next_session_id() {
  char buf[32];
  uint64_t n = sessions_started.fetch_add(1, std::memory_order_relaxed) + 1;
  std::snprintf(buf, sizeof buf, "s%06llu-%04x", static_cast<unsigned long long>(n), run_tag);
  return buf;
}

ProxyWorker::ProxyWorker(size_t index, WorkerShared& shared, WorkerTls tls, Drained drained)
    : index_(index), shared_(shared), tls_(std::move(tls)), drained_cb_(std::move(drained)) {
  uv_loop_init(&loop_);
  uv_prepare_init(&loop_, &before_poll_);
  uv_check_init(&loop_, &after_poll_);
  before_poll_.data = after_poll_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&before_poll_));
  uv_unref(reinterpret_cast<uv_handle_t*>(&after_poll_));
  uv_timer_init(&loop_, &deadline_tick_);
  deadline_tick_.data = this;
  uv_timer_start(&deadline_tick_, &ProxyWorker::on_deadline_tick, 1000, 1000);
  uv_unref(reinterpret_cast<uv_handle_t*>(&deadline_tick_));
}

ProxyWorker::~ProxyWorker() {
  uv_prepare_stop(&before_poll_);
  uv_check_stop(&after_poll_);
  uv_timer_stop(&deadline_tick_);
  // No drained callback from here on: its owner is being torn down too.
  drained_ = true;
  shutting_down_ = true;
  // Sessions still open (a second signal stopped the loop) end now, sockets closed at once; their
  // close callbacks run below and delete them through connection_finished() as usual.
  std::vector<Connection*> open;
  for (auto& c : connections_) open.push_back(c.get());
  for (Connection* c : open) c->abort("the proxy is exiting");
  {
    std::lock_guard lock(request_mutex_);
    requests_open_ = false;  // closed by the walk below
  }
  // Every handle still on the loop (listeners, the request handle, the per-iteration hooks, and
  // on worker 0 the server's signal handles) must be closed, or uv_loop_close() fails with
  // UV_EBUSY and the loop's memory is never freed.
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  // Let the close callbacks (and cancelled requests) complete. Every handle is closing, so this
  // returns as soon as nothing is left; it blocks (rather than spins) only for a resolver request
  // that the thread pool had already started.
  uv_run(&loop_, UV_RUN_DEFAULT);
  connections_.clear();  // any whose last close callback did not come (timer closed above)
  if (stage_) stage_->hand_off();  // their last events go to the writer
  int rc = uv_loop_close(&loop_);
#ifndef NDEBUG
  if (rc != 0) {
    std::fprintf(stderr, "mailtap: worker %zu: uv_loop_close: %s; open handles:\n", index_,
                 uv_strerror(rc));
    uv_walk(
        &loop_,
        [](uv_handle_t* h, void*) {
          std::fprintf(stderr, "  %s%s\n", uv_handle_type_name(uv_handle_get_type(h)),
                       uv_is_closing(h) ? " (closing)" : "");
        },
        nullptr);
  }
#else
  (void)rc;
#endif
}

void ProxyWorker::on_loop_iteration(uv_handle_t* h) {
  auto* self = static_cast<ProxyWorker*>(h->data);
  if (!self->stage_->empty()) self->stage_->hand_off();
}

bool ProxyWorker::listen(std::vector<ListenerContext> contexts, bool reuse_port,
                         std::string& error) {
  if (!stage_ && !contexts.empty() && contexts[0].writer) {
    stage_ = contexts[0].writer->make_stage();
    uv_prepare_start(&before_poll_,
                     [](uv_prepare_t* p) { on_loop_iteration(reinterpret_cast<uv_handle_t*>(p)); });
    uv_check_start(&after_poll_,
                   [](uv_check_t* c) { on_loop_iteration(reinterpret_cast<uv_handle_t*>(c)); });
  }
  for (auto& context : contexts) {
    if (context.writer) context.stage = stage_;
    auto l = std::make_unique<Listener>();
    l->worker = this;
    l->context = std::move(context);
    l->context.client_ctx = tls_.client_ctx.get();
    l->context.upstream_ctx = tls_.upstream_ctx.get();
    bool ok = bind(*l, reuse_port, error);
    listeners_.push_back(std::move(l));  // kept even when bind failed: the handle is closing
    if (!ok) return false;
  }
  return true;
}

std::vector<ListenerConfig> ProxyWorker::bound() const {
  std::vector<ListenerConfig> out;
  for (const auto& l : listeners_) out.push_back(l->context.config);
  return out;
}

bool ProxyWorker::bind(Listener& l, bool reuse_port, std::string& error) {
  const HostPort& at = l.context.config.listen;
  sockaddr_storage addr{};
  if (uv_ip4_addr(at.host.c_str(), at.port, reinterpret_cast<sockaddr_in*>(&addr)) != 0 &&
      uv_ip6_addr(at.host.c_str(), at.port, reinterpret_cast<sockaddr_in6*>(&addr)) != 0) {
    error = "listen address " + at.str() + " is not an IP address";
    return false;
  }
  uv_tcp_init(&loop_, &l.tcp);
  l.tcp.data = &l;
  int rc = 0;
  if (reuse_port) {
    int fd = reuse_port_socket(reinterpret_cast<sockaddr*>(&addr));
    rc = fd < 0 ? uv_translate_sys_error(-fd) : uv_tcp_open(&l.tcp, fd);
    if (fd >= 0 && rc != 0) ::close(fd);
  } else {
    rc = uv_tcp_bind(&l.tcp, reinterpret_cast<sockaddr*>(&addr), 0);
  }
  if (rc == 0)
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&l.tcp), 511, &ProxyWorker::on_connection);
  if (rc != 0) {
    error = "cannot listen on " + at.str() + ": " + uv_strerror(rc);
    uv_close(reinterpret_cast<uv_handle_t*>(&l.tcp), nullptr);
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

void ProxyWorker::run() {
  uv_run(&loop_, UV_RUN_DEFAULT);
  // Stopped or out of work: what the last iteration recorded (close callbacks) goes now.
  if (stage_) stage_->hand_off();
}

void ProxyWorker::on_connection(uv_stream_t* s, int status) {
  auto* l = static_cast<Listener*>(s->data);
  ProxyWorker* self = l->worker;
  if (status != 0 || self->shutting_down_) return;
  // Claim a place under the process-wide limit (other workers accept at the same time).
  size_t open = self->shared_.connections.load(std::memory_order_relaxed);
  do {
    if (open >= self->shared_.max_connections) {
      self->refuse(*l, s);
      return;
    }
  } while (
      !self->shared_.connections.compare_exchange_weak(open, open + 1, std::memory_order_relaxed));
  auto conn = std::make_unique<Connection>(&self->loop_, l->context,
                                           self->shared_.next_session_id(), *self);
  if (uv_accept(s, conn->client_stream()) != 0) {
    conn->shutdown("accept failed");
  } else {
    conn->start();
  }
  conn->set_owner_slot(static_cast<uint32_t>(self->connections_.size()));
  self->connections_.push_back(std::move(conn));
  if (self->connections_.size() == 1) uv_ref(reinterpret_cast<uv_handle_t*>(&self->deadline_tick_));
}

void ProxyWorker::on_deadline_tick(uv_timer_t* t) {
  auto* self = static_cast<ProxyWorker*>(t->data);
  // A check may end its session, but a connection is only deleted from a close callback, never
  // from inside check_deadlines(): connections_ does not change while it is walked.
  for (auto& c : self->connections_) c->check_deadlines();
}

// Accept and turn away politely rather than leave the client hanging in the backlog.
void ProxyWorker::refuse(Listener& l, uv_stream_t* server) {
  auto* r = new RefusedClient;
  uv_tcp_init(&loop_, &r->tcp);
  r->tcp.data = r;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&r->tcp)) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&r->tcp), &close_refused);
    return;
  }
  std::fprintf(stderr, "mailtap: connection limit (%zu) reached on %s; client turned away\n",
               shared_.max_connections, l.context.config.name.c_str());
  r->message = l.context.config.client_tls == TlsMode::implicit
                   ? std::string()
                   : too_busy(l.context.config.protocol);
  uv_buf_t b = uv_buf_init(r->message.data(), static_cast<unsigned>(r->message.size()));
  r->write.data = r;
  auto close_it = [](uv_write_t* w, int) {
    auto* rc = static_cast<RefusedClient*>(w->data);
    uv_close(reinterpret_cast<uv_handle_t*>(&rc->tcp), &close_refused);
  };
  if (r->message.empty() ||
      uv_write(&r->write, reinterpret_cast<uv_stream_t*>(&r->tcp), &b, 1, close_it) != 0)
    close_it(&r->write, 0);
}

void ProxyWorker::connection_finished(Connection* c) {
  // Deleting from inside the connection's last close callback: nothing touches it afterwards.
  uint32_t slot = c->owner_slot();
  std::unique_ptr<Connection> finished = std::move(connections_[slot]);
  if (slot + 1 != connections_.size()) {
    connections_[slot] = std::move(connections_.back());
    connections_[slot]->set_owner_slot(slot);
  }
  connections_.pop_back();
  finished.reset();
  if (connections_.empty()) uv_unref(reinterpret_cast<uv_handle_t*>(&deadline_tick_));
  shared_.connections.fetch_sub(1, std::memory_order_relaxed);
  if (shutting_down_ && connections_.empty()) drained();
}

void ProxyWorker::shutdown(const std::string& reason) {
  if (shutting_down_) return;
  shutting_down_ = true;
  for (auto& l : listeners_) uv_close(reinterpret_cast<uv_handle_t*>(&l->tcp), nullptr);
  std::vector<Connection*> open;
  for (auto& c : connections_) open.push_back(c.get());
  for (Connection* c : open) c->shutdown(reason);
  if (connections_.empty()) drained();
}

void ProxyWorker::drained() {
  if (drained_) return;
  drained_ = true;
  {
    // With no more request handle (and no listener or session), a worker's own loop ends.
    std::lock_guard lock(request_mutex_);
    if (requests_open_) {
      requests_open_ = false;
      uv_close(reinterpret_cast<uv_handle_t*>(&requests_), nullptr);
    }
  }
  if (drained_cb_) drained_cb_(this);
}

void ProxyWorker::enable_requests() {
  std::lock_guard lock(request_mutex_);
  if (requests_open_) return;
  uv_async_init(&loop_, &requests_, &ProxyWorker::on_request);
  requests_.data = this;
  requests_open_ = true;
}

void ProxyWorker::request_shutdown(const std::string& reason) {
  std::lock_guard lock(request_mutex_);
  if (!requests_open_) return;
  shutdown_requested_ = true;
  shutdown_reason_ = reason;
  uv_async_send(&requests_);
}

void ProxyWorker::request_stop() {
  std::lock_guard lock(request_mutex_);
  if (!requests_open_) return;
  stop_requested_ = true;
  uv_async_send(&requests_);
}

void ProxyWorker::on_request(uv_async_t* a) {
  auto* self = static_cast<ProxyWorker*>(a->data);
  bool stop, shut;
  std::string reason;
  {
    std::lock_guard lock(self->request_mutex_);
    stop = self->stop_requested_;
    shut = self->shutdown_requested_;
    reason = self->shutdown_reason_;
    self->stop_requested_ = self->shutdown_requested_ = false;
  }
  if (stop) {
    uv_stop(&self->loop_);
  } else if (shut) {
    self->shutdown(reason);
  }
}

}  // namespace mailtap::io
