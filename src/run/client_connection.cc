#include "mailtap/run/client_connection.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mailtap::run {
namespace {

int ms_until(Deadline deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
  if (left.count() <= 0) return 0;
  return left.count() > 1'000'000 ? 1'000'000 : static_cast<int>(left.count());
}

// Waits for `events` on fd; 1 ready, 0 timed out, -1 error (errno set).
int wait_for(int fd, short events, Deadline deadline) {
  while (true) {
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, ms_until(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n;
    return 1;
  }
}

std::string address_string(const sockaddr* sa) {
  char host[INET6_ADDRSTRLEN] = {0};
  uint16_t port = 0;
  if (sa->sa_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  if (sa->sa_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    port = ntohs(in6->sin6_port);
    return "[" + std::string(host) + "]:" + std::to_string(port);
  }
  return "?";
}

}  // namespace

ClientConnection::~ClientConnection() {
  close();
}

bool ClientConnection::connect(const std::string& host, uint16_t port, Deadline deadline,
                               std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  std::string name = host;
  if (name.size() > 2 && name.front() == '[' && name.back() == ']')
    name = name.substr(1, name.size() - 2);
  int rc = ::getaddrinfo(name.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (rc != 0) {
    error = "cannot resolve " + host + ": " + gai_strerror(rc);
    return false;
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(found, &freeaddrinfo);
  std::string last = "no address";
  for (addrinfo* ai = found; ai; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last = std::strerror(errno);
      continue;
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      int ready = wait_for(fd, POLLOUT, deadline);
      if (ready == 0) {
        ::close(fd);
        error = "timed out connecting to " + host + ":" + std::to_string(port);
        return false;
      }
      int soerr = 0;
      socklen_t len = sizeof soerr;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
      rc = soerr == 0 ? 0 : -1;
      errno = soerr;
    }
    if (rc != 0) {
      last = std::strerror(errno);
      ::close(fd);
      continue;
    }
    fd_ = fd;
    sockaddr_storage local{};
    socklen_t len = sizeof local;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0)
      local_ = address_string(reinterpret_cast<sockaddr*>(&local));
    peer_ = address_string(ai->ai_addr);
    return true;
  }
  error = "cannot connect to " + host + ":" + std::to_string(port) + ": " + last;
  return false;
}

bool ClientConnection::write_raw(std::string_view bytes, Deadline deadline, std::string& error) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (wait_for(fd_, POLLOUT, deadline) == 0) {
        error = "timed out sending to the server";
        return false;
      }
      continue;
    }
    error = std::string("sending failed: ") + std::strerror(errno);
    return false;
  }
  return true;
}

IoStatus ClientConnection::read_raw(std::string& out, Deadline deadline, std::string& error) {
  char buf[16384];
  while (true) {
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      return IoStatus::ok;
    }
    if (n == 0) return IoStatus::closed;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      int ready = wait_for(fd_, POLLIN, deadline);
      if (ready == 0) return IoStatus::timeout;
      if (ready < 0) {
        error = std::string("poll failed: ") + std::strerror(errno);
        return IoStatus::error;
      }
      continue;
    }
    if (errno == ECONNRESET) return IoStatus::closed;
    error = std::string("receiving failed: ") + std::strerror(errno);
    return IoStatus::error;
  }
}

bool ClientConnection::flush_tls(Deadline deadline, std::string& error) {
  if (!tls_ || !tls_->has_encrypted()) return true;
  std::string encrypted;
  tls_->take_encrypted(encrypted);
  return write_raw(encrypted, deadline, error);
}

bool ClientConnection::start_tls(SSL_CTX* context, const tls::ClientOptions& options,
                                 Deadline deadline, std::string& error) {
  if (fd_ < 0) {
    error = "not connected";
    return false;
  }
  if (!flush(deadline, error)) return false;  // what was queued before TLS goes in cleartext
  tls_ = tls::TlsEndpoint::make_client(context, options);
  tls_->start();
  while (!tls_->handshake_complete()) {
    if (!flush_tls(deadline, error)) return false;
    if (tls_->failed()) {
      error = "TLS handshake failed: " + tls_->error();
      return false;
    }
    std::string encrypted;
    IoStatus st = read_raw(encrypted, deadline, error);
    if (st == IoStatus::timeout) {
      error = "timed out in the TLS handshake";
      return false;
    }
    if (st == IoStatus::closed) {
      error = "the server closed the connection during the TLS handshake";
      return false;
    }
    if (st == IoStatus::error) return false;
    tls_->feed_encrypted(encrypted);
    if (tls_->failed()) {
      flush_tls(deadline, error);  // the alert, if any
      error = "TLS handshake failed: " + tls_->error();
      return false;
    }
  }
  return flush_tls(deadline, error);
}

bool ClientConnection::send(std::string_view plaintext, Deadline, std::string& error) {
  if (fd_ < 0) {
    error = "the connection is closed";
    return false;
  }
  queued_.append(plaintext);
  return true;
}

bool ClientConnection::flush(Deadline deadline, std::string& error) {
  if (queued_.empty()) return true;
  if (fd_ < 0) {
    error = "the connection is closed";
    return false;
  }
  std::string bytes;
  bytes.swap(queued_);
  bytes_out_ += bytes.size();
  if (!tls_) return write_raw(bytes, deadline, error);
  tls_->write_plaintext(bytes);
  if (tls_->failed()) {
    error = "TLS failed: " + tls_->error();
    return false;
  }
  return flush_tls(deadline, error);
}

IoStatus ClientConnection::receive(std::string& out, Deadline deadline, std::string& error) {
  if (fd_ < 0) return IoStatus::closed;
  if (!flush(deadline, error)) return IoStatus::error;
  while (true) {
    if (tls_ && tls_->has_plaintext()) {
      size_t before = out.size();
      tls_->take_plaintext(out);
      bytes_in_ += out.size() - before;
      return IoStatus::ok;
    }
    if (tls_ && tls_->peer_closed()) {
      closed_by_ = "server";
      return IoStatus::closed;
    }
    std::string raw;
    IoStatus st = read_raw(raw, deadline, error);
    if (st == IoStatus::closed) closed_by_ = "server";
    if (st != IoStatus::ok) return st;
    if (!tls_) {
      bytes_in_ += raw.size();
      out += raw;
      return IoStatus::ok;
    }
    tls_->feed_encrypted(raw);
    if (!flush_tls(deadline, error)) return IoStatus::error;
    if (tls_->failed()) {
      error = "TLS failed: " + tls_->error();
      return IoStatus::error;
    }
  }
}

void ClientConnection::close() {
  if (fd_ < 0) return;
  std::string unsent;
  flush(deadline_in(1), unsent);  // what the script sent last still goes out
  if (tls_ && tls_->handshake_complete() && !tls_->failed()) {
    std::string ignored;
    tls_->close_notify();
    flush_tls(deadline_in(1), ignored);
  }
  if (closed_by_.empty()) closed_by_ = "client";
  ::shutdown(fd_, SHUT_RDWR);
  ::close(fd_);
  fd_ = -1;
}

tls::TlsInfo ClientConnection::tls_info() const {
  if (!tls_) return {};
  return tls_->info();
}

}  // namespace mailtap::run
