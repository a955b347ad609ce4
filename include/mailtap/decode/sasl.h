// SASL exchanges as carried by SMTP AUTH (RFC 4954), IMAP AUTHENTICATE (RFC 3501/9051, SASL-IR
// RFC 4959) and POP3 AUTH (RFC 5034). The protocol decoder finds the base64 text on the wire and
// feeds it here, one message at a time; the exchange decodes each message for its mechanism,
// explains it in plain language and says which part is a secret.
//
// Usage, e.g. SMTP:
//   C: AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm   -> SaslExchange ex("PLAIN", opts);
//                                                     ex.client_response("AHRpbQB0YW5z...", true)
//   S: 235 2.7.0 Authentication successful       -> ex.finish({true, "235", "2.7.0 Authentication..."})
//   C: AUTH LOGIN                                 -> SaslExchange ex("LOGIN", opts)
//   S: 334 VXNlcm5hbWU6                           -> ex.server_challenge("VXNlcm5hbWU6")
//   C: aGVsbG8=                                   -> ex.client_response("aGVsbG8=")
//   ...
// Wire conventions handled here: "*" from the client cancels (RFC 4954 4, RFC 3501 6.2.2); "=" as an
// initial response means an empty one (RFC 4954, RFC 4959); an empty line is an empty message.
// Never throws; bad base64 or a malformed message is reported as a warning in the step.
// Memory is bounded: only a few short fields (user name, nonces) are kept between steps.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "mailtap/decode/session_decoder.h"

namespace mailtap::decode {

// What the exchange says about one message.
struct SaslStep {
  // {"mechanism": "PLAIN", "step": 1, "role": "client"|"server",
  //  "fields": {...mechanism-specific, secrets redacted unless reveal_secrets...},
  //  optional "cancelled": true, optional "outcome": {"result": "success"|"failure", "code", "text"}}
  nlohmann::json decoded;
  // Plain language, e.g. "VXNlcm5hbWU6 is base64 for \"Username:\": the server asks for the user
  // name (AUTH LOGIN)". For a server message the protocol decoder may prefix its code ("334 ").
  std::string note;
  // Array of {"code", "message"}; empty array when all is well.
  nlohmann::json warnings = nlohmann::json::array();
  // Non-empty when the wire text carries a secret and secrets are not revealed: write this in place
  // of the base64 text in the event's raw line (and set "redacted": true on the event).
  std::string wire_replacement;
  // True when the message holds a secret (password, token, proof, digest), whether or not it is
  // revealed: e.g. for a "credentials sent before TLS" warning.
  bool carries_secret = false;

  bool redacted() const { return !wire_replacement.empty(); }
};

// How the protocol ended the exchange: SMTP 235/535/454..., IMAP OK/NO/BAD, POP3 +OK/-ERR.
struct SaslOutcome {
  bool success = false;
  std::string code;  // e.g. "235", "535", "OK", "NO", "-ERR"
  std::string text;  // the rest of the reply line (enhanced code, response code, human text)
};

class SaslExchange {
 public:
  // `mechanism` as named by the client (case-insensitive; stored upper-case).
  SaslExchange(std::string_view mechanism, const DecodeOptions& options);

  // A client message: `wire` is the base64 text as sent (no CRLF), "*" to cancel, "=" or "" for an
  // empty message. `initial` marks an initial response sent with the command itself
  // (SMTP "AUTH PLAIN <ir>", IMAP SASL-IR, POP3 "AUTH PLAIN <ir>").
  SaslStep client_response(std::string_view wire, bool initial = false);
  // A server challenge: `wire` is the base64 text after "334 " (SMTP) or "+ " (IMAP/POP3).
  SaslStep server_challenge(std::string_view wire);
  // The end of the exchange. `additional_data`, when the protocol carries SASL data with the
  // success reply (e.g. a SCRAM server-final in IMAP "OK [SASL ...]"), is base64 as on the wire.
  SaslStep finish(const SaslOutcome& outcome, std::optional<std::string_view> additional_data = {});

  const std::string& mechanism() const { return mechanism_; }
  // The user the client authenticates as, once a message has named it (PLAIN authcid, LOGIN user,
  // CRAM-MD5 user, SCRAM n=, XOAUTH2 user=, OAUTHBEARER a=, EXTERNAL/authzid). Not a secret.
  const std::string& user() const { return user_; }
  bool cancelled() const { return cancelled_; }
  bool finished() const { return finished_; }
  int steps() const { return step_; }
  // {"mechanism", "user" (if known), "steps", "cancelled", "outcome" (if finished)}.
  nlohmann::json summary() const;

 private:
  SaslStep make_step(const char* role);
  // Decode one message of the mechanism into step.fields/note; true when the client message
  // carries a secret (so its wire text must be redacted).
  bool decode_client(std::string_view data, bool initial, std::string_view wire, SaslStep& step);
  void decode_server(std::string_view data, std::string_view wire, SaslStep& step);
  std::string secret(std::string_view value) const;

  DecodeOptions options_;
  std::string mechanism_;
  std::string user_;
  int step_ = 0;
  int client_messages_ = 0;
  int server_messages_ = 0;
  bool cancelled_ = false;
  bool finished_ = false;
  nlohmann::json outcome_;
  std::string last_prompt_;   // LOGIN: what the server last asked for ("username"/"password")
  std::string client_nonce_;  // SCRAM: r= of client-first, to check the server's nonce extends it
  std::string scram_nonce_;   // SCRAM: r= of server-first, to check client-final repeats it
};

// One line of plain language about a mechanism, e.g. "PLAIN: user name and password in one base64
// message (readable by anyone who sees it: use TLS)". Unknown mechanisms get a generic line.
std::string describe_mechanism(std::string_view mechanism);

// Whether the mechanism puts a reusable secret (password or bearer token) on the wire in a form
// anyone who sees it can use: PLAIN, LOGIN, XOAUTH2, OAUTHBEARER. Used for the "credentials
// before TLS" warning.
bool mechanism_exposes_secret(std::string_view mechanism);

// Base64 (RFC 4648, standard alphabet, padding optional on input, whitespace not allowed).
// Empty optional on any invalid character or impossible length.
std::optional<std::string> base64_decode(std::string_view text);
std::string base64_encode(std::string_view bytes);

}  // namespace mailtap::decode
