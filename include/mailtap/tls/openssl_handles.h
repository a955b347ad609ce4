// RAII owners for the OpenSSL handles mailtap uses, and the error-queue helper that turns
// OpenSSL's thread-local error queue into a readable message.
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <vector>

namespace mailtap::tls {

template <auto FreeFn>
struct OpenSslDeleter {
  template <typename T>
  void operator()(T* p) const {
    if (p) FreeFn(p);
  }
};

using SslPtr = std::unique_ptr<SSL, OpenSslDeleter<SSL_free>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, OpenSslDeleter<SSL_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, OpenSslDeleter<X509_free>>;
using X509NamePtr = std::unique_ptr<X509_NAME, OpenSslDeleter<X509_NAME_free>>;
using X509ExtensionPtr = std::unique_ptr<X509_EXTENSION, OpenSslDeleter<X509_EXTENSION_free>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, OpenSslDeleter<BIO_free_all>>;
using BignumPtr = std::unique_ptr<BIGNUM, OpenSslDeleter<BN_free>>;
using Asn1IntegerPtr = std::unique_ptr<ASN1_INTEGER, OpenSslDeleter<ASN1_INTEGER_free>>;
using Asn1TimePtr = std::unique_ptr<ASN1_TIME, OpenSslDeleter<ASN1_TIME_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, OpenSslDeleter<GENERAL_NAMES_free>>;
using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, OpenSslDeleter<GENERAL_NAME_free>>;

// shared_ptr owners (LeafCertificate hands certificates and keys to several SSL objects).
std::shared_ptr<X509> share(X509Ptr cert);
std::shared_ptr<EVP_PKEY> share(EvpPkeyPtr key);
std::shared_ptr<SSL_CTX> share(SslCtxPtr ctx);

// The errors OpenSSL queued on this thread, oldest first, removed from the queue.
struct OpenSslErrors {
  std::vector<unsigned long> codes;
  std::string text;  // "reason (detail); reason", empty when the queue was empty
  bool has_reason(int lib, int reason) const;
};
OpenSslErrors drain_openssl_errors();

// "what: reason" with the drained queue, or just `what` when the queue was empty.
std::string with_openssl_errors(const std::string& what);

}  // namespace mailtap::tls
