#include "mailtap/run/sasl_client.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cctype>
#include <map>

#include "mailtap/decode/sasl.h"

namespace mailtap::run {
namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string hmac(const EVP_MD* md, std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(md, key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string digest(const EVP_MD* md, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, md, nullptr);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string to_hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

SaslReply reply(std::string message) {
  return {std::move(message), {}};
}
SaslReply failure(std::string why) {
  return {{}, std::move(why)};
}

class ClientBase : public SaslClient {
 public:
  ClientBase(std::string mechanism, SaslCredentials credentials)
      : mechanism_(std::move(mechanism)), creds_(std::move(credentials)) {}
  const std::string& mechanism() const override { return mechanism_; }

 protected:
  std::string mechanism_;
  SaslCredentials creds_;
};

// PLAIN, XOAUTH2, OAUTHBEARER, EXTERNAL, ANONYMOUS: one client message. A server that asks again
// (XOAUTH2/OAUTHBEARER send a JSON error as a challenge) gets an empty message, as RFC 7628 3.2.3
// requires, and then fails the exchange.
class SingleMessageClient : public ClientBase {
 public:
  SingleMessageClient(std::string mechanism, SaslCredentials credentials, std::string message)
      : ClientBase(std::move(mechanism), std::move(credentials)), message_(std::move(message)) {}
  bool client_first() const override { return true; }
  SaslReply initial() override {
    sent_ = true;
    return reply(message_);
  }
  SaslReply respond(std::string_view challenge) override {
    if (!sent_ && challenge.empty()) return initial();
    if (mechanism_ == "XOAUTH2" || mechanism_ == "OAUTHBEARER") return reply("");
    return failure(mechanism_ +
                   " has a single client message, but the server sent another "
                   "challenge");
  }

 private:
  std::string message_;
  bool sent_ = false;
};

class LoginClient : public ClientBase {
 public:
  using ClientBase::ClientBase;
  bool client_first() const override { return false; }
  // Not in the draft, but common (Outlook, some libraries): the user name as an initial
  // response, after which the server asks only for the password.
  SaslReply initial() override {
    ++answered_;
    return reply(creds_.user);
  }
  SaslReply respond(std::string_view challenge) override {
    std::string prompt = lower(challenge);
    // Servers prompt "Username:" then "Password:"; some send other words or nothing, so fall back
    // to the order of the prompts.
    bool wants_password = prompt.find("pass") != std::string::npos ||
                          (prompt.find("user") == std::string::npos && answered_ > 0);
    ++answered_;
    if (answered_ > 2 && prompt.find("pass") == std::string::npos &&
        prompt.find("user") == std::string::npos)
      return failure("LOGIN: the server asked a third time (\"" + std::string(challenge) + "\")");
    return reply(wants_password ? creds_.password : creds_.user);
  }

 private:
  int answered_ = 0;
};

class CramMd5Client : public ClientBase {
 public:
  using ClientBase::ClientBase;
  bool client_first() const override { return false; }
  SaslReply initial() override { return failure("CRAM-MD5 has no initial response"); }
  SaslReply respond(std::string_view challenge) override {
    if (challenge.empty()) return failure("CRAM-MD5: the server sent an empty challenge");
    return reply(creds_.user + " " + hmac_md5_hex(creds_.password, challenge));
  }
};

// RFC 5802 "saslname": ',' and '=' are escaped in the user name.
std::string scram_name(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == ',')
      out += "=2C";
    else if (c == '=')
      out += "=3D";
    else
      out.push_back(c);
  }
  return out;
}

std::map<char, std::string> scram_attributes(std::string_view message) {
  std::map<char, std::string> out;
  size_t pos = 0;
  while (pos <= message.size()) {
    size_t comma = message.find(',', pos);
    std::string_view part =
        message.substr(pos, comma == std::string_view::npos ? message.npos : comma - pos);
    if (part.size() >= 2 && part[1] == '=') out.emplace(part[0], std::string(part.substr(2)));
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return out;
}

class ScramClient : public ClientBase {
 public:
  ScramClient(std::string mechanism, SaslCredentials credentials, const EVP_MD* md)
      : ClientBase(std::move(mechanism), std::move(credentials)), md_(md) {
    if (creds_.client_nonce.empty()) {
      unsigned char random[24];
      RAND_bytes(random, sizeof random);
      creds_.client_nonce =
          decode::base64_encode(std::string_view(reinterpret_cast<char*>(random), sizeof random));
    }
    gs2_header_ = "n,";
    if (!creds_.authzid.empty()) gs2_header_ += "a=" + scram_name(creds_.authzid);
    gs2_header_ += ",";
    client_first_bare_ = "n=" + scram_name(creds_.user) + ",r=" + creds_.client_nonce;
  }
  bool client_first() const override { return true; }
  SaslReply initial() override {
    state_ = State::sent_first;
    return reply(gs2_header_ + client_first_bare_);
  }
  SaslReply respond(std::string_view challenge) override {
    switch (state_) {
      case State::start:
        if (challenge.empty()) return initial();
        return failure(mechanism_ + ": the server spoke first (\"" + std::string(challenge) +
                       "\")");
      case State::sent_first:
        return client_final(challenge);
      case State::sent_final:
        return check_server_final(challenge);
      case State::done:
        break;
    }
    return failure(mechanism_ + ": the server sent a challenge after its final message");
  }

 private:
  enum class State { start, sent_first, sent_final, done };

  SaslReply client_final(std::string_view server_first) {
    auto attrs = scram_attributes(server_first);
    if (attrs.count('m')) return failure(mechanism_ + ": the server requires an extension (m=)");
    if (attrs.count('e')) return failure(mechanism_ + ": the server refused: " + attrs['e']);
    auto r = attrs.find('r');
    auto s = attrs.find('s');
    auto i = attrs.find('i');
    if (r == attrs.end() || s == attrs.end() || i == attrs.end())
      return failure(mechanism_ + ": server-first-message lacks r=, s= or i=: \"" +
                     std::string(server_first) + "\"");
    if (r->second.rfind(creds_.client_nonce, 0) != 0)
      return failure(mechanism_ + ": the server nonce does not extend ours");
    auto salt = decode::base64_decode(s->second);
    if (!salt) return failure(mechanism_ + ": the salt is not base64");
    int iterations = 0;
    try {
      iterations = std::stoi(i->second);
    } catch (...) {
    }
    if (iterations < 1 || iterations > 10'000'000)
      return failure(mechanism_ + ": bad iteration count \"" + i->second + "\"");

    std::string salted(EVP_MD_get_size(md_), '\0');
    PKCS5_PBKDF2_HMAC(creds_.password.data(), static_cast<int>(creds_.password.size()),
                      reinterpret_cast<const unsigned char*>(salt->data()),
                      static_cast<int>(salt->size()), iterations, md_,
                      static_cast<int>(salted.size()),
                      reinterpret_cast<unsigned char*>(salted.data()));
    std::string client_key = hmac(md_, salted, "Client Key");
    std::string stored_key = digest(md_, client_key);
    std::string without_proof = "c=" + decode::base64_encode(gs2_header_) + ",r=" + r->second;
    std::string auth_message =
        client_first_bare_ + "," + std::string(server_first) + "," + without_proof;
    std::string signature = hmac(md_, stored_key, auth_message);
    std::string proof = client_key;
    for (size_t k = 0; k < proof.size(); ++k) proof[k] = static_cast<char>(proof[k] ^ signature[k]);
    server_signature_ = hmac(md_, hmac(md_, salted, "Server Key"), auth_message);
    state_ = State::sent_final;
    return reply(without_proof + ",p=" + decode::base64_encode(proof));
  }

  SaslReply check_server_final(std::string_view server_final) {
    state_ = State::done;
    auto attrs = scram_attributes(server_final);
    if (attrs.count('e')) return failure(mechanism_ + ": the server refused: " + attrs['e']);
    auto v = attrs.find('v');
    if (v == attrs.end()) return failure(mechanism_ + ": server-final-message lacks v=");
    auto signature = decode::base64_decode(v->second);
    if (!signature || *signature != server_signature_)
      return failure(mechanism_ +
                     ": the server's signature is wrong: it does not know the "
                     "password (or this is not the server we think)");
    return reply("");  // the empty message that acknowledges the server-final (RFC 4954 4)
  }

  const EVP_MD* md_;
  State state_ = State::start;
  std::string gs2_header_;
  std::string client_first_bare_;
  std::string server_signature_;
};

}  // namespace

std::string hmac_md5_hex(std::string_view key, std::string_view data) {
  return to_hex(hmac(EVP_md5(), key, data));
}

std::string apop_digest(std::string_view greeting, std::string_view password) {
  size_t open = greeting.find('<');
  size_t close = open == std::string_view::npos ? open : greeting.find('>', open);
  if (close == std::string_view::npos) return {};
  std::string input(greeting.substr(open, close - open + 1));
  input += password;
  return to_hex(digest(EVP_md5(), input));
}

std::unique_ptr<SaslClient> make_sasl_client(std::string_view mechanism,
                                             const SaslCredentials& credentials,
                                             std::string& error) {
  std::string mech = upper(mechanism);
  const std::string& token = credentials.token.empty() ? credentials.password : credentials.token;
  auto need = [&](bool have, const char* what) {
    if (!have) error = mech + " needs " + what;
    return have;
  };
  if (mech == "PLAIN") {
    if (!need(!credentials.user.empty(), "a user (--var user=...)")) return nullptr;
    std::string message = credentials.authzid;
    message += '\0';
    message += credentials.user;
    message += '\0';
    message += credentials.password;
    return std::make_unique<SingleMessageClient>(mech, credentials, std::move(message));
  }
  if (mech == "LOGIN") {
    if (!need(!credentials.user.empty(), "a user (--var user=...)")) return nullptr;
    return std::make_unique<LoginClient>(mech, credentials);
  }
  if (mech == "CRAM-MD5") {
    if (!need(!credentials.user.empty(), "a user (--var user=...)")) return nullptr;
    if (!need(!credentials.password.empty(), "the password (--var pass=...)")) return nullptr;
    return std::make_unique<CramMd5Client>(mech, credentials);
  }
  if (mech == "SCRAM-SHA-1" || mech == "SCRAM-SHA-256") {
    if (!need(!credentials.user.empty(), "a user (--var user=...)")) return nullptr;
    if (!need(!credentials.password.empty(), "the password (--var pass=...)")) return nullptr;
    return std::make_unique<ScramClient>(mech, credentials,
                                         mech == "SCRAM-SHA-1" ? EVP_sha1() : EVP_sha256());
  }
  if (mech == "XOAUTH2") {
    if (!need(!credentials.user.empty(), "a user (--var user=...)")) return nullptr;
    if (!need(!token.empty(), "a token (--var token=... or --var pass=...)")) return nullptr;
    std::string message = "user=" + credentials.user + "\x01" + "auth=Bearer " + token + "\x01\x01";
    return std::make_unique<SingleMessageClient>(mech, credentials, std::move(message));
  }
  if (mech == "OAUTHBEARER") {
    if (!need(!token.empty(), "a token (--var token=... or --var pass=...)")) return nullptr;
    std::string message =
        "n,a=" + scram_name(credentials.user) + ",\x01" + "auth=Bearer " + token + "\x01\x01";
    return std::make_unique<SingleMessageClient>(mech, credentials, std::move(message));
  }
  if (mech == "EXTERNAL")
    return std::make_unique<SingleMessageClient>(mech, credentials, credentials.authzid);
  if (mech == "ANONYMOUS")
    return std::make_unique<SingleMessageClient>(
        mech, credentials, credentials.user.empty() ? "mailtap" : credentials.user);
  error = "mechanism " + mech +
          " is not supported by the runner (PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1, SCRAM-SHA-256, "
          "XOAUTH2, OAUTHBEARER, EXTERNAL, ANONYMOUS)";
  return nullptr;
}

}  // namespace mailtap::run
