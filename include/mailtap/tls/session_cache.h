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

// Offers the session cached under `key` (if any) on `ssl` and files the sessions this connection
// receives under the same key. `key` must stay alive as long as `ssl`; it should name what a
// session may be reused for: server name, port and whether the certificate was verified.
void resume_client_session(SSL* ssl, const std::string* key);

// Number of sessions cached on `ctx` (for tests).
size_t cached_client_sessions(SSL_CTX* ctx);

}  // namespace mailtap::tls
