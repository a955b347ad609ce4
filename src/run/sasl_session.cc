#include "run/sasl_session.h"

#include "mailtap/decode/sasl.h"

namespace mailtap::run {

void SaslSession::start(const std::string& mechanism, const SaslCredentials& credentials) {
  error_.clear();
  challenge_.clear();
  client_ = make_sasl_client(mechanism, credentials, error_);
}

void SaslSession::challenge(const std::string& wire_text) {
  auto decoded = decode::base64_decode(wire_text);
  challenge_ = decoded ? *decoded : wire_text;
}

std::optional<std::string> SaslSession::next(bool on_auth_line, bool server_challenged,
                                             std::string& error, bool& computation_failed) {
  computation_failed = false;
  if (!client_) {
    error = error_.empty()
                ? "${sasl} needs an AUTH or AUTHENTICATE command before it (or on its line)"
                : error_;
    return std::nullopt;
  }
  if (on_auth_line) {
    SaslReply reply = client_->initial();
    if (!reply.ok()) {
      error = reply.error + ": put ${sasl} on the line after the server's challenge";
      return std::nullopt;
    }
    std::string b64 = decode::base64_encode(reply.message);
    return b64.empty() ? std::string("=") : b64;  // "=" is an empty initial response
  }
  if (!server_challenged) {
    error = "${sasl}: the server's last response was not a SASL challenge (334 or +)";
    return std::nullopt;
  }
  SaslReply reply = client_->respond(challenge_);
  if (!reply.ok()) {
    computation_failed = true;
    error = reply.error;
    return std::nullopt;
  }
  return decode::base64_encode(reply.message);
}

}  // namespace mailtap::run
