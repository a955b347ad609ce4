// mailtap's local certificate authority: created once per user, mints leaf certificates on the fly
// that mirror the real server's names, and caches them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mailtap/tls/tls_info.h"

typedef struct x509_st X509;
typedef struct evp_pkey_st EVP_PKEY;

namespace mailtap::tls {

// What a minted leaf should look like.
struct LeafSpec {
  std::string sni;                      // name the client asked for (may be empty)
  std::string upstream_host;            // configured upstream host name or IP
  std::optional<CertificateInfo> real;  // the upstream's certificate, when TLS to it is up
  // Always added after the names above, e.g. the listener address that clients dial by IP.
  std::vector<std::string> extra_names;
};

struct LeafCertificate {
  std::shared_ptr<X509> cert;
  std::shared_ptr<EVP_PKEY> key;
};

class CertAuthority {
 public:
  // Default directory: $MAILTAP_HOME, else $XDG_DATA_HOME/mailtap, else ~/.local/share/mailtap.
  static std::filesystem::path default_directory();

  // Creates ca.pem (0644) and ca.key (0600) in `dir` (made 0700) if missing. Fails if they exist
  // unless `force`. Returns an error message, empty on success.
  static std::string init(const std::filesystem::path& dir, bool force);
  // Loads an existing CA; on failure `error` says what to run (`mailtap ca init`).
  static std::unique_ptr<CertAuthority> load(const std::filesystem::path& dir, std::string& error);

  const std::string& certificate_pem() const;  // for `mailtap ca export`
  std::filesystem::path certificate_path() const;

  // A leaf for the spec, from the cache when an equal spec was minted before. Names: the SNI,
  // else the real certificate's CN and SAN names, else the upstream host. Validity mirrors the
  // real certificate's window when known. 2048-bit RSA (or P-256) keys, SHA-256 signatures.
  // On failure both pointers are null and last_error() says why.
  LeafCertificate leaf_for(const LeafSpec& spec);
  const std::string& last_error() const;

  // The names and validity window (seconds since the epoch) leaf_for() would use for `spec`.
  struct LeafPlan {
    std::vector<std::string> names;  // first one is the CN; IP literals become IP SANs
    std::int64_t not_before = 0;
    std::int64_t not_after = 0;
  };
  LeafPlan plan_for(const LeafSpec& spec) const;

  X509* certificate() const;  // the CA certificate, sent as the chain after each leaf
  size_t cached_leaves() const;

  ~CertAuthority();

 private:
  CertAuthority();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mailtap::tls
