#include "mailtap/tls/openssl_handles.h"

#include <openssl/err.h>

namespace mailtap::tls {

std::shared_ptr<X509> share(X509Ptr cert) {
  return {cert.release(), X509_free};
}
std::shared_ptr<EVP_PKEY> share(EvpPkeyPtr key) {
  return {key.release(), EVP_PKEY_free};
}
std::shared_ptr<SSL_CTX> share(SslCtxPtr ctx) {
  return {ctx.release(), SSL_CTX_free};
}

bool OpenSslErrors::has_reason(int lib, int reason) const {
  for (unsigned long code : codes) {
    if (ERR_GET_LIB(code) == lib && ERR_GET_REASON(code) == reason) return true;
  }
  return false;
}

OpenSslErrors drain_openssl_errors() {
  OpenSslErrors errors;
  const char* data = nullptr;
  int flags = 0;
  while (unsigned long code = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) {
    errors.codes.push_back(code);
    const char* reason = ERR_reason_error_string(code);
    std::string piece = reason ? reason : "OpenSSL error " + std::to_string(ERR_GET_REASON(code));
    if (data && *data && (flags & ERR_TXT_STRING)) piece += std::string(" (") + data + ")";
    // The same reason often appears several times as it travels up the stack.
    if (errors.text.find(piece) != std::string::npos) continue;
    if (!errors.text.empty()) errors.text += "; ";
    errors.text += piece;
  }
  return errors;
}

std::string with_openssl_errors(const std::string& what) {
  OpenSslErrors errors = drain_openssl_errors();
  if (errors.text.empty()) return what;
  return what + ": " + errors.text;
}

}  // namespace mailtap::tls
