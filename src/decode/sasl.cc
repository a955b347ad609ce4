// SaslExchange: one AUTH/AUTHENTICATE exchange, message by message. The per-mechanism message
// formats live in sasl_mechanism.cc; this file handles the wire conventions ("*", "=", base64),
// step numbering, redaction of the wire text and the outcome.
#include "mailtap/decode/sasl.h"

#include <climits>

#include "mailtap/decode/redaction.h"
#include "sasl_mechanism.h"
#include "sasl_text.h"

namespace mailtap::decode {

namespace {

void bump(int& counter) {
  if (counter < INT_MAX) ++counter;
}

// Warning texts may quote wire bytes: made valid UTF-8 here, whatever the caller built them from.
void add_warning(SaslStep& step, std::string code, const std::string& message) {
  step.warnings.push_back(
      {{"code", std::move(code)}, {"message", text::json_safe(message, text::kMaxMessageBytes)}});
}

// The note quotes wire bytes in many places; whatever path built it, it leaves valid UTF-8.
SaslStep settled(SaslStep step) {
  step.note = text::json_safe(step.note, text::kMaxMessageBytes);
  return step;
}

}  // namespace

SaslExchange::SaslExchange(std::string_view mechanism, const DecodeOptions& options)
    : options_(options), mechanism_(text::upper(text::json_safe(text::trim(mechanism), 64))) {}

SaslStep SaslExchange::make_step(const char* role) {
  bump(step_);
  SaslStep step;
  step.decoded = {{"mechanism", mechanism_},
                  {"step", step_},
                  {"role", role},
                  {"fields", nlohmann::json::object()}};
  return step;
}

std::string SaslExchange::secret(std::string_view value) const {
  return show_secret(value, options_);
}

SaslStep SaslExchange::client_response(std::string_view wire, bool initial) {
  SaslStep step = make_step("client");
  bump(client_messages_);
  wire = text::trim(wire);
  if (initial) step.decoded["initial_response"] = true;
  if (wire == "*") {
    cancelled_ = true;
    step.decoded["cancelled"] = true;
    step.note = "\"*\": the client cancels the " + mechanism_ + " authentication";
    return settled(std::move(step));
  }
  if (finished_) {
    add_warning(step, "sasl_after_outcome",
                "client sent a SASL message after the server ended the exchange");
  }
  std::string data;
  if (!wire.empty() && wire != "=") {
    std::optional<std::string> decoded = base64_decode(wire);
    if (!decoded) {
      step.decoded["fields"]["invalid_base64"] = true;
      step.decoded["fields"]["length"] = wire.size();
      add_warning(step, "sasl_bad_base64",
                  "the client's " + mechanism_ + " message is not valid base64");
      step.note = "The client's " + mechanism_ + " message (" + std::to_string(wire.size()) +
                  " characters) is not valid base64";
      // It may still be a password typed in clear: never show it unless asked to.
      step.carries_secret = true;
      if (!options_.reveal_secrets) step.wire_replacement = redact(wire, options_);
      return settled(std::move(step));
    }
    data = std::move(*decoded);
  }
  bool carries_secret = decode_client(data, initial, wire, step);
  step.carries_secret = carries_secret;
  if (carries_secret && !options_.reveal_secrets && !wire.empty() && wire != "=") {
    step.wire_replacement = redact(wire, options_);
  }
  return settled(std::move(step));
}

SaslStep SaslExchange::server_challenge(std::string_view wire) {
  SaslStep step = make_step("server");
  bump(server_messages_);
  wire = text::trim(wire);
  if (cancelled_ || finished_) {
    add_warning(step, "sasl_after_outcome",
                "server sent a SASL challenge after the exchange was cancelled or ended");
  }
  std::string data;
  if (!wire.empty() && wire != "=") {
    std::optional<std::string> decoded = base64_decode(wire);
    if (!decoded) {
      step.decoded["fields"]["invalid_base64"] = true;
      step.decoded["fields"]["text"] = text::json_safe(wire);
      add_warning(step, "sasl_bad_base64",
                  "the server's " + mechanism_ + " challenge is not valid base64");
      step.note = "The server's challenge \"" + text::json_safe(wire, 80) +
                  "\" is not valid base64 (a protocol error)";
      return settled(std::move(step));
    }
    data = std::move(*decoded);
  }
  decode_server(data, wire, step);
  return settled(std::move(step));
}

SaslStep SaslExchange::finish(const SaslOutcome& outcome,
                              std::optional<std::string_view> additional_data) {
  SaslStep step = make_step("server");
  if (additional_data && !text::trim(*additional_data).empty()) {
    std::string_view wire = text::trim(*additional_data);
    if (std::optional<std::string> data = base64_decode(wire)) {
      decode_server(*data, wire, step);
    } else {
      add_warning(step, "sasl_bad_base64", "additional data with the outcome is not valid base64");
    }
  }
  outcome_ = {{"result", outcome.success ? "success" : "failure"},
              {"code", text::json_safe(outcome.code, 64)}};
  if (!outcome.text.empty()) outcome_["text"] = text::json_safe(outcome.text, 512);
  step.decoded["outcome"] = outcome_;
  std::string who = user_.empty() ? std::string() : " as \"" + text::json_safe(user_, 128) + "\"";
  std::string sasl_note = step.note;
  if (cancelled_) {
    step.note = outcome.success
                    ? "The server reports success although the client cancelled the exchange"
                    : "The server confirms the cancelled " + mechanism_ + " authentication";
    if (outcome.success) {
      add_warning(step, "sasl_success_after_cancel",
                  "server reported success for a cancelled SASL exchange");
    }
  } else {
    step.note = mechanism_ + " authentication" + who + (outcome.success ? " succeeded" : " failed");
  }
  if (!sasl_note.empty()) step.note += "; " + sasl_note;
  finished_ = true;
  return settled(std::move(step));
}

nlohmann::json SaslExchange::summary() const {
  nlohmann::json s = {{"mechanism", mechanism_}, {"steps", step_}, {"cancelled", cancelled_}};
  if (!user_.empty()) s["user"] = text::json_safe(user_, 256);
  if (finished_) s["outcome"] = outcome_;
  return s;
}

bool SaslExchange::decode_client(std::string_view data, bool initial, std::string_view wire,
                                 SaslStep& step) {
  sasl_detail::MechanismContext ctx{mechanism_,      options_,         user_,         last_prompt_,
                                    client_nonce_,   scram_nonce_,     client_messages_,
                                    server_messages_};
  bool secret = sasl_detail::decode_client_message(ctx, data, initial, wire, step);
  if (user_.size() > 256) user_.resize(256);
  return secret;
}

void SaslExchange::decode_server(std::string_view data, std::string_view wire, SaslStep& step) {
  sasl_detail::MechanismContext ctx{mechanism_,      options_,         user_,         last_prompt_,
                                    client_nonce_,   scram_nonce_,     client_messages_,
                                    server_messages_};
  sasl_detail::decode_server_message(ctx, data, wire, step);
}

std::string describe_mechanism(std::string_view mechanism) {
  return sasl_detail::mechanism_description(text::upper(mechanism));
}

bool mechanism_exposes_secret(std::string_view mechanism) {
  std::string m = text::upper(mechanism);
  return m == "PLAIN" || m == "LOGIN" || m == "XOAUTH2" || m == "OAUTHBEARER" ||
         m == "XOAUTH";
}

}  // namespace mailtap::decode
