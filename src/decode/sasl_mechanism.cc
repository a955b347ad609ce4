// What each SASL mechanism's messages contain, and what to say about them.
// References: PLAIN RFC 4616, LOGIN draft-murchison-sasl-login, CRAM-MD5 RFC 2195, DIGEST-MD5
// RFC 2831, SCRAM RFC 5802/7677, OAUTHBEARER RFC 7628, XOAUTH2 (Google), EXTERNAL RFC 4422 app. A,
// ANONYMOUS RFC 4505, GSSAPI RFC 4752, NTLM [MS-NLMP].
#include "sasl_mechanism.h"

#include <algorithm>

#include "mailtap/decode/redaction.h"
#include "sasl_fields.h"
#include "sasl_text.h"

namespace mailtap::decode::sasl_detail {
namespace {

enum class Family {
  plain,
  login,
  cram_md5,
  digest_md5,
  scram,
  xoauth2,
  oauthbearer,
  external,
  anonymous,
  gssapi,
  ntlm,
  other
};

Family family_of(const std::string& m) {
  if (m == "PLAIN") return Family::plain;
  if (m == "LOGIN") return Family::login;
  if (m == "CRAM-MD5") return Family::cram_md5;
  if (m == "DIGEST-MD5") return Family::digest_md5;
  if (m.rfind("SCRAM-", 0) == 0) return Family::scram;
  if (m == "XOAUTH2") return Family::xoauth2;
  if (m == "OAUTHBEARER") return Family::oauthbearer;
  if (m == "EXTERNAL") return Family::external;
  if (m == "ANONYMOUS") return Family::anonymous;
  if (m == "GSSAPI" || m == "GS2-KRB5" || m == "GSS-SPNEGO") return Family::gssapi;
  if (m == "NTLM") return Family::ntlm;
  return Family::other;
}

nlohmann::json& fields(SaslStep& step) { return step.decoded["fields"]; }

// Warning texts may quote wire bytes: made valid UTF-8 here, whatever the caller built them from.
void warn(SaslStep& step, std::string code, const std::string& message) {
  step.warnings.push_back(
      {{"code", std::move(code)}, {"message", text::json_safe(message, text::kMaxMessageBytes)}});
}

std::string in_quotes(std::string_view s, size_t max = 200) {
  return "\"" + text::json_safe(s, max) + "\"";
}

// "VXNlcm5hbWU6 is base64 for \"Username:\"" when both are short and readable, else "".
std::string base64_gloss(std::string_view wire, std::string_view data) {
  if (wire.empty() || wire.size() > 80 || data.size() > 120 || !text::is_printable(data)) return {};
  return std::string(wire) + " is base64 for " + in_quotes(data);
}

std::string compose(const std::string& gloss, std::string explanation) {
  if (gloss.empty()) {
    if (!explanation.empty() && explanation[0] >= 'a' && explanation[0] <= 'z') {
      explanation[0] = static_cast<char>(explanation[0] - 'a' + 'A');
    }
    return explanation;
  }
  return gloss + ": " + explanation;
}

std::string clip_user(std::string_view user) { return std::string(user.substr(0, 256)); }

bool is_lower_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

nlohmann::json gs2_json(const Gs2Header& h) {
  nlohmann::json j = {{"cbind_flag", h.cbind_flag}};
  if (!h.cbind_name.empty()) j["cbind_name"] = text::json_safe(h.cbind_name, 64);
  if (!h.authzid.empty()) j["authzid"] = text::json_safe(h.authzid);
  return j;
}

std::string channel_binding_words(const Gs2Header& h) {
  if (h.cbind_flag == "p")
    return "channel binding to the TLS connection (" + text::json_safe(h.cbind_name, 64) + ")";
  if (h.cbind_flag == "y")
    return "the client supports channel binding but thinks the server does not";
  return "no channel binding (the client does not support it)";
}

// ---- PLAIN, LOGIN, CRAM-MD5, DIGEST-MD5 ----

bool plain_client(MechanismContext& ctx, std::string_view data, SaslStep& step) {
  std::vector<std::string_view> parts = split(data, '\0');
  if (parts.size() != 3) {
    fields(step)["parts"] = parts.size();
    fields(step)["size"] = data.size();
    warn(step, "sasl_malformed",
         "PLAIN message has " + std::to_string(parts.size()) +
             " NUL-separated parts; expected 3 (authzid, authcid, password)");
    step.note = "Malformed PLAIN message (" + std::to_string(parts.size()) +
                " parts instead of authzid, user, password); treated as a secret";
    return !data.empty();
  }
  std::string_view authzid = parts[0], authcid = parts[1], password = parts[2];
  fields(step)["authzid"] = text::json_safe(authzid);
  fields(step)["authcid"] = text::json_safe(authcid);
  fields(step)["password"] = show_secret(password, ctx.options);
  ctx.user = clip_user(authcid);
  std::string note = "PLAIN credentials: user " + in_quotes(authcid);
  if (!authzid.empty()) note += " acting for " + in_quotes(authzid);
  note += ", password " + show_secret(password, ctx.options) +
          " (base64 of authzid NUL user NUL password: anyone who sees it has the password)";
  step.note = note;
  return true;
}

bool login_client(MechanismContext& ctx, std::string_view data, bool initial,
                  std::string_view wire, SaslStep& step) {
  std::string what;
  if (initial) {
    what = "username";
  } else if (!ctx.last_prompt.empty()) {
    what = ctx.last_prompt;
  } else {
    what = ctx.client_messages <= 1 ? "username" : "password";
  }
  ctx.last_prompt.clear();
  if (what == "username") {
    fields(step)["username"] = text::json_safe(data);
    ctx.user = clip_user(data);
    step.note = compose(base64_gloss(wire, data), "the user name");
    return false;
  }
  fields(step)["password"] = show_secret(data, ctx.options);
  if (ctx.options.reveal_secrets) {
    step.note = compose(base64_gloss(wire, data), "the password");
  } else {
    step.note = "The password, base64-encoded: " + show_secret(data, ctx.options);
  }
  return true;
}

void login_server(MechanismContext& ctx, std::string_view data, std::string_view wire,
                  SaslStep& step) {
  fields(step)["prompt"] = text::json_safe(data);
  std::string l = lower(data);
  std::string explanation;
  if (l.find("pass") != std::string::npos) {
    ctx.last_prompt = "password";
    explanation = "the server asks for the password";
  } else if (l.find("user") != std::string::npos || l.find("name") != std::string::npos) {
    ctx.last_prompt = "username";
    explanation = "the server asks for the user name";
  } else {
    ctx.last_prompt.clear();
    explanation = "a LOGIN prompt mailtap does not recognise";
  }
  step.note = compose(base64_gloss(wire, data), explanation);
}

bool cram_md5_client(MechanismContext& ctx, std::string_view data, SaslStep& step) {
  size_t space = data.rfind(' ');
  if (space == std::string_view::npos) {
    fields(step)["size"] = data.size();
    warn(step, "sasl_malformed", "CRAM-MD5 response should be \"user digest\"");
    step.note = "Malformed CRAM-MD5 response (no space between user and digest)";
    return !data.empty();
  }
  std::string_view user = data.substr(0, space), digest = data.substr(space + 1);
  fields(step)["username"] = text::json_safe(user);
  fields(step)["digest"] = show_secret(digest, ctx.options);
  ctx.user = clip_user(user);
  if (digest.size() != 32 || !is_lower_hex(digest)) {
    warn(step, "sasl_malformed", "CRAM-MD5 digest should be 32 lower-case hex digits");
  }
  step.note = "CRAM-MD5 response: user " + in_quotes(user) + " and the HMAC-MD5 of the challenge " +
              "keyed with the password (" + show_secret(digest, ctx.options) +
              "); the password itself is not sent";
  return true;
}

void cram_md5_server(std::string_view data, std::string_view wire, SaslStep& step) {
  fields(step)["challenge"] = text::json_safe(data);
  step.note = compose(base64_gloss(wire, data),
                      "the challenge; the client answers with its user name and the HMAC-MD5 of "
                      "this text keyed with its password");
}

bool digest_md5_client(MechanismContext& ctx, std::string_view data, SaslStep& step) {
  if (data.empty()) {
    step.note = "Empty response: the client has checked the server's rspauth and ends the exchange";
    return false;
  }
  std::optional<Pairs> directives = parse_digest_directives(data);
  if (!directives) {
    fields(step)["size"] = data.size();
    warn(step, "sasl_malformed", "DIGEST-MD5 response is not a list of name=value directives");
    step.note = "Malformed DIGEST-MD5 response; treated as a secret";
    return true;
  }
  std::string user, realm, uri, response;
  for (const auto& [key, value] : *directives) {
    std::string k = lower(key);
    if (k == "response") {
      response = value;
      fields(step)["response"] = show_secret(value, ctx.options);
      continue;
    }
    fields(step)[text::json_safe(k, 64)] = text::json_safe(value);
    if (k == "username") user = value;
    if (k == "realm") realm = value;
    if (k == "digest-uri") uri = value;
  }
  if (!user.empty()) ctx.user = clip_user(user);
  std::string note = "DIGEST-MD5 response for user " + in_quotes(user);
  if (!realm.empty()) note += " in realm " + in_quotes(realm);
  if (!uri.empty()) note += " for " + in_quotes(uri);
  note += "; \"response\" is derived from the password (" + show_secret(response, ctx.options) + ")";
  step.note = note;
  return true;
}

void digest_md5_server(std::string_view data, SaslStep& step) {
  std::optional<Pairs> directives = parse_digest_directives(data);
  if (!directives) {
    fields(step)["text"] = text::json_safe(data);
    warn(step, "sasl_malformed", "DIGEST-MD5 challenge is not a list of name=value directives");
    step.note = "Malformed DIGEST-MD5 challenge";
    return;
  }
  std::string realm, nonce, qop, rspauth;
  for (const auto& [key, value] : *directives) {
    std::string k = lower(key);
    fields(step)[text::json_safe(k, 64)] = text::json_safe(value);
    if (k == "realm") realm = value;
    if (k == "nonce") nonce = value;
    if (k == "qop") qop = value;
    if (k == "rspauth") rspauth = value;
  }
  if (!rspauth.empty()) {
    step.note = "DIGEST-MD5 rspauth: the server proves it knows the password too; the client "
                "answers with an empty response";
    return;
  }
  std::string note = "DIGEST-MD5 challenge";
  if (!realm.empty()) note += ": realm " + in_quotes(realm);
  note += (realm.empty() ? ": nonce " : ", nonce ") + in_quotes(nonce, 80);
  if (!qop.empty()) note += ", quality of protection " + in_quotes(qop);
  step.note = note;
}

// ---- SCRAM ----

bool scram_client_first(MechanismContext& ctx, std::string_view data, SaslStep& step) {
  std::optional<Gs2Header> gs2 = parse_gs2_header(data);
  if (!gs2) {
    fields(step)["size"] = data.size();
    warn(step, "sasl_malformed",
         "SCRAM client-first must start with a GS2 header (\"n,,\", \"y,,\" or \"p=...,,\")");
    step.note = "Malformed SCRAM client-first message (no GS2 header)";
    return false;
  }
  fields(step)["message"] = "client-first";
  fields(step)["gs2_header"] = gs2_json(*gs2);
  std::optional<Pairs> attrs = parse_scram_attributes(data.substr(gs2->length));
  if (!attrs) warn(step, "sasl_malformed", "SCRAM client-first attributes are malformed");
  std::string user, nonce;
  for (const auto& [key, value] : attrs.value_or(Pairs{})) {
    if (key == "n") {
      user = scram_unescape(value);
      fields(step)["username"] = text::json_safe(user);
    } else if (key == "r") {
      nonce = value;
      fields(step)["nonce"] = text::json_safe(value);
    } else {
      fields(step)["extension_" + text::json_safe(key, 8)] = text::json_safe(value);
    }
  }
  ctx.user = clip_user(user);
  ctx.client_nonce = clip_user(nonce);
  bool plus = ctx.mechanism.size() > 5 &&
              ctx.mechanism.compare(ctx.mechanism.size() - 5, 5, "-PLUS") == 0;
  if (plus && gs2->cbind_flag != "p") {
    warn(step, "sasl_channel_binding",
         ctx.mechanism + " chosen but the client does not bind to the TLS channel");
  } else if (!plus && gs2->cbind_flag == "p") {
    warn(step, "sasl_channel_binding",
         "client asks for channel binding with a mechanism that is not -PLUS");
  }
  step.note = "SCRAM client-first: user " + in_quotes(user) + ", client nonce " + in_quotes(nonce, 80) +
              "; " + channel_binding_words(*gs2);
  return false;
}

bool scram_client_final(MechanismContext& ctx, std::string_view data, SaslStep& step) {
  fields(step)["message"] = "client-final";
  std::optional<Pairs> attrs = parse_scram_attributes(data);
  if (!attrs) warn(step, "sasl_malformed", "SCRAM client-final attributes are malformed");
  std::string cbind_gloss, proof;
  for (const auto& [key, value] : attrs.value_or(Pairs{})) {
    if (key == "c") {
      nlohmann::json cb = {{"base64", text::json_safe(value, 128)}};
      if (std::optional<std::string> raw = base64_decode(value)) {
        if (std::optional<Gs2Header> h = parse_gs2_header(*raw)) {
          cb["gs2_header"] = text::json_safe(raw->substr(0, h->length));
          cb["cbind_data_bytes"] = raw->size() - h->length;
          cbind_gloss = "channel binding " + in_quotes(value, 40) + " (base64 of " +
                        in_quotes(raw->substr(0, h->length)) +
                        (raw->size() > h->length
                             ? " + " + std::to_string(raw->size() - h->length) + " bytes of TLS data)"
                             : ")");
        }
      }
      fields(step)["channel_binding"] = cb;
    } else if (key == "r") {
      fields(step)["nonce"] = text::json_safe(value);
      if (!ctx.scram_nonce.empty() && value != ctx.scram_nonce) {
        warn(step, "scram_nonce_mismatch", "client-final nonce differs from the server-first nonce");
      }
    } else if (key == "p") {
      proof = value;
      fields(step)["proof"] = show_secret(value, ctx.options);
    } else {
      fields(step)["extension_" + text::json_safe(key, 8)] = text::json_safe(value);
    }
  }
  step.note = "SCRAM client-final: " + (cbind_gloss.empty() ? "channel binding" : cbind_gloss) +
              ", the combined nonce and the client proof " + show_secret(proof, ctx.options) +
              " (derived from the salted password, not the password itself)";
  return true;
}

void scram_server(MechanismContext& ctx, std::string_view data, SaslStep& step) {
  std::optional<Pairs> attrs = parse_scram_attributes(data);
  if (!attrs || attrs->empty()) {
    fields(step)["text"] = text::json_safe(data);
    warn(step, "sasl_malformed", "SCRAM server message attributes are malformed");
    step.note = "Malformed SCRAM server message";
    return;
  }
  const std::string& first = attrs->front().first;
  if (first == "v" || first == "e") {
    fields(step)["message"] = "server-final";
    for (const auto& [key, value] : *attrs) {
      if (key == "v") {
        fields(step)["verifier"] = text::json_safe(value);
        step.note = "SCRAM server-final: the server signature " + in_quotes(value, 80) +
                    ", which proves the server knows the salted password too";
      } else if (key == "e") {
        fields(step)["error"] = text::json_safe(value);
        step.note = "SCRAM server-final error " + in_quotes(value) +
                    ": the server refuses the authentication";
      } else {
        fields(step)["extension_" + text::json_safe(key, 8)] = text::json_safe(value);
      }
    }
    return;
  }
  fields(step)["message"] = "server-first";
  std::string nonce, salt, iterations;
  for (const auto& [key, value] : *attrs) {
    if (key == "r") {
      nonce = value;
      fields(step)["nonce"] = text::json_safe(value);
    } else if (key == "s") {
      salt = value;
      fields(step)["salt"] = text::json_safe(value);
      if (std::optional<std::string> raw = base64_decode(value)) {
        fields(step)["salt_bytes"] = raw->size();
      }
    } else if (key == "i") {
      iterations = value;
      bool numeric = !value.empty() && value.size() < 10 &&
                     std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (numeric) {
        long count = std::stol(value);
        fields(step)["iterations"] = count;
        if (count < 4096) {
          warn(step, "scram_low_iterations",
               "SCRAM iteration count " + value + " is below the 4096 RFC 7677 recommends");
        }
      } else {
        fields(step)["iterations"] = text::json_safe(value, 32);
        warn(step, "sasl_malformed", "SCRAM iteration count is not a number");
      }
    } else {
      fields(step)["extension_" + text::json_safe(key, 8)] = text::json_safe(value);
    }
  }
  if (!ctx.client_nonce.empty()) {
    bool extends = nonce.size() > ctx.client_nonce.size() && nonce.rfind(ctx.client_nonce, 0) == 0;
    fields(step)["nonce_extends_client_nonce"] = extends;
    if (!extends) {
      warn(step, "scram_nonce_mismatch", "server nonce does not extend the client's nonce");
    }
  }
  ctx.scram_nonce = clip_user(nonce);
  step.note = "SCRAM server-first: the combined nonce (client's + server's), salt " +
              in_quotes(salt, 80) + " and " + text::json_safe(iterations, 16) +
              " PBKDF2 iterations";
}

bool scram_client(MechanismContext& ctx, std::string_view data, SaslStep& step) {
  if (data.empty()) {
    step.note = "Empty response: the client has checked the server's signature and ends the exchange";
    return false;
  }
  if (data.substr(0, 2) == "c=") return scram_client_final(ctx, data, step);
  return scram_client_first(ctx, data, step);
}

// ---- OAuth: XOAUTH2 and OAUTHBEARER ----

// Adds user/host/port/auth fields from ^A-separated pairs; returns the token.
std::string oauth_pairs(MechanismContext& ctx, std::string_view text_part, SaslStep& step,
                        std::string& host, std::string& port) {
  std::string token;
  for (const auto& [key, value] : parse_kvsep_pairs(text_part)) {
    if (key == "auth") {
      size_t space = value.find(' ');
      std::string scheme = space == std::string::npos ? value : value.substr(0, space);
      token = space == std::string::npos ? std::string() : value.substr(space + 1);
      fields(step)["auth_scheme"] = text::json_safe(scheme, 32);
      fields(step)["token"] = show_secret(token, ctx.options);
    } else if (key == "user") {
      ctx.user = clip_user(value);
      fields(step)["user"] = text::json_safe(value);
    } else if (key.empty()) {
      fields(step)["unparsed"] = text::json_safe(value, 64);
    } else {
      if (key == "host") host = value;
      if (key == "port") port = value;
      fields(step)[text::json_safe(key, 32)] = text::json_safe(value);
    }
  }
  return token;
}

bool xoauth2_client(MechanismContext& ctx, std::string_view data, SaslStep& step) {
  if (data.empty()) {
    step.note = "Empty response: the client acknowledges the server's error so that the server can "
                "send its failure reply";
    return false;
  }
  std::string host, port;
  std::string token = oauth_pairs(ctx, data, step, host, port);
  if (!fields(step).contains("token")) {
    warn(step, "sasl_malformed", "XOAUTH2 message has no auth=Bearer token");
  }
  step.note = "XOAUTH2: user " + in_quotes(ctx.user) + " with an OAuth 2.0 bearer token " +
              show_secret(token, ctx.options) +
              " (anyone who sees the token can use it until it expires)";
  return true;
}

bool oauthbearer_client(MechanismContext& ctx, std::string_view data, SaslStep& step) {
  if (data.empty() || data == "\x01") {
    step.note = "The client acknowledges the server's error (a lone ^A) so that the server can send "
                "its failure reply";
    return false;
  }
  std::string_view rest = data;
  if (std::optional<Gs2Header> gs2 = parse_gs2_header(data)) {
    fields(step)["gs2_header"] = gs2_json(*gs2);
    if (!gs2->authzid.empty()) ctx.user = clip_user(gs2->authzid);
    rest.remove_prefix(gs2->length);
  } else {
    warn(step, "sasl_malformed", "OAUTHBEARER message must start with a GS2 header (\"n,a=user,\")");
  }
  std::string host, port;
  std::string token = oauth_pairs(ctx, rest, step, host, port);
  if (!fields(step).contains("token")) {
    warn(step, "sasl_malformed", "OAUTHBEARER message has no auth=Bearer token");
  }
  std::string note = "OAUTHBEARER: user " + in_quotes(ctx.user);
  if (!host.empty()) note += ", host " + in_quotes(host) + (port.empty() ? "" : " port " + port);
  note += ", bearer token " + show_secret(token, ctx.options) +
          " (anyone who sees the token can use it until it expires)";
  step.note = note;
  return true;
}

void oauth_server(MechanismContext& ctx, std::string_view data, SaslStep& step) {
  std::optional<nlohmann::json> error = parse_small_json(data);
  if (!error || !error->is_object()) {
    fields(step)["text"] = text::json_safe(data);
    step.note = "Server message " + in_quotes(data, 120);
    return;
  }
  fields(step)["error"] = *error;
  std::string status = error->contains("status") && (*error)["status"].is_string()
                           ? (*error)["status"].get<std::string>()
                           : std::string();
  std::string meaning;
  if (status == "401" || status == "invalid_token") {
    meaning = " (the token is invalid or expired)";
  } else if (status == "400" || status == "invalid_request") {
    meaning = " (the request is malformed)";
  } else if (status == "403" || status == "insufficient_scope") {
    meaning = " (the token lacks the scope the server needs)";
  }
  std::string reply = ctx.mechanism == "OAUTHBEARER" ? "a lone ^A (\"AQ==\")" : "an empty line";
  step.note = "The server rejects the token: " + text::json_safe(error->dump(), 200) + meaning +
              "; the client answers with " + reply + " to get the failure reply";
}

// ---- NTLM and the opaque ones ----

bool ntlm_client(MechanismContext& ctx, std::string_view data, SaslStep& step) {
  fields(step)["size"] = data.size();
  std::optional<NtlmMessage> m = parse_ntlm(data);
  if (!m) {
    step.note = "NTLM message, " + std::to_string(data.size()) + " bytes (not an NTLMSSP message)";
    return !data.empty();
  }
  fields(step)["ntlm_type"] = m->type;
  if (m->type == 1) {
    step.note = "NTLM negotiate message (type 1), " + std::to_string(data.size()) + " bytes";
    return false;
  }
  if (m->type == 3) {
    fields(step)["domain"] = text::json_safe(m->domain);
    fields(step)["user"] = text::json_safe(m->user);
    fields(step)["workstation"] = text::json_safe(m->workstation);
    ctx.user = clip_user(m->domain.empty() ? m->user : m->domain + "\\" + m->user);
    step.note = "NTLM authenticate message (type 3): user " + in_quotes(ctx.user) + " on workstation " +
                in_quotes(m->workstation) +
                "; its responses are derived from the password hash, so it is redacted";
    return true;
  }
  step.note = "NTLM message of type " + std::to_string(m->type) + ", " +
              std::to_string(data.size()) + " bytes";
  return true;
}

void ntlm_server(std::string_view data, SaslStep& step) {
  fields(step)["size"] = data.size();
  std::optional<NtlmMessage> m = parse_ntlm(data);
  if (m && m->type == 2) {
    fields(step)["ntlm_type"] = 2;
    fields(step)["target_name"] = text::json_safe(m->target_name);
    step.note = "NTLM challenge (type 2) from " + in_quotes(m->target_name) + ", " +
                std::to_string(data.size()) + " bytes";
  } else {
    step.note = "NTLM server message, " + std::to_string(data.size()) + " bytes (opaque)";
  }
}

}  // namespace

bool decode_client_message(MechanismContext& ctx, std::string_view data, bool initial,
                           std::string_view wire, SaslStep& step) {
  switch (family_of(ctx.mechanism)) {
    case Family::plain:
      if (data.empty()) {
        warn(step, "sasl_malformed", "empty PLAIN message: no credentials");
        step.note = "Empty PLAIN message: no credentials";
        return false;
      }
      return plain_client(ctx, data, step);
    case Family::login:
      return login_client(ctx, data, initial, wire, step);
    case Family::cram_md5:
      return cram_md5_client(ctx, data, step);
    case Family::digest_md5:
      return digest_md5_client(ctx, data, step);
    case Family::scram:
      return scram_client(ctx, data, step);
    case Family::xoauth2:
      return xoauth2_client(ctx, data, step);
    case Family::oauthbearer:
      return oauthbearer_client(ctx, data, step);
    case Family::external:
      fields(step)["authzid"] = text::json_safe(data);
      if (!data.empty()) ctx.user = clip_user(data);
      step.note = data.empty()
                      ? "EXTERNAL with no authorization identity: the server uses the identity "
                        "established outside SASL (usually the TLS client certificate)"
                      : "EXTERNAL: the client asks to act as " + in_quotes(data) +
                            ", using the identity established outside SASL (usually the TLS "
                            "client certificate)";
      return false;
    case Family::anonymous:
      fields(step)["trace"] = text::json_safe(data);
      step.note = "ANONYMOUS: no credentials; trace information " + in_quotes(data);
      return false;
    case Family::gssapi:
      fields(step)["size"] = data.size();
      step.note = ctx.mechanism + " token, " + std::to_string(data.size()) +
                  " bytes (opaque; it can hold a Kerberos ticket, so it is redacted)";
      return !data.empty();
    case Family::ntlm:
      return ntlm_client(ctx, data, step);
    case Family::other:
      break;
  }
  fields(step)["size"] = data.size();
  step.note = std::to_string(data.size()) + " bytes for " + ctx.mechanism +
              ", a mechanism mailtap does not decode (redacted in case it holds a secret)";
  return !data.empty();
}

void decode_server_message(MechanismContext& ctx, std::string_view data, std::string_view wire,
                           SaslStep& step) {
  Family family = family_of(ctx.mechanism);
  if (data.empty()) {
    step.note = "Empty challenge: the server waits for the client's " + ctx.mechanism + " message";
    if (family == Family::login) warn(step, "sasl_malformed", "LOGIN prompt is empty");
    return;
  }
  switch (family) {
    case Family::login:
      return login_server(ctx, data, wire, step);
    case Family::cram_md5:
      return cram_md5_server(data, wire, step);
    case Family::digest_md5:
      return digest_md5_server(data, step);
    case Family::scram:
      return scram_server(ctx, data, step);
    case Family::xoauth2:
    case Family::oauthbearer:
      return oauth_server(ctx, data, step);
    case Family::gssapi:
      fields(step)["size"] = data.size();
      step.note = ctx.mechanism + " token from the server, " + std::to_string(data.size()) +
                  " bytes (opaque)";
      return;
    case Family::ntlm:
      return ntlm_server(data, step);
    case Family::plain:
    case Family::external:
    case Family::anonymous:
      warn(step, "sasl_unexpected_challenge",
           ctx.mechanism + " expects an empty challenge, the server sent data");
      break;
    case Family::other:
      break;
  }
  if (text::is_printable(data)) {
    fields(step)["text"] = text::json_safe(data);
    step.note = compose(base64_gloss(wire, data), "a " + ctx.mechanism + " challenge");
  } else {
    fields(step)["size"] = data.size();
    step.note = "A " + ctx.mechanism + " challenge, " + std::to_string(data.size()) + " bytes";
  }
}

std::string mechanism_description(const std::string& m) {
  switch (family_of(m)) {
    case Family::plain:
      return "PLAIN (RFC 4616): user name and password in one base64 message; anyone who sees it "
             "has the password, so it is only safe over TLS";
    case Family::login:
      return "LOGIN: the server prompts for the user name and the password, each sent in base64; "
             "anyone who sees them has the password, so it is only safe over TLS";
    case Family::cram_md5:
      return "CRAM-MD5 (RFC 2195): challenge-response with HMAC-MD5; the password is not sent, "
             "but the server must keep it in a recoverable form";
    case Family::digest_md5:
      return "DIGEST-MD5 (RFC 2831, obsoleted by RFC 6331): challenge-response; the password is "
             "not sent";
    case Family::scram:
      return m + " (RFC 5802/7677): salted challenge-response with mutual authentication; the "
                 "password is never sent" +
             (m.size() > 5 && m.compare(m.size() - 5, 5, "-PLUS") == 0
                  ? ", and the exchange is bound to the TLS channel"
                  : "");
    case Family::xoauth2:
      return "XOAUTH2: an OAuth 2.0 bearer token; anyone who sees the token can use it until it "
             "expires";
    case Family::oauthbearer:
      return "OAUTHBEARER (RFC 7628): an OAuth 2.0 bearer token; anyone who sees the token can use "
             "it until it expires";
    case Family::external:
      return "EXTERNAL (RFC 4422): the identity established outside SASL, usually a TLS client "
             "certificate";
    case Family::anonymous:
      return "ANONYMOUS (RFC 4505): no credentials, optional trace information";
    case Family::gssapi:
      return m + ": Kerberos via GSS-API (RFC 4752); opaque binary tokens";
    case Family::ntlm:
      return "NTLM: Microsoft challenge-response; opaque binary messages";
    case Family::other:
      break;
  }
  return m + ": a SASL mechanism mailtap does not decode";
}

}  // namespace mailtap::decode::sasl_detail
