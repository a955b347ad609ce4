// The two SSL_CTX kinds: client-facing (leaf chosen per handshake from the LeafSpec + SNI) and
// upstream-facing (verified against the system store or --upstream-ca).
#include "mailtap/tls/tls_contexts.h"

#include <openssl/err.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "mailtap/tls/openssl_handles.h"
#include "mailtap/tls/session_cache.h"

namespace mailtap::tls {
namespace {

using CaHandle = std::shared_ptr<CertAuthority>;

void free_ca_handle(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<CaHandle*>(ptr);
}

// The CA lives as long as the SSL_CTX (and every SSL that holds a reference to it).
int ca_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, free_ca_handle);
  return index;
}

// Acknowledge the SNI so it is echoed and kept in the session; the leaf itself is chosen in
// the certificate callback, which runs after SNI processing whether or not a name was sent.
int on_servername(SSL* ssl, int*, void*) {
  return SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) ? SSL_TLSEXT_ERR_OK
                                                            : SSL_TLSEXT_ERR_NOACK;
}

// Returns 1 with a leaf, CA chain and key installed on `ssl`, 0 to abort the handshake.
int install_leaf(SSL* ssl, void* arg) noexcept {
  auto* state = static_cast<detail::ServerLeafState*>(arg);
  try {
    auto* ca = static_cast<CaHandle*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ca_index()));
    if (!ca || !*ca) {
      if (state) state->error = "no local CA is configured for TLS towards the client";
      return 0;
    }
    LeafSpec fallback;
    LeafSpec& spec = state ? state->spec : fallback;
    const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    spec.sni = sni ? sni : "";
    LeafCertificate leaf = (*ca)->leaf_for(spec);
    if (!leaf.cert || !leaf.key) {
      if (state) state->error = (*ca)->last_error();
      return 0;
    }
    // The callback runs again after a HelloRetryRequest: start from an empty chain each time.
    if (SSL_use_certificate(ssl, leaf.cert.get()) != 1 ||
        SSL_use_PrivateKey(ssl, leaf.key.get()) != 1 || SSL_clear_chain_certs(ssl) != 1 ||
        SSL_add1_chain_cert(ssl, (*ca)->certificate()) != 1) {
      if (state) state->error = with_openssl_errors("cannot install the minted leaf certificate");
      return 0;
    }
    return 1;
  } catch (const std::exception& e) {
    if (state) state->error = std::string("cannot mint a leaf certificate: ") + e.what();
    return 0;
  }
}

void apply_common_settings(SSL_CTX* ctx) {
  // Frees the 16+ KiB record buffers while a session is idle: most mail sessions are.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
}

}  // namespace

void detail::set_server_leaf_state(SSL* ssl, ServerLeafState* state) {
  // Only on a client-facing context (it carries the CA): another server context keeps its own
  // certificate and callback. Set per SSL (its CERT is its own copy of the context's), so no
  // ex_data slot is needed.
  if (!SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ca_index())) return;
  SSL_set_cert_cb(ssl, install_leaf, state);
}

std::shared_ptr<SSL_CTX> make_client_facing_context(std::shared_ptr<CertAuthority> ca,
                                                    std::string& error) {
  if (!ca) {
    error = "TLS towards the client needs the local CA; run `mailtap ca init` first";
    return nullptr;
  }
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) {
    error = with_openssl_errors("cannot create the client-facing TLS context");
    return nullptr;
  }
  apply_common_settings(ctx.get());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // Client-initiated renegotiation only helps attackers (CPU exhaustion); mail clients never need
  // it.
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // One TLS 1.3 ticket instead of OpenSSL's two: each costs ~100 us to issue, and a mail client
  // reconnecting one connection at a time needs only one.
  SSL_CTX_set_num_tickets(ctx.get(), 1);
  auto* handle = new CaHandle(std::move(ca));
  if (SSL_CTX_set_ex_data(ctx.get(), ca_index(), handle) != 1) {
    delete handle;
    error = with_openssl_errors("cannot attach the CA to the TLS context");
    return nullptr;
  }
  SSL_CTX_set_tlsext_servername_callback(ctx.get(), on_servername);
  SSL_CTX_set_cert_cb(ctx.get(), install_leaf, nullptr);
  error.clear();
  return share(std::move(ctx));
}

// ECDHE/DHE key exchange with AES-GCM or ChaCha20-Poly1305 (Mozilla's "intermediate" set).
constexpr const char* kStrongTls12Ciphers =
    "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL";

std::shared_ptr<SSL_CTX> make_upstream_context(const UpstreamTrust& trust, std::string& error) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    error = with_openssl_errors("cannot create the upstream TLS context");
    return nullptr;
  }
  apply_common_settings(ctx.get());
  if (trust.allow_legacy) {
    // Old servers: TLS 1.0/1.1, SHA-1 and short keys (security level 0), and servers that do not
    // implement secure renegotiation (RFC 5746), which OpenSSL 3 refuses by default.
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_VERSION);
    SSL_CTX_set_security_level(ctx.get(), 0);
    SSL_CTX_set_options(ctx.get(), SSL_OP_LEGACY_SERVER_CONNECT);
    if (SSL_CTX_set_cipher_list(ctx.get(), "DEFAULT:@SECLEVEL=0") != 1) {
      error = with_openssl_errors("cannot enable legacy ciphers");
      return nullptr;
    }
  } else {
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    // TLS 1.2 suites with forward secrecy and an AEAD only: OpenSSL's DEFAULT still offers static
    // RSA key exchange and CBC with HMAC-SHA1 (AES128-SHA), which a downgrading server could pick
    // without anyone noticing. TLS 1.3 suites are all strong and set separately.
    if (SSL_CTX_set_cipher_list(ctx.get(), kStrongTls12Ciphers) != 1) {
      error = with_openssl_errors("cannot set the upstream cipher list");
      return nullptr;
    }
  }
  if (!trust.ca_file.empty()) {
    if (::access(trust.ca_file.c_str(), R_OK) != 0) {
      error = "cannot read the --upstream-ca file " + trust.ca_file + ": " + std::strerror(errno);
      return nullptr;
    }
    if (SSL_CTX_load_verify_locations(ctx.get(), trust.ca_file.c_str(), nullptr) != 1) {
      error = with_openssl_errors("the --upstream-ca file " + trust.ca_file +
                                  " holds no usable PEM certificate");
      return nullptr;
    }
  } else if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
    error = with_openssl_errors("cannot load the system trust store") +
            " (install ca-certificates, or name a CA with --upstream-ca FILE)";
    return nullptr;
  }
  if (!enable_client_session_cache(ctx.get())) {
    error = with_openssl_errors("cannot set up TLS session resumption");
    return nullptr;
  }
  // Per-connection settings (host name, or VERIFY_NONE with --insecure) are made by
  // TlsEndpoint::make_client; this is the safe default for any other user of the context.
  SSL_CTX_set_verify(ctx.get(), trust.insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, nullptr);
  error.clear();
  return share(std::move(ctx));
}

}  // namespace mailtap::tls
