// Per-mechanism decoding of SASL messages (private to src/decode); driven by SaslExchange.
#pragma once

#include <string>
#include <string_view>

#include "mailtap/decode/sasl.h"

namespace mailtap::decode::sasl_detail {

// The state an exchange keeps between messages, lent to the mechanism decoders.
struct MechanismContext {
  const std::string& mechanism;  // upper-case
  const DecodeOptions& options;
  std::string& user;
  std::string& last_prompt;
  std::string& client_nonce;
  std::string& scram_nonce;
  int client_messages;  // client messages so far, this one included when decoding a client message
  int server_messages;  // likewise for server messages
};

// Fills step.decoded["fields"], step.note and step.warnings. Returns true when the message holds
// a secret (password, token, proof), so its wire text must be redacted.
bool decode_client_message(MechanismContext& ctx, std::string_view data, bool initial,
                           std::string_view wire, SaslStep& step);
void decode_server_message(MechanismContext& ctx, std::string_view data, std::string_view wire,
                           SaslStep& step);

std::string mechanism_description(const std::string& upper_mechanism);

}  // namespace mailtap::decode::sasl_detail
