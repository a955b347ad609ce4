// What one listener does: where it listens, which protocol, TLS on each leg, where it forwards.
// Built from command-line flags, a compact --listener spec, or a JSON config file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mailtap/core/protocol.h"
#include "mailtap/session/framing.h"

namespace mailtap::io {

struct HostPort {
  std::string host;
  uint16_t port = 0;
  std::string str() const;  // "host:port", IPv6 in brackets
};

// Parses "host:port", "[v6]:port" or ":port"/"port" (host defaults to `default_host`).
std::optional<HostPort> parse_host_port(std::string_view s, std::string_view default_host,
                                        std::string& error);

struct ListenerConfig {
  std::string name;  // defaults to "<protocol>-<listen port>"
  HostPort listen;
  Protocol protocol = Protocol::smtp;
  TlsMode client_tls = TlsMode::plain;
  HostPort upstream;
  TlsMode upstream_tls = TlsMode::plain;
  session::LineLimits limits;
};

// Fills protocol and TLS modes left unset from the well-known ports (upstream port first, then
// the listen port), and the name. Returns an error when the protocol cannot be known.
struct PartialListener {
  std::string name;
  std::string listen;
  std::string upstream;
  std::string protocol;
  std::string client_tls;
  std::string upstream_tls;
};
std::optional<ListenerConfig> complete_listener(const PartialListener& p, std::string& error);

// "listen=127.0.0.1:1143,upstream=imap.example.com:993,proto=imap,client-tls=starttls,upstream-tls=implicit"
std::optional<PartialListener> parse_listener_spec(std::string_view spec, std::string& error);
// One entry of the config file's "listeners" array (same keys, '-' or '_' accepted).
std::optional<PartialListener> parse_listener_json(const nlohmann::json& j, std::string& error);

nlohmann::json to_json(const ListenerConfig& l);

}  // namespace mailtap::io
