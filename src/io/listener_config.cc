#include "mailtap/io/listener_config.h"

#include <charconv>

namespace mailtap::io {

std::string HostPort::str() const {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<HostPort> parse_host_port(std::string_view s, std::string_view default_host,
                                        std::string& error) {
  HostPort hp;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      error = "bad address '" + std::string(s) + "': expected [IPv6]:port";
      return std::nullopt;
    }
    hp.host = std::string(s.substr(1, close - 1));
    port = s.substr(close + 2);
  } else {
    size_t colon = s.rfind(':');
    if (colon == std::string_view::npos) {
      hp.host = std::string(default_host);
      port = s;
    } else {
      hp.host = std::string(s.substr(0, colon));
      port = s.substr(colon + 1);
    }
  }
  if (hp.host.empty()) hp.host = std::string(default_host);
  unsigned value = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || p != port.data() + port.size() || value > 65535) {
    error = "bad address '" + std::string(s) + "': expected host:port with a port 0-65535";
    return std::nullopt;
  }
  if (hp.host.empty()) {
    error = "bad address '" + std::string(s) + "': no host";
    return std::nullopt;
  }
  hp.port = static_cast<uint16_t>(value);
  return hp;
}

std::optional<ListenerConfig> complete_listener(const PartialListener& p, std::string& error) {
  ListenerConfig l;
  if (p.listen.empty() || p.upstream.empty()) {
    error = "a listener needs both --listen and --upstream";
    return std::nullopt;
  }
  auto listen = parse_host_port(p.listen, "127.0.0.1", error);
  if (!listen) return std::nullopt;
  auto upstream = parse_host_port(p.upstream, "127.0.0.1", error);
  if (!upstream) return std::nullopt;
  l.listen = *listen;
  l.upstream = *upstream;

  if (!p.protocol.empty()) {
    auto proto = parse_protocol(p.protocol);
    if (!proto) {
      error = "unknown protocol '" + p.protocol + "' (smtp, imap or pop3)";
      return std::nullopt;
    }
    l.protocol = *proto;
  } else if (auto proto = protocol_for_port(l.upstream.port)) {
    l.protocol = *proto;
  } else if (auto proto2 = protocol_for_port(l.listen.port)) {
    l.protocol = *proto2;
  } else {
    error = "cannot tell the protocol of upstream " + l.upstream.str() + ": add --proto smtp|imap|pop3";
    return std::nullopt;
  }

  auto mode = [&](const std::string& given, uint16_t port, TlsMode& out) {
    if (!given.empty()) {
      auto m = parse_tls_mode(given);
      if (!m) {
        error = "unknown TLS mode '" + given + "' (plain, implicit or starttls)";
        return false;
      }
      out = *m;
      return true;
    }
    out = tls_mode_for_port(port).value_or(TlsMode::plain);
    return true;
  };
  if (!mode(p.upstream_tls, l.upstream.port, l.upstream_tls)) return std::nullopt;
  // The client leg mirrors the upstream's mode unless the listen port says otherwise.
  uint16_t hint = tls_mode_for_port(l.listen.port) ? l.listen.port : l.upstream.port;
  if (!mode(p.client_tls, hint, l.client_tls)) return std::nullopt;
  l.name = p.name.empty() ? std::string(to_string(l.protocol)) + "-" + std::to_string(l.listen.port)
                          : p.name;
  return l;
}

namespace {

bool assign_key(PartialListener& p, std::string key, std::string value, std::string& error) {
  for (char& c : key)
    if (c == '_') c = '-';
  if (key == "name") p.name = value;
  else if (key == "listen") p.listen = value;
  else if (key == "upstream") p.upstream = value;
  else if (key == "proto" || key == "protocol") p.protocol = value;
  else if (key == "client-tls") p.client_tls = value;
  else if (key == "upstream-tls") p.upstream_tls = value;
  else {
    error = "unknown listener key '" + key +
            "' (name, listen, upstream, proto, client-tls, upstream-tls)";
    return false;
  }
  return true;
}

}  // namespace

std::optional<PartialListener> parse_listener_spec(std::string_view spec, std::string& error) {
  PartialListener p;
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string_view::npos) comma = spec.size();
    std::string_view item = spec.substr(pos, comma - pos);
    pos = comma + 1;
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      error = "listener spec item '" + std::string(item) + "' is not key=value";
      return std::nullopt;
    }
    if (!assign_key(p, std::string(item.substr(0, eq)), std::string(item.substr(eq + 1)), error))
      return std::nullopt;
  }
  return p;
}

std::optional<PartialListener> parse_listener_json(const nlohmann::json& j, std::string& error) {
  if (!j.is_object()) {
    error = "each entry of \"listeners\" must be an object";
    return std::nullopt;
  }
  PartialListener p;
  for (const auto& [key, value] : j.items()) {
    if (!value.is_string() && !value.is_number_integer()) {
      error = "listener key '" + key + "' must be a string";
      return std::nullopt;
    }
    std::string v = value.is_string() ? value.get<std::string>() : std::to_string(value.get<int>());
    if (!assign_key(p, key, v, error)) return std::nullopt;
  }
  return p;
}

nlohmann::json to_json(const ListenerConfig& l) {
  return {{"name", l.name},
          {"listen", l.listen.str()},
          {"protocol", std::string(to_string(l.protocol))},
          {"client_tls", std::string(to_string(l.client_tls))},
          {"upstream", l.upstream.str()},
          {"upstream_tls", std::string(to_string(l.upstream_tls))}};
}

}  // namespace mailtap::io
