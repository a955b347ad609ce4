// The header line: everything a reader needs to know about the session before its first event.
#include "mailtap/transcript/session_header.h"

#include <string>

#include "mailtap/transcript/time_format.h"

#ifndef MAILTAP_VERSION
#define MAILTAP_VERSION "unknown"
#endif

namespace mailtap::transcript {

nlohmann::json to_json(const SessionHeader& h) {
  nlohmann::json j = nlohmann::json::object();
  // `extra` goes in first so the well-known keys below always win over a clashing extra key.
  if (h.extra.is_object()) {
    for (const auto& [key, value] : h.extra.items()) j[key] = value;
  }
  j["type"] = "session";
  j["format"] = "mailtap-transcript";
  j["version"] = kFormatVersion;
  j["session"] = h.session_id;
  j["protocol"] = std::string(to_string(h.protocol));
  j["listener"] = {
      {"name", h.listener},
      {"listen", h.listen},
      {"client_tls", std::string(to_string(h.client_tls))},
      {"upstream", h.upstream},
      {"upstream_tls", std::string(to_string(h.upstream_tls))},
      {"upstream_insecure", h.upstream_insecure},
  };
  j["client"] = h.client_address;
  j["started"] = iso8601_utc(h.started_us);
  j["t"] = h.started_us;
  j["mailtap_version"] = MAILTAP_VERSION;
  return j;
}

}  // namespace mailtap::transcript
