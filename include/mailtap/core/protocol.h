// Mail protocols and TLS modes, with the well-known-port defaults users expect.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace mailtap {

enum class Protocol { smtp, imap, pop3 };

// How TLS is used on one leg: none, from the first byte, or after a STARTTLS/STLS command.
enum class TlsMode { plain, implicit, starttls };

std::string_view to_string(Protocol p);
std::string_view to_string(TlsMode m);
std::optional<Protocol> parse_protocol(std::string_view s);
std::optional<TlsMode> parse_tls_mode(std::string_view s);

// Guesses from a well-known port: 25/587/2525 smtp, 465 smtp implicit, 143 imap, 993 imap implicit,
// 110 pop3, 995 pop3 implicit. Empty when the port says nothing.
std::optional<Protocol> protocol_for_port(uint16_t port);
// The TLS mode a well-known port implies: implicit for 465/993/995, starttls for 25/587/143/110.
std::optional<TlsMode> tls_mode_for_port(uint16_t port);

}  // namespace mailtap
