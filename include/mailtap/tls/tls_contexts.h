// The two SSL_CTX of a listener: one facing mail clients (server role, leaves minted by the local
// CA), one facing the upstream (client role, verified by default).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "mailtap/tls/cert_authority.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace mailtap::tls {

struct UpstreamTrust {
  std::string ca_file;        // --upstream-ca: PEM bundle to trust instead of the system store
  bool insecure = false;      // --insecure: do not verify (recorded as a warning)
  bool allow_legacy = false;  // allow TLS 1.0/1.1 and weak ciphers towards the upstream
};

// Server-role context. The certificate is chosen per connection from the LeafSpec given to
// TlsEndpoint::make_server, with the SNI from the ClientHello added (servername callback).
std::shared_ptr<SSL_CTX> make_client_facing_context(std::shared_ptr<CertAuthority> ca,
                                                    std::string& error);
// Client-role context towards the upstream.
std::shared_ptr<SSL_CTX> make_upstream_context(const UpstreamTrust& trust, std::string& error);

namespace detail {
// What a server-role SSL carries for the certificate callback of the client-facing context:
// owned by the TlsEndpoint, given to the callback as its argument (set_server_leaf_state).
struct ServerLeafState {
  LeafSpec spec;
  std::string error;  // set when no leaf could be installed
};
// Makes the client-facing context's certificate callback use `state` for `ssl` (nullptr: none
// any more, as with an SSL that never had one).
void set_server_leaf_state(SSL* ssl, ServerLeafState* state);
}  // namespace detail

}  // namespace mailtap::tls
