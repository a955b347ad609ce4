// The local CA: files and modes on disk, refusal of loose key permissions, leaf names and
// validity mirroring the real certificate, and the leaf cache.
#include "mailtap/tls/cert_authority.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <ctime>
#include <fstream>
#include <sstream>

#include "mailtap/tls/x509_inspect.h"
#include "tls/tls_test_support.h"

namespace mailtap::tls {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::TempDir;
using testing::TestCa;

mode_t mode_of(const std::filesystem::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::int64_t now() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

TEST(CertAuthorityFiles, InitCreatesPrivateKeyAndPublicCertificate) {
  TempDir tmp;
  const auto home = tmp.path() / "nested" / "mailtap";
  ASSERT_EQ(CertAuthority::init(home, false), "");
  EXPECT_EQ(mode_of(home), 0700u);
  EXPECT_EQ(mode_of(home / "ca.key"), 0600u);
  EXPECT_EQ(mode_of(home / "ca.pem"), 0644u);
  EXPECT_THAT(read_file(home / "ca.key"), HasSubstr("-----BEGIN PRIVATE KEY-----"));
  EXPECT_THAT(read_file(home / "ca.pem"), HasSubstr("-----BEGIN CERTIFICATE-----"));
  EXPECT_FALSE(std::filesystem::exists(home / "ca.key.new"));
}

TEST(CertAuthorityFiles, KeyIsNeverWorldReadableEvenWithAPermissiveUmask) {
  TempDir tmp;
  mode_t old = ::umask(0);
  std::string error = CertAuthority::init(tmp.path() / "ca", false);
  ::umask(old);
  ASSERT_EQ(error, "");
  EXPECT_EQ(mode_of(tmp.path() / "ca" / "ca.key"), 0600u);
}

TEST(CertAuthorityFiles, InitRefusesToOverwriteUnlessForced) {
  TempDir tmp;
  ASSERT_EQ(CertAuthority::init(tmp.path(), false), "");
  const std::string first = read_file(tmp.path() / "ca.pem");
  EXPECT_THAT(CertAuthority::init(tmp.path(), false), HasSubstr("already exists"));
  EXPECT_EQ(read_file(tmp.path() / "ca.pem"), first);
  ASSERT_EQ(CertAuthority::init(tmp.path(), true), "");
  EXPECT_NE(read_file(tmp.path() / "ca.pem"), first);
  EXPECT_EQ(mode_of(tmp.path() / "ca.key"), 0600u);
}

TEST(CertAuthorityFiles, LoadWithoutACaSaysWhatToRun) {
  TempDir tmp;
  std::string error;
  EXPECT_EQ(CertAuthority::load(tmp.path(), error), nullptr);
  EXPECT_THAT(error, HasSubstr("run `mailtap ca init`"));
}

TEST(CertAuthorityFiles, LoadRefusesAKeyReadableByOthers) {
  TempDir tmp;
  ASSERT_EQ(CertAuthority::init(tmp.path(), false), "");
  ASSERT_EQ(::chmod((tmp.path() / "ca.key").c_str(), 0644), 0);
  std::string error;
  EXPECT_EQ(CertAuthority::load(tmp.path(), error), nullptr);
  EXPECT_THAT(error, HasSubstr("0644"));
  EXPECT_THAT(error, HasSubstr("chmod 600"));

  ASSERT_EQ(::chmod((tmp.path() / "ca.key").c_str(), 0600), 0);
  EXPECT_NE(CertAuthority::load(tmp.path(), error), nullptr) << error;
}

TEST(CertAuthorityFiles, LoadRefusesAKeyFromAnotherCa) {
  TempDir one, two;
  ASSERT_EQ(CertAuthority::init(one.path(), false), "");
  ASSERT_EQ(CertAuthority::init(two.path(), false), "");
  std::filesystem::copy_file(two.path() / "ca.key", one.path() / "ca.key",
                             std::filesystem::copy_options::overwrite_existing);
  std::string error;
  EXPECT_EQ(CertAuthority::load(one.path(), error), nullptr);
  EXPECT_THAT(error, HasSubstr("does not belong to"));
}

TEST(CertAuthorityFiles, CaCertificateIsACaFor10Years) {
  TestCa test_ca;
  X509* cert = test_ca.ca->certificate();
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(X509_check_ca(cert), 1);
  int critical = -1;
  auto* constraints = static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(cert, NID_basic_constraints, &critical, nullptr));
  ASSERT_NE(constraints, nullptr);
  EXPECT_TRUE(constraints->ca);
  EXPECT_EQ(critical, 1);
  BASIC_CONSTRAINTS_free(constraints);
  EXPECT_EQ(X509_get_key_usage(cert), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  CertificateInfo info = describe_certificate(cert);
  EXPECT_THAT(info.common_name, HasSubstr("mailtap local CA ("));
  EXPECT_THAT(info.common_name, HasSubstr("@"));
  auto until = parse_iso8601_utc(info.not_after);
  ASSERT_TRUE(until);
  EXPECT_NEAR(static_cast<double>(*until - now()), 3650.0 * 86400, 7200);
  EXPECT_EQ(test_ca.ca->certificate_pem(), read_file(test_ca.ca->certificate_path()));
}

class CertAuthorityLeaves : public ::testing::Test {
 protected:
  TestCa test_ca_;
  CertAuthority& ca() { return *test_ca_.ca; }
};

TEST_F(CertAuthorityLeaves, LeafForUpstreamHostIsAServerCertificateSignedByTheCa) {
  LeafSpec spec;
  spec.upstream_host = "Mail.Example.COM";
  LeafCertificate leaf = ca().leaf_for(spec);
  ASSERT_TRUE(leaf.cert) << ca().last_error();
  ASSERT_TRUE(leaf.key);
  CertificateInfo info = describe_certificate(leaf.cert.get());
  EXPECT_EQ(info.common_name, "mail.example.com");
  EXPECT_THAT(info.names, ElementsAre("mail.example.com"));
  EXPECT_EQ(info.issuer, describe_certificate(ca().certificate()).subject);
  EXPECT_EQ(X509_verify(leaf.cert.get(), X509_get0_pubkey(ca().certificate())), 1);
  EXPECT_EQ(X509_check_private_key(leaf.cert.get(), leaf.key.get()), 1);
  EXPECT_EQ(X509_check_ca(leaf.cert.get()), 0);
  EXPECT_TRUE(X509_get_extended_key_usage(leaf.cert.get()) & XKU_SSL_SERVER);
  EXPECT_EQ(X509_get_signature_nid(leaf.cert.get()), NID_ecdsa_with_SHA256);
  EXPECT_EQ(EVP_PKEY_get_bits(leaf.key.get()), 256);
  // Default window: from an hour ago, for a year.
  EXPECT_NEAR(static_cast<double>(*parse_iso8601_utc(info.not_before) - now()), -3600, 120);
  EXPECT_NEAR(static_cast<double>(*parse_iso8601_utc(info.not_after) - now()), 365.0 * 86400, 120);
}

// Verifies `leaf` against the CA as strict verifiers do (Python 3.13's default context sets
// X509_V_FLAG_X509_STRICT); returns OpenSSL's verdict as text.
std::string strict_verify(CertAuthority& ca, X509* leaf, const std::string& host) {
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(),
                                                                      X509_STORE_CTX_free);
  if (!store || !ctx || X509_STORE_add_cert(store.get(), ca.certificate()) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr) != 1) {
    return "setup failed";
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
  X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
  if (is_ip_literal(host)) {
    X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
  }
  if (X509_verify_cert(ctx.get()) == 1) return "ok";
  return X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
}

TEST_F(CertAuthorityLeaves, LeafPassesStrictVerificationForEveryName) {
  LeafSpec spec;
  spec.upstream_host = "mail.example.com";
  spec.extra_names = {"127.0.0.1", "::1"};
  LeafCertificate leaf = ca().leaf_for(spec);
  ASSERT_TRUE(leaf.cert) << ca().last_error();
  EXPECT_EQ(strict_verify(ca(), leaf.cert.get(), "mail.example.com"), "ok");
  EXPECT_EQ(strict_verify(ca(), leaf.cert.get(), "127.0.0.1"), "ok");
  EXPECT_EQ(strict_verify(ca(), leaf.cert.get(), "::1"), "ok");
  EXPECT_EQ(strict_verify(ca(), leaf.cert.get(), "other.example.com"), "hostname mismatch");
}

TEST_F(CertAuthorityLeaves, NameTooLongForTheCommonNameStillVerifies) {
  // 64 characters is the CN limit; the subject is then empty and the SAN critical.
  const std::string host = std::string(70, 'a') + ".example.com";
  LeafSpec spec;
  spec.upstream_host = host;
  LeafCertificate leaf = ca().leaf_for(spec);
  ASSERT_TRUE(leaf.cert) << ca().last_error();
  CertificateInfo info = describe_certificate(leaf.cert.get());
  EXPECT_EQ(info.common_name, "");
  EXPECT_THAT(info.names, ElementsAre(host));
  EXPECT_EQ(strict_verify(ca(), leaf.cert.get(), host), "ok");
}

TEST_F(CertAuthorityLeaves, SerialsAre128BitAndRandom) {
  LeafSpec a, b;
  a.upstream_host = "a.example";
  b.upstream_host = "b.example";
  LeafCertificate one = ca().leaf_for(a), two = ca().leaf_for(b);
  ASSERT_TRUE(one.cert && two.cert);
  const ASN1_INTEGER* s1 = X509_get0_serialNumber(one.cert.get());
  const ASN1_INTEGER* s2 = X509_get0_serialNumber(two.cert.get());
  EXPECT_EQ(ASN1_STRING_length(s1), 16);
  EXPECT_NE(ASN1_INTEGER_cmp(s1, s2), 0);
}

TEST_F(CertAuthorityLeaves, LeafMirrorsTheRealCertificatesNamesAndValidity) {
  CertificateInfo real;
  real.common_name = "mail.example.com";
  real.names = {"mail.example.com", "IMAP.example.com", "*.mx.example.com", "192.0.2.7",
                "2001:db8::25"};
  // Inside the CA's window (which starts an hour before the CA was made), so not clipped.
  real.not_before = format_iso8601_utc(now() + 600);
  real.not_after = format_iso8601_utc(now() + 90 * 86400);
  LeafSpec spec;
  spec.upstream_host = "10.0.0.1";  // not used: the real certificate's names win
  spec.real = real;
  LeafCertificate leaf = ca().leaf_for(spec);
  ASSERT_TRUE(leaf.cert) << ca().last_error();
  CertificateInfo info = describe_certificate(leaf.cert.get());
  EXPECT_EQ(info.common_name, "mail.example.com");
  EXPECT_THAT(info.names, ElementsAre("mail.example.com", "imap.example.com", "*.mx.example.com",
                                      "192.0.2.7", "2001:db8::25"));
  EXPECT_EQ(info.not_before, real.not_before);
  EXPECT_EQ(info.not_after, real.not_after);
}

TEST_F(CertAuthorityLeaves, SniComesFirstAndNonHostNamesAreLeftOut) {
  CertificateInfo real;
  real.common_name = "Dovecot mail server";  // not a host name: no DNS SAN for it
  real.names = {"mail.example.com"};
  LeafSpec spec;
  spec.sni = "alias.example.net";
  spec.real = real;
  spec.extra_names = {"127.0.0.1"};
  CertificateInfo info = describe_certificate(ca().leaf_for(spec).cert.get());
  EXPECT_EQ(info.common_name, "alias.example.net");
  EXPECT_THAT(info.names, ElementsAre("alias.example.net", "mail.example.com", "127.0.0.1"));
}

TEST_F(CertAuthorityLeaves, ValidityIsClippedToTheCaWindow) {
  CertificateInfo real;
  real.names = {"old.example"};
  real.not_before = "2001-01-01T00:00:00Z";
  real.not_after = "2099-01-01T00:00:00Z";
  LeafSpec spec;
  spec.real = real;
  CertAuthority::LeafPlan plan = ca().plan_for(spec);
  CertificateInfo ca_info = describe_certificate(ca().certificate());
  EXPECT_EQ(format_iso8601_utc(plan.not_before), ca_info.not_before);
  EXPECT_EQ(format_iso8601_utc(plan.not_after), ca_info.not_after);
  CertificateInfo leaf = describe_certificate(ca().leaf_for(spec).cert.get());
  EXPECT_EQ(leaf.not_before, ca_info.not_before);
  EXPECT_EQ(leaf.not_after, ca_info.not_after);
}

TEST_F(CertAuthorityLeaves, CacheReturnsTheSameCertificateForTheSameSpec) {
  LeafSpec spec;
  spec.sni = "cached.example";
  spec.upstream_host = "upstream.example";
  LeafCertificate first = ca().leaf_for(spec);
  LeafCertificate second = ca().leaf_for(spec);
  ASSERT_TRUE(first.cert);
  EXPECT_EQ(first.cert.get(), second.cert.get());
  EXPECT_EQ(ca().cached_leaves(), 1u);

  spec.sni = "other.example";
  LeafCertificate third = ca().leaf_for(spec);
  EXPECT_NE(third.cert.get(), first.cert.get());
  EXPECT_EQ(ca().cached_leaves(), 2u);
  // One key is shared by every leaf: minting stays cheap.
  EXPECT_EQ(third.key.get(), first.key.get());
}

TEST(CertAuthorityDirectory, FollowsMailtapHomeThenXdgThenHome) {
  struct SavedEnv {
    std::string name;
    std::optional<std::string> value;
    explicit SavedEnv(std::string n) : name(std::move(n)) {
      if (const char* v = std::getenv(name.c_str())) value = v;
    }
    ~SavedEnv() {
      if (value)
        ::setenv(name.c_str(), value->c_str(), 1);
      else
        ::unsetenv(name.c_str());
    }
  } saved_home("HOME"), saved_xdg("XDG_DATA_HOME"), saved_mailtap("MAILTAP_HOME");

  ::setenv("HOME", "/home/tester", 1);
  ::setenv("XDG_DATA_HOME", "/xdg/data", 1);
  ::setenv("MAILTAP_HOME", "/opt/mailtap-ca", 1);
  EXPECT_EQ(CertAuthority::default_directory(), "/opt/mailtap-ca");
  ::unsetenv("MAILTAP_HOME");
  EXPECT_EQ(CertAuthority::default_directory(), "/xdg/data/mailtap");
  ::setenv("XDG_DATA_HOME", "relative/ignored", 1);
  EXPECT_EQ(CertAuthority::default_directory(), "/home/tester/.local/share/mailtap");
  ::unsetenv("XDG_DATA_HOME");
  EXPECT_EQ(CertAuthority::default_directory(), "/home/tester/.local/share/mailtap");
}

}  // namespace
}  // namespace mailtap::tls
