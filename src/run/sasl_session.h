// Internal: the SASL exchange a run is in. Knows the mechanism the client named, the server's last
// challenge, and computes ${sasl}: the initial response on the AUTH line, then each answer.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "mailtap/run/sasl_client.h"

namespace mailtap::run {

class SaslSession {
 public:
  // The client named `mechanism` in AUTH/AUTHENTICATE. A client that cannot be made (unknown
  // mechanism, missing credentials) is remembered as the reason ${sasl} fails, since a script
  // may spell the exchange out by hand and never need it.
  void start(const std::string& mechanism, const SaslCredentials& credentials);
  bool active() const { return client_ != nullptr; }
  SaslClient* client() { return client_.get(); }
  const std::string& start_error() const { return error_; }

  // A challenge as the server sent it: base64 (decoded here), or text when it is not base64.
  void challenge(const std::string& wire_text);
  const std::string& last_challenge() const { return challenge_; }

  // ${sasl}: the base64 initial response when `on_auth_line`, else the answer to the last
  // challenge (`server_challenged`: the server's last response was one). `computation_failed`
  // tells a SASL failure (the server's SCRAM signature is wrong...) from a script mistake.
  std::optional<std::string> next(bool on_auth_line, bool server_challenged, std::string& error,
                                  bool& computation_failed);

 private:
  std::unique_ptr<SaslClient> client_;
  std::string error_;
  std::string challenge_;
};

}  // namespace mailtap::run
