// The client half of SASL, for `mailtap run`: a captured AUTH exchange cannot be replayed byte for
// byte (CRAM-MD5 and SCRAM answer a fresh server challenge, and captured secrets are redacted), so
// the runner recomputes every client message from the credentials against the new server's
// challenges. Messages here are raw bytes; the runner base64-encodes them for the wire.
//
//   PLAIN         [authzid] NUL user NUL password                          (RFC 4616)
//   LOGIN         user, then password, answering the server's prompts (draft-murchison-sasl-login)
//   CRAM-MD5      user SP hex(HMAC-MD5(password, challenge))               (RFC 2195)
//   SCRAM-SHA-1   client-first, client-final with proof from PBKDF2        (RFC 5802)
//   SCRAM-SHA-256 same with SHA-256                                        (RFC 7677)
//   XOAUTH2       user=U ^A auth=Bearer TOKEN ^A ^A                         (Google's XOAUTH2)
//   OAUTHBEARER   n,a=U, ^A auth=Bearer TOKEN ^A ^A                         (RFC 7628)
//   EXTERNAL      authzid (usually empty)                                  (RFC 4422 appendix A)
//   ANONYMOUS     trace text                                               (RFC 4505)
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace mailtap::run {

struct SaslCredentials {
  std::string user;
  std::string password;
  std::string authzid;  // authorisation identity; usually empty
  std::string token;    // XOAUTH2/OAUTHBEARER bearer token; the password when empty
  // SCRAM client nonce; empty: 24 random bytes, base64. Fixed only by tests (RFC examples).
  std::string client_nonce;
};

// One client message, or why there is none.
struct SaslReply {
  std::string message;  // raw bytes (not base64)
  std::string error;    // non-empty: the exchange cannot go on (bad challenge, server not verified)
  bool ok() const { return error.empty(); }
};

class SaslClient {
 public:
  virtual ~SaslClient() = default;
  // The mechanism, upper-case.
  virtual const std::string& mechanism() const = 0;
  // Whether the mechanism speaks first (PLAIN, SCRAM, XOAUTH2, OAUTHBEARER, EXTERNAL, ANONYMOUS);
  // such a message can go with the command as an initial response (SMTP AUTH, SASL-IR, POP3).
  virtual bool client_first() const = 0;
  // The first client message of a client-first mechanism (LOGIN: the user name, as some clients
  // send it with the command); an error for mechanisms that cannot speak first.
  virtual SaslReply initial() = 0;
  // The answer to a server challenge (decoded from base64). A client-first mechanism whose initial
  // message was not sent with the command gets an empty challenge first and answers it with
  // initial().
  virtual SaslReply respond(std::string_view challenge) = 0;
};

// Empty pointer and `error` set when the mechanism is unknown or a credential it needs is missing.
std::unique_ptr<SaslClient> make_sasl_client(std::string_view mechanism,
                                             const SaslCredentials& credentials,
                                             std::string& error);

// Lower-case hex of HMAC-MD5(key, data): the CRAM-MD5 digest.
std::string hmac_md5_hex(std::string_view key, std::string_view data);

// The APOP digest (RFC 1939 section 7): lower-case hex MD5 of the greeting's <timestamp> followed
// by the password. Empty when the greeting carries no timestamp.
std::string apop_digest(std::string_view greeting, std::string_view password);

}  // namespace mailtap::run
