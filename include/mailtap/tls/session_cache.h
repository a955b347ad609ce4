// Client-side TLS session resumption towards upstreams. A proxy connects to the same few
// servers again and again; resuming skips the certificate chain (parsing and verification are
// most of a client-role handshake's cost in OpenSSL 3) and shares one parsed chain among
// sessions instead of holding a copy per connection.
#pragma once

#include <string>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace mailtap::tls {

// Makes `ctx` (client role) keep the newest session per key. Called by make_upstream_context.
bool enable_client_session_cache(SSL_CTX* ctx);

// Offers the session cached under `key` (if any) on `ssl`. The sessions a connection receives
// are filed under the key client_session_key(ssl) names (the TlsEndpoint that owns the SSL
// answers: the same key). It should name what a session may be reused for: server name, port and
// whether the certificate was verified.
void resume_client_session(SSL* ssl, const std::string& key);

// The key under which `ssl`'s sessions are cached, or nullptr for none (tls_endpoint.cc).
const std::string* client_session_key(const SSL* ssl);

// Number of sessions cached on `ctx` (for tests).
size_t cached_client_sessions(SSL_CTX* ctx);

}  // namespace mailtap::tls
