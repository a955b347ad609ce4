// Parsers for the message formats inside SASL mechanisms (private to src/decode): SCRAM attribute
// lists (RFC 5802 5.1), GS2 headers (RFC 5801 4), DIGEST-MD5 directives (RFC 2831 7.1), the
// ^A-separated key/values of XOAUTH2 and OAUTHBEARER (RFC 7628 3.1), NTLM message headers.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace mailtap::decode::sasl_detail {

using Pairs = std::vector<std::pair<std::string, std::string>>;

std::vector<std::string_view> split(std::string_view s, char sep);

// "n=user,r=nonce": each attribute a letter, '=', a value up to the next ','. Empty optional when
// an element has no '=' after a single letter.
std::optional<Pairs> parse_scram_attributes(std::string_view text);
// saslname: "=2C" is ',', "=3D" is '='.
std::string scram_unescape(std::string_view saslname);

struct Gs2Header {
  std::string cbind_flag;  // "n" (client does not support binding), "y" (thinks server does not),
                           // "p" (uses binding)
  std::string cbind_name;  // with "p": e.g. "tls-unique", "tls-server-end-point", "tls-exporter"
  std::string authzid;     // a= (unescaped), may be empty
  bool nonstandard = false;  // "F," prefix (RFC 5801 4)
  size_t length = 0;         // bytes of the header including its two commas
};
std::optional<Gs2Header> parse_gs2_header(std::string_view message);

// key=value, key="quoted \" value", separated by commas with optional spaces.
std::optional<Pairs> parse_digest_directives(std::string_view text);

// key=value pairs separated by ^A (0x01); empty elements skipped; elements without '=' kept with
// an empty key.
Pairs parse_kvsep_pairs(std::string_view text);

// Parses small JSON (the error body of XOAUTH2/OAUTHBEARER), refusing large or deeply nested text.
std::optional<nlohmann::json> parse_small_json(std::string_view text);

struct NtlmMessage {
  int type = 0;  // 1 negotiate, 2 challenge, 3 authenticate
  std::string domain, user, workstation, target_name;
  size_t size = 0;
};
std::optional<NtlmMessage> parse_ntlm(std::string_view data);

}  // namespace mailtap::decode::sasl_detail
