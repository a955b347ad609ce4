// Per-protocol words for Session playbooks, and the opening of a session in any TLS mode pair:
// accept, connect upstream, upstream TLS (implicit or negotiated by mailtap), the held greeting,
// client TLS (implicit, or STARTTLS passed through or answered by mailtap).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "support/playbook.h"

namespace mailtap::session::test {

// Playbooks are laid out one step per line, which clang-format cannot keep.
// clang-format off

inline constexpr const char* kUpstreamHost = "mail.example.net";

struct Dialect {
  Protocol protocol;
  std::string greeting;
  // mailtap's own STARTTLS with the upstream: what it sends, what the server answers.
  std::vector<std::pair<std::string, std::string>> negotiation;
  std::string client_starttls;      // the client's STARTTLS command
  std::string server_starttls_ok;   // the upstream's positive reply to it
  std::string mailtap_starttls_ok;  // mailtap's own positive reply
  std::string command;              // a harmless command and its reply
  std::string reply;
  std::string fatal_prefix;  // how mailtap's fatal message to the client begins
};

inline const Dialect& dialect(Protocol p) {
  static const Dialect smtp{
      Protocol::smtp,
      "220 mail.example.net ESMTP\r\n",
      {{"EHLO mailtap.invalid\r\n", "250-mail.example.net\r\n250-PIPELINING\r\n250 STARTTLS\r\n"},
       {"STARTTLS\r\n", "220 2.0.0 Ready to start TLS\r\n"}},
      "STARTTLS\r\n",
      "220 2.0.0 Ready to start TLS\r\n",
      "220 2.0.0 Ready to start TLS (mailtap)\r\n",
      "NOOP\r\n",
      "250 2.0.0 Ok\r\n",
      "421 4.4.0 mailtap: "};
  static const Dialect imap{Protocol::imap,
                            "* OK IMAP4rev1 Service Ready\r\n",
                            {{"mailtap1 STARTTLS\r\n",
                              "mailtap1 OK Begin TLS negotiation now\r\n"}},
                            "a1 STARTTLS\r\n",
                            "a1 OK Begin TLS negotiation now\r\n",
                            "a1 OK Begin TLS negotiation now (mailtap)\r\n",
                            "a2 NOOP\r\n",
                            "a2 OK NOOP completed\r\n",
                            "* BYE mailtap: "};
  static const Dialect pop3{Protocol::pop3,
                            "+OK POP3 server ready\r\n",
                            {{"STLS\r\n", "+OK Begin TLS negotiation\r\n"}},
                            "STLS\r\n",
                            "+OK Begin TLS negotiation\r\n",
                            "+OK Begin TLS negotiation (mailtap)\r\n",
                            "NOOP\r\n",
                            "+OK\r\n",
                            "-ERR mailtap: "};
  switch (p) {
    case Protocol::smtp: return smtp;
    case Protocol::imap: return imap;
    case Protocol::pop3: return pop3;
  }
  return smtp;
}

inline SessionConfig config_for(Protocol protocol, TlsMode client, TlsMode upstream) {
  SessionConfig c;
  c.protocol = protocol;
  c.client_tls = client;
  c.upstream_tls = upstream;
  c.upstream_host = kUpstreamHost;
  return c;
}

inline bool passthrough(const SessionConfig& c) {
  return c.client_tls == TlsMode::starttls && c.upstream_tls == TlsMode::starttls;
}

// The StartTls on the client leg, with the leaf the session should ask for by then.
inline Out start_client_tls(const SessionConfig& c) {
  if (c.upstream_tls == TlsMode::plain) return start_client_tls_by_host(c.upstream_host);
  return start_client_tls_mirroring(upstream_certificate(), c.upstream_host);
}

// From accept to both legs relaying, the greeting delivered; stops before any client STARTTLS.
inline void open_session(Playbook& pb) {
  const SessionConfig& c = pb.config();
  const Dialect& d = dialect(c.protocol);
  pb >> accepted() << connect_upstream() >> upstream_connected();
  if (c.upstream_tls == TlsMode::implicit)
    pb << start_tls(Side::server) >> tls_established(Side::server);
  pb >> from_server(d.greeting);
  if (c.upstream_tls == TlsMode::starttls && !passthrough(c)) {
    // mailtap negotiates TLS with the upstream itself before the client hears anything.
    for (const auto& [said, answer] : d.negotiation) pb << to_server(said) >> from_server(answer);
    pb << start_tls(Side::server) >> tls_established(Side::server);
  }
  pb << start_reading(Side::client);
  if (c.client_tls == TlsMode::implicit) pb << start_client_tls(c);
  pb << to_client(d.greeting);
  if (c.client_tls == TlsMode::implicit) pb >> tls_established(Side::client);
}

// The client's STARTTLS, passed through to the upstream or answered by mailtap.
inline void client_starttls(Playbook& pb) {
  const SessionConfig& c = pb.config();
  const Dialect& d = dialect(c.protocol);
  if (passthrough(c)) {
    pb >> from_client(d.client_starttls) << to_server(d.client_starttls)
       >> from_server(d.server_starttls_ok) << start_tls(Side::server)
       >> tls_established(Side::server) << to_client(d.server_starttls_ok)
       << start_client_tls(c) >> tls_established(Side::client);
  } else {
    pb >> from_client(d.client_starttls) << to_client(d.mailtap_starttls_ok)
       << start_client_tls(c) >> tls_established(Side::client);
  }
}

// open_session, then STARTTLS when the client leg uses it.
inline void establish(Playbook& pb) {
  open_session(pb);
  if (pb.config().client_tls == TlsMode::starttls) client_starttls(pb);
}

inline std::string mode_name(TlsMode m) { return std::string(to_string(m)); }

// clang-format on

}  // namespace mailtap::session::test
