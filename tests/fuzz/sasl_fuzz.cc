// libFuzzer target for SaslExchange and base64: the first byte picks the mechanism and options,
// the rest is split on '\n' into messages whose first byte says who sends it. Decoded steps must
// always be writable as JSON; base64 must round-trip; with secrets redacted, every secret field
// is a redaction token and a message carrying a secret has its wire text replaced.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mailtap/decode/redaction.h"
#include "mailtap/decode/sasl.h"

namespace {

constexpr const char* kMechanisms[] = {
    "PLAIN",       "LOGIN",         "CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256-PLUS",
    "XOAUTH2",     "OAUTHBEARER",   "EXTERNAL", "ANONYMOUS",  "GSSAPI",      "NTLM",
    "X-SOMETHING", "SCRAM-SHA-512",
};

void check(const mailtap::decode::SaslStep& step) {
  (void)step.decoded.dump();
  (void)nlohmann::json(step.note).dump();
  (void)step.warnings.dump();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  mailtap::decode::DecodeOptions options;
  options.reveal_secrets = (data[0] & 0x80) != 0;
  const char* mechanism = kMechanisms[(data[0] & 0x7F) % std::size(kMechanisms)];
  mailtap::decode::SaslExchange exchange(mechanism, options);
  std::string_view rest = input.substr(1);

  std::string encoded = mailtap::decode::base64_encode(rest);
  if (mailtap::decode::base64_decode(encoded) != std::string(rest)) __builtin_trap();
  (void)mailtap::decode::base64_decode(rest);

  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view message = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (message.empty()) continue;
    char who = message[0];
    message.remove_prefix(1);
    // Messages are fed as sent on the wire: raw bytes become base64 unless marked as wire text.
    std::string wire = (who & 0x20) ? std::string(message) : mailtap::decode::base64_encode(message);
    switch (who & 0x3) {
      case 0:
      case 1: {
        mailtap::decode::SaslStep step = exchange.client_response(wire, (who & 0x40) != 0);
        check(step);
        if (!options.reveal_secrets) {
          // Every secret field is a redaction token, and secret wire text is replaced.
          const nlohmann::json& fields = step.decoded["fields"];
          for (const char* key : {"password", "token", "proof", "digest", "response"}) {
            if (fields.contains(key) &&
                !mailtap::decode::is_redaction_token(fields[key].get<std::string>())) {
              __builtin_trap();
            }
          }
          std::string_view trimmed = wire;
          while (!trimmed.empty() && (trimmed.back() == ' ' || trimmed.back() == '\r' ||
                                      trimmed.back() == '\t' || trimmed.back() == '\n')) {
            trimmed.remove_suffix(1);
          }
          while (!trimmed.empty() && (trimmed.front() == ' ' || trimmed.front() == '\t')) {
            trimmed.remove_prefix(1);
          }
          if (step.carries_secret && !trimmed.empty() && trimmed != "=" && !step.redacted()) {
            __builtin_trap();
          }
        }
        break;
      }
      case 2:
        check(exchange.server_challenge(wire));
        break;
      default:
        check(exchange.finish({(who & 0x4) != 0, "235", std::string(message)},
                              (who & 0x8) ? std::optional<std::string_view>(wire) : std::nullopt));
        break;
    }
  }
  (void)exchange.summary().dump();
  return 0;
}
