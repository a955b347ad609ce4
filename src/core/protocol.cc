#include "mailtap/core/protocol.h"

namespace mailtap {

std::string_view to_string(Protocol p) {
  switch (p) {
    case Protocol::smtp: return "smtp";
    case Protocol::imap: return "imap";
    case Protocol::pop3: return "pop3";
  }
  return "?";
}

std::string_view to_string(TlsMode m) {
  switch (m) {
    case TlsMode::plain: return "plain";
    case TlsMode::implicit: return "implicit";
    case TlsMode::starttls: return "starttls";
  }
  return "?";
}

std::optional<Protocol> parse_protocol(std::string_view s) {
  if (s == "smtp") return Protocol::smtp;
  if (s == "imap") return Protocol::imap;
  if (s == "pop3" || s == "pop") return Protocol::pop3;
  return std::nullopt;
}

std::optional<TlsMode> parse_tls_mode(std::string_view s) {
  if (s == "plain" || s == "none") return TlsMode::plain;
  if (s == "implicit" || s == "tls" || s == "ssl") return TlsMode::implicit;
  if (s == "starttls" || s == "stls") return TlsMode::starttls;
  return std::nullopt;
}

std::optional<Protocol> protocol_for_port(uint16_t port) {
  switch (port) {
    case 25: case 465: case 587: case 2525: return Protocol::smtp;
    case 143: case 993: return Protocol::imap;
    case 110: case 995: return Protocol::pop3;
    default: return std::nullopt;
  }
}

std::optional<TlsMode> tls_mode_for_port(uint16_t port) {
  switch (port) {
    case 465: case 993: case 995: return TlsMode::implicit;
    case 25: case 587: case 2525: case 143: case 110: return TlsMode::starttls;
    default: return std::nullopt;
  }
}

}  // namespace mailtap
