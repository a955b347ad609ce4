// Shared helpers for the TLS tests: temporary directories holding throw-away CAs, and a pump
// that carries encrypted bytes between two in-memory endpoints (no sockets).
#pragma once

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include "mailtap/tls/cert_authority.h"
#include "mailtap/tls/tls_contexts.h"
#include "mailtap/tls/tls_endpoint.h"

namespace mailtap::tls::testing {

// A fresh directory under $TMPDIR, removed with everything in it when the object dies.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "mailtap-tls-test-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A test CA created with CertAuthority::init in its own temporary directory.
struct TestCa {
  TempDir dir;
  std::shared_ptr<CertAuthority> ca;

  TestCa() {
    std::filesystem::path home = dir.path() / "ca";
    std::string error = CertAuthority::init(home, false);
    if (!error.empty()) throw std::runtime_error("CA init failed: " + error);
    ca = CertAuthority::load(home, error);
    if (!ca) throw std::runtime_error("CA load failed: " + error);
  }
  std::string pem_path() const { return ca->certificate_path().string(); }
};

// Client-facing context from `ca` plus an upstream context that trusts `trusted`.
struct ContextPair {
  std::shared_ptr<SSL_CTX> server;
  std::shared_ptr<SSL_CTX> client;

  ContextPair(const TestCa& ca, const TestCa& trusted, bool allow_legacy = false) {
    std::string error;
    server = make_client_facing_context(ca.ca, error);
    if (!server) throw std::runtime_error(error);
    UpstreamTrust trust;
    trust.ca_file = trusted.pem_path();
    trust.allow_legacy = allow_legacy;
    client = make_upstream_context(trust, error);
    if (!client) throw std::runtime_error(error);
  }
  explicit ContextPair(const TestCa& ca) : ContextPair(ca, ca) {}
};

// A server context with one fixed certificate for `host`, like a real mail server's: it does not
// mint per SNI, so a client asking for another name sees a mismatch.
inline std::shared_ptr<SSL_CTX> fixed_certificate_server(CertAuthority& ca,
                                                         const std::string& host) {
  LeafSpec spec;
  spec.upstream_host = host;
  LeafCertificate leaf = ca.leaf_for(spec);
  if (!leaf.cert) throw std::runtime_error(ca.last_error());
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx || SSL_CTX_use_certificate(ctx.get(), leaf.cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx.get(), leaf.key.get()) != 1) {
    throw std::runtime_error("cannot build a fixed-certificate server context");
  }
  return ctx;
}

// Carries encrypted bytes both ways until neither side has anything left to send. With
// `piece` > 0, bytes are delivered in pieces of at most that size (1 = byte by byte).
inline void pump(TlsEndpoint& client, TlsEndpoint& server, size_t piece = 0) {
  std::string wire;
  auto deliver = [&](TlsEndpoint& from, TlsEndpoint& to) {
    wire.clear();
    from.take_encrypted(wire);
    if (wire.empty()) return false;
    if (piece == 0) {
      to.feed_encrypted(wire);
    } else {
      for (size_t at = 0; at < wire.size(); at += piece) {
        to.feed_encrypted(std::string_view(wire).substr(at, piece));
      }
    }
    return true;
  };
  for (int round = 0; round < 1000; ++round) {
    bool moved = deliver(client, server);
    moved = deliver(server, client) || moved;
    if (!moved) return;
  }
  ADD_FAILURE() << "endpoints still exchanging bytes after 1000 rounds";
}

inline std::string random_bytes(size_t size, unsigned seed) {
  std::mt19937 generator(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(generator() & 0xff);
  return out;
}

inline std::string take_all_plaintext(TlsEndpoint& endpoint) {
  std::string out;
  endpoint.take_plaintext(out);
  return out;
}

}  // namespace mailtap::tls::testing
