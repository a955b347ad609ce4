// What a completed TLS handshake on one leg tells us, for the transcript and for cert mirroring.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace mailtap::tls {

struct CertificateInfo {
  std::string subject;             // RFC 2253 one-line form, e.g. "CN=mail.example.com"
  std::string issuer;              // same form
  std::string common_name;         // subject CN, empty if none
  std::vector<std::string> names;  // subjectAltName DNS names and IP addresses
  std::string sha256;              // hex, lowercase, of the DER encoding
  std::string not_before;          // ISO 8601 UTC
  std::string not_after;           // ISO 8601 UTC
};

struct TlsInfo {
  std::string version;  // "TLSv1.3"
  std::string cipher;   // "TLS_AES_256_GCM_SHA384"
  std::string sni;      // server name sent (client role) or received (server role); may be empty
  std::string alpn;     // negotiated ALPN, usually empty for mail
  std::optional<CertificateInfo> peer_certificate;  // the upstream's leaf; absent on the client leg
  // Verification of the peer (upstream leg only): "verified", "skipped (--insecure)",
  // or "not applicable" on the client leg.
  std::string verification = "not applicable";
  bool session_reused = false;
};

nlohmann::json to_json(const CertificateInfo& c);
nlohmann::json to_json(const TlsInfo& t);

}  // namespace mailtap::tls
