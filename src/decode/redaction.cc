#include "mailtap/decode/redaction.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cstdio>

#include "sasl_text.h"

namespace mailtap::decode {
namespace {

// Used when the user gives no key, so that two default transcripts of the same secret match.
// It is public: the hash then only hides the secret from a casual reader and a dictionary attack
// on a short password remains possible; --redaction-key (a private key) prevents that.
constexpr std::string_view kDefaultKey = "mailtap redaction v1";

constexpr std::string_view kPrefix = "<redacted len=";

}  // namespace

std::string redact(std::string_view secret, const DecodeOptions& options) {
  std::string_view key = options.redaction_key.empty() ? kDefaultKey : options.redaction_key;
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_len = 0;
  const unsigned char* ok =
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), mac.data(),
           &mac_len);
  char hex[9] = "00000000";
  if (ok != nullptr && mac_len >= 4) {
    std::snprintf(hex, sizeof hex, "%02x%02x%02x%02x", mac[0], mac[1], mac[2], mac[3]);
  }
  return std::string(kPrefix) + std::to_string(secret.size()) + " h=" + hex + ">";
}

std::string show_secret(std::string_view secret, const DecodeOptions& options) {
  // Revealed secrets go into JSON fields and notes, which must be valid UTF-8: bytes that are not
  // (and control characters) are written as \xNN. The exact bytes stay in the raw line.
  if (options.reveal_secrets) return text::json_safe(secret, 64 * 1024);
  return redact(secret, options);
}

bool is_redaction_token(std::string_view text) {
  if (text.substr(0, kPrefix.size()) != kPrefix) return false;
  size_t i = kPrefix.size();
  size_t digits = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i, ++digits;
  if (digits == 0 || text.substr(i, 3) != " h=") return false;
  i += 3;
  for (int n = 0; n < 8; ++n, ++i) {
    if (i >= text.size()) return false;
    char c = text[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return i + 1 == text.size() && text[i] == '>';
}

}  // namespace mailtap::decode
