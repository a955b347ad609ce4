// A scripted TCP server on 127.0.0.1 for the runner's tests: one connection, handled by a test
// function on its own thread with bounded reads, so a runner bug fails a test instead of hanging.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "mailtap/tls/tls_endpoint.h"

namespace mailtap::run::testing {

class FakeConnection {
 public:
  explicit FakeConnection(int fd) : fd_(fd) {}

  // The next line with its line end; "" when the peer closed or nothing came within `seconds`.
  std::string read_line(double seconds = 5) {
    while (true) {
      size_t nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl + 1);
        buffer_.erase(0, nl + 1);
        received += line;
        return line;
      }
      if (!fill(seconds)) return "";
    }
  }
  std::string read_bytes(size_t n, double seconds = 5) {
    while (buffer_.size() < n)
      if (!fill(seconds)) return "";
    std::string out = buffer_.substr(0, n);
    buffer_.erase(0, n);
    received += out;
    return out;
  }
  // True when bytes arrive within `seconds` (they stay buffered for the next read).
  bool data_arrives_within(double seconds) { return !buffer_.empty() || fill(seconds); }
  void write(const std::string& bytes) {
    if (tls_) {
      tls_->write_plaintext(bytes);
      flush_tls();
      return;
    }
    write_raw(bytes);
  }
  // Server side of a TLS handshake (implicit TLS, or after a STARTTLS reply). Plaintext the
  // client sent before it is dropped, as a careful server does.
  bool start_tls(SSL_CTX* context, const tls::LeafSpec& spec, double seconds = 5) {
    buffer_.clear();
    tls_ = tls::TlsEndpoint::make_server(context, spec);
    tls_->start();
    while (!tls_->handshake_complete()) {
      flush_tls();
      if (tls_->failed()) return false;
      std::string raw;
      if (!read_raw(raw, seconds)) return false;
      tls_->feed_encrypted(raw);
    }
    flush_tls();
    tls_->take_plaintext(buffer_);
    return true;
  }

 private:
  void flush_tls() {
    std::string out;
    tls_->take_encrypted(out);
    write_raw(out);
  }
  bool read_raw(std::string& out, double seconds) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(seconds * 1000)) <= 0) return false;
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    out.append(buf, static_cast<size_t>(n));
    return true;
  }
  void write_raw(const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<size_t>(n);
    }
  }

 public:
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  ~FakeConnection() { close(); }

  std::string received;  // every plaintext byte read so far

 private:
  bool fill(double seconds) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (true) {
      std::string raw;
      double left =
          std::chrono::duration<double>(deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0 || !read_raw(raw, left)) return false;
      if (!tls_) {
        buffer_ += raw;
        return true;
      }
      tls_->feed_encrypted(raw);
      flush_tls();
      size_t before = buffer_.size();
      tls_->take_plaintext(buffer_);
      if (buffer_.size() > before) return true;
      if (tls_->failed() || tls_->peer_closed()) return false;
    }
  }
  int fd_;
  std::string buffer_;
  std::unique_ptr<tls::TlsEndpoint> tls_;
};

class FakeServer {
 public:
  using Handler = std::function<void(FakeConnection&)>;

  explicit FakeServer(Handler handler) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(listen_fd_, 4);
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, handler] {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 10000) <= 0) return;
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      FakeConnection conn(fd);
      handler(conn);
      transcript_ = conn.received;
      done_ = true;
    });
  }
  ~FakeServer() { join(); }

  void join() {
    if (thread_.joinable()) thread_.join();
    if (listen_fd_ >= 0) ::close(listen_fd_);
    listen_fd_ = -1;
  }
  uint16_t port() const { return port_; }
  // What the server read, once join() returned.
  const std::string& received() const { return transcript_; }

 private:
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::string transcript_;
  std::atomic<bool> done_{false};
};

}  // namespace mailtap::run::testing
