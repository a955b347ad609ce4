// The runner's connection to a mail server: one blocking TCP socket driven with poll() and
// deadlines, and, once TLS starts (implicit or after STARTTLS), the same memory-BIO TlsEndpoint the
// proxy uses. A scripted client needs nothing fancier; every wait is bounded.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "mailtap/tls/tls_endpoint.h"
#include "mailtap/tls/tls_info.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace mailtap::run {

using SteadyClock = std::chrono::steady_clock;
using Deadline = SteadyClock::time_point;

inline Deadline deadline_in(double seconds) {
  return SteadyClock::now() +
         std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(seconds));
}

enum class IoStatus { ok, closed, timeout, error };

class ClientConnection {
 public:
  ClientConnection() = default;
  ~ClientConnection();
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  // Resolves `host` and connects to the first address that answers before the deadline.
  bool connect(const std::string& host, uint16_t port, Deadline deadline, std::string& error);
  // Runs a client-role TLS handshake over the connection. Plaintext that arrives with the end of
  // the handshake is kept for receive().
  bool start_tls(SSL_CTX* context, const tls::ClientOptions& options, Deadline deadline,
                 std::string& error);
  // Queues `plaintext` to be sent (encrypted when TLS is up). Queued lines go out together, in
  // one write, when the client next reads, starts TLS, closes or calls flush(): consecutive
  // script lines are pipelined on the wire as a real client pipelines them, not as separate
  // segments the server may answer one by one.
  bool send(std::string_view plaintext, Deadline deadline, std::string& error);
  // Sends what send() queued.
  bool flush(Deadline deadline, std::string& error);
  // Appends the next plaintext bytes the server sent; waits for at least one byte.
  IoStatus receive(std::string& out, Deadline deadline, std::string& error);
  // Sends close_notify (TLS) and shuts the socket down. Safe to call twice.
  void close();

  bool is_open() const { return fd_ >= 0; }
  bool tls_active() const { return tls_ != nullptr; }
  tls::TlsInfo tls_info() const;
  const std::string& local_address() const { return local_; }
  const std::string& peer_address() const { return peer_; }
  uint64_t bytes_in() const { return bytes_in_; }    // plaintext bytes received
  uint64_t bytes_out() const { return bytes_out_; }  // plaintext bytes sent
  // Who ended the connection, once receive() returned closed: "server" or "client".
  const std::string& closed_by() const { return closed_by_; }

 private:
  bool write_raw(std::string_view bytes, Deadline deadline, std::string& error);
  IoStatus read_raw(std::string& out, Deadline deadline, std::string& error);
  bool flush_tls(Deadline deadline, std::string& error);

  int fd_ = -1;
  std::string queued_;  // plaintext send() accepted and flush() has not sent yet
  std::unique_ptr<tls::TlsEndpoint> tls_;
  std::string local_, peer_;
  uint64_t bytes_in_ = 0, bytes_out_ = 0;
  std::string closed_by_;
};

}  // namespace mailtap::run
