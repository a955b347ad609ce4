// Reading certificates into CertificateInfo (for transcripts and for leaf mirroring), and the
// small name and time helpers that both the endpoint and the CA need.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mailtap/tls/tls_info.h"

typedef struct x509_st X509;
typedef struct asn1_string_st ASN1_TIME;

namespace mailtap::tls {

// Subject/issuer (RFC 2253), CN, SAN DNS and IP names, SHA-256 of the DER, validity window.
CertificateInfo describe_certificate(const X509* cert);

// True for an IPv4 or IPv6 literal (IPv6 optionally in brackets, as in "[::1]").
bool is_ip_literal(std::string_view name);
// "[::1]" -> "::1"; other names unchanged.
std::string strip_brackets(std::string_view name);

// Seconds since the epoch <-> "2024-05-01T12:00:00Z".
std::string format_iso8601_utc(std::int64_t seconds);
std::optional<std::int64_t> parse_iso8601_utc(std::string_view text);
std::optional<std::int64_t> asn1_time_to_seconds(const ASN1_TIME* time);

}  // namespace mailtap::tls
