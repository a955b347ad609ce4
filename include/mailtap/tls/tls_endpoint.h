// One TLS endpoint over an in-memory transport, used for both legs (server role towards the mail
// client, client role towards the upstream). No sockets: encrypted bytes in and out, plaintext in
// and out. Modelled on Node's TLSWrap (ClearIn/ClearOut/EncOut) and h2o's socket.c decode loop.
// The transport is a BIO that reads the fed bytes in place and appends output to a string that
// take_encrypted() hands over by swap (buffer_bio.h): a BIO_s_mem pair without its two copies.
// Not reentrant; each call clears OpenSSL's error queue first and drains it into error().
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "mailtap/tls/cert_authority.h"
#include "mailtap/tls/tls_info.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace mailtap::tls {

enum class Role { client, server };

struct ClientOptions {
  std::string server_name;  // SNI and the name verified (DNS name or IP literal); may be empty
  bool verify = true;       // false with --insecure: handshake proceeds, info says "skipped"
  // Non-empty: resume TLS sessions with earlier connections that had the same key, server name
  // and verify setting (e.g. "imap.example.com:993"). Empty: always a full handshake.
  std::string resumption_key;
};

class TlsEndpoint {
 public:
  // `ctx` must outlive the endpoint. Server role: ctx comes from make_client_facing_context() and
  // the leaf presented mirrors `spec` (plus the SNI the client sends).
  static std::unique_ptr<TlsEndpoint> make_server(SSL_CTX* ctx, const LeafSpec& spec);
  static std::unique_ptr<TlsEndpoint> make_client(SSL_CTX* ctx, const ClientOptions& options);
  virtual ~TlsEndpoint();
  TlsEndpoint(const TlsEndpoint&) = delete;
  TlsEndpoint& operator=(const TlsEndpoint&) = delete;

  // Starts the handshake (client role emits its ClientHello into the encrypted output).
  void start();
  // Encrypted bytes from the network; drives the handshake and decryption.
  void feed_encrypted(std::string_view bytes);
  // Plaintext to send; held until the handshake completes, then encrypted.
  void write_plaintext(std::string_view bytes);
  // Sends close_notify.
  void close_notify();

  // Moves out what is ready: encrypted bytes for the wire, decrypted bytes for the application.
  // Appends to `out` to let the caller reuse buffers.
  void take_encrypted(std::string& out);
  void take_plaintext(std::string& out);
  // The decrypted bytes in place, without the copy take_plaintext makes: valid until the next
  // call that feeds, discards, takes or destroys this endpoint. discard_plaintext() forgets them
  // once used (their memory goes back to the thread for the next read).
  std::string_view plaintext() const;
  void discard_plaintext();
  bool has_encrypted() const;
  bool has_plaintext() const;

  bool handshake_complete() const;
  bool failed() const;
  const std::string& error() const;  // what failed, with OpenSSL's reason and what to do
  bool peer_closed() const;          // close_notify received
  TlsInfo info() const;  // valid once handshake_complete(); read from the SSL on each call

 private:
  // The state lives in the object itself: Impl derives from TlsEndpoint, so an endpoint is one
  // allocation (a pointer to a separate Impl cost every endpoint a second one).
  struct Impl;
  // The session cache asks an endpoint's SSL for its resumption key (session_cache.h).
  friend const std::string* client_session_key(const SSL* ssl);
  TlsEndpoint() = default;
  Impl* impl();
  const Impl* impl() const;
};

}  // namespace mailtap::tls
