// Context construction: trust configuration errors name the file and say what to do.
#include "mailtap/tls/tls_contexts.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <fstream>

#include "tls/tls_test_support.h"

namespace mailtap::tls {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

TEST(UpstreamContext, SystemTrustStoreByDefault) {
  std::string error;
  auto ctx = make_upstream_context(UpstreamTrust{}, error);
  ASSERT_TRUE(ctx) << error;
  EXPECT_EQ(error, "");
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx.get()), TLS1_2_VERSION);
  EXPECT_EQ(SSL_CTX_get_verify_mode(ctx.get()), SSL_VERIFY_PEER);
  EXPECT_TRUE(SSL_CTX_get_mode(ctx.get()) & SSL_MODE_RELEASE_BUFFERS);
}

TEST(UpstreamContext, MissingCaFileIsNamed) {
  std::string error;
  UpstreamTrust trust;
  trust.ca_file = "/nonexistent/private-ca.pem";
  EXPECT_FALSE(make_upstream_context(trust, error));
  EXPECT_THAT(error, HasSubstr("/nonexistent/private-ca.pem"));
  EXPECT_THAT(error, HasSubstr("--upstream-ca"));
  EXPECT_THAT(error, HasSubstr("No such file"));
}

TEST(UpstreamContext, CaFileWithoutCertificatesIsRefused) {
  TempDir tmp;
  const auto path = (tmp.path() / "not-a-ca.pem").string();
  std::ofstream(path) << "this is not PEM\n";
  std::string error;
  UpstreamTrust trust;
  trust.ca_file = path;
  EXPECT_FALSE(make_upstream_context(trust, error));
  EXPECT_THAT(error, HasSubstr(path));
  EXPECT_THAT(error, HasSubstr("no usable PEM certificate"));
}

TEST(UpstreamContext, LegacyLowersTheFloor) {
  std::string error;
  UpstreamTrust trust;
  trust.allow_legacy = true;
  auto ctx = make_upstream_context(trust, error);
  ASSERT_TRUE(ctx) << error;
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx.get()), TLS1_VERSION);
  EXPECT_EQ(SSL_CTX_get_security_level(ctx.get()), 0);
}

TEST(ClientFacingContext, NeedsACa) {
  std::string error;
  EXPECT_FALSE(make_client_facing_context(nullptr, error));
  EXPECT_THAT(error, HasSubstr("mailtap ca init"));
}

TEST(ClientFacingContext, KeepsTheCaAliveAsLongAsTheContext) {
  std::string error;
  std::shared_ptr<SSL_CTX> ctx;
  std::weak_ptr<CertAuthority> weak;
  {
    testing::TestCa test_ca;
    weak = test_ca.ca;
    ctx = make_client_facing_context(test_ca.ca, error);
    ASSERT_TRUE(ctx) << error;
    EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx.get()), TLS1_2_VERSION);
  }
  EXPECT_FALSE(weak.expired());
  ctx.reset();
  EXPECT_TRUE(weak.expired());
}

}  // namespace
}  // namespace mailtap::tls
