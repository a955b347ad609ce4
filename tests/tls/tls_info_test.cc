// TlsInfo / CertificateInfo JSON and the name and time helpers.
#include "mailtap/tls/tls_info.h"

#include <gtest/gtest.h>

#include "mailtap/tls/x509_inspect.h"

namespace mailtap::tls {
namespace {

TEST(TlsInfoJson, PeerCertificateOmittedWhenAbsent) {
  TlsInfo info;
  info.version = "TLSv1.3";
  info.cipher = "TLS_AES_256_GCM_SHA384";
  info.sni = "mail.example.com";
  nlohmann::json j = to_json(info);
  EXPECT_EQ(j["version"], "TLSv1.3");
  EXPECT_EQ(j["cipher"], "TLS_AES_256_GCM_SHA384");
  EXPECT_EQ(j["sni"], "mail.example.com");
  EXPECT_EQ(j["verification"], "not applicable");
  EXPECT_EQ(j["session_reused"], false);
  EXPECT_FALSE(j.contains("peer_certificate"));
}

TEST(TlsInfoJson, PeerCertificateFields) {
  TlsInfo info;
  info.verification = "verified";
  CertificateInfo cert;
  cert.subject = "CN=mail.example.com";
  cert.issuer = "CN=Example CA,O=Example";
  cert.common_name = "mail.example.com";
  cert.names = {"mail.example.com", "192.0.2.1"};
  cert.sha256 = std::string(64, 'a');
  cert.not_before = "2024-01-01T00:00:00Z";
  cert.not_after = "2025-01-01T00:00:00Z";
  info.peer_certificate = cert;
  nlohmann::json j = to_json(info);
  ASSERT_TRUE(j.contains("peer_certificate"));
  const auto& c = j["peer_certificate"];
  EXPECT_EQ(c["subject"], "CN=mail.example.com");
  EXPECT_EQ(c["issuer"], "CN=Example CA,O=Example");
  EXPECT_EQ(c["names"], nlohmann::json::array({"mail.example.com", "192.0.2.1"}));
  EXPECT_EQ(c["sha256"], std::string(64, 'a'));
  EXPECT_EQ(c["not_before"], "2024-01-01T00:00:00Z");
  EXPECT_EQ(c["not_after"], "2025-01-01T00:00:00Z");
  EXPECT_EQ(j["verification"], "verified");
}

TEST(NameHelpers, IpLiterals) {
  EXPECT_TRUE(is_ip_literal("127.0.0.1"));
  EXPECT_TRUE(is_ip_literal("::1"));
  EXPECT_TRUE(is_ip_literal("[2001:db8::1]"));
  EXPECT_FALSE(is_ip_literal("localhost"));
  EXPECT_FALSE(is_ip_literal("1.2.3"));
  EXPECT_FALSE(is_ip_literal(""));
  EXPECT_EQ(strip_brackets("[::1]"), "::1");
  EXPECT_EQ(strip_brackets("mail.example.com"), "mail.example.com");
}

TEST(TimeHelpers, Iso8601RoundTrip) {
  EXPECT_EQ(format_iso8601_utc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_iso8601_utc(1700000000), "2023-11-14T22:13:20Z");
  EXPECT_EQ(parse_iso8601_utc("2023-11-14T22:13:20Z"), 1700000000);
  EXPECT_EQ(parse_iso8601_utc("2050-01-01T00:00:00Z"), 2524608000);
  EXPECT_FALSE(parse_iso8601_utc("2023-11-14 22:13:20"));
  EXPECT_FALSE(parse_iso8601_utc("2023-13-14T22:13:20Z"));
  EXPECT_FALSE(parse_iso8601_utc(""));
}

}  // namespace
}  // namespace mailtap::tls
