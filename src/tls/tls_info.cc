#include "mailtap/tls/tls_info.h"

namespace mailtap::tls {

nlohmann::json to_json(const CertificateInfo& c) {
  return nlohmann::json{{"subject", c.subject},         {"issuer", c.issuer},
                        {"common_name", c.common_name}, {"names", c.names},
                        {"sha256", c.sha256},           {"not_before", c.not_before},
                        {"not_after", c.not_after}};
}

nlohmann::json to_json(const TlsInfo& t) {
  nlohmann::json j{{"version", t.version},
                   {"cipher", t.cipher},
                   {"sni", t.sni},
                   {"alpn", t.alpn},
                   {"verification", t.verification},
                   {"session_reused", t.session_reused}};
  if (t.peer_certificate) j["peer_certificate"] = to_json(*t.peer_certificate);
  return j;
}

}  // namespace mailtap::tls
