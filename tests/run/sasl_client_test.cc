// The runner's SASL client against the published examples: RFC 2195 (CRAM-MD5), RFC 5802
// (SCRAM-SHA-1), RFC 7677 (SCRAM-SHA-256), RFC 1939 (APOP), and the shapes of PLAIN, LOGIN and
// XOAUTH2 messages.
#include "mailtap/run/sasl_client.h"

#include <gtest/gtest.h>

#include <string>

namespace mailtap::run {
namespace {

using namespace std::string_literals;

std::unique_ptr<SaslClient> client(const std::string& mechanism, SaslCredentials creds) {
  std::string error;
  auto c = make_sasl_client(mechanism, creds, error);
  EXPECT_TRUE(c) << error;
  return c;
}

TEST(RunSaslClient, CramMd5MatchesRfc2195Example) {
  // RFC 2195 section 2: user "tim", secret "tanstaaftanstaaf".
  EXPECT_EQ(hmac_md5_hex("tanstaaftanstaaf", "<1896.697170952@postoffice.reston.mci.net>"),
            "b913a602c7eda7a495b4e6e7334d3890");
  auto c = client("cram-md5", {"tim", "tanstaaftanstaaf", "", "", ""});
  EXPECT_EQ(c->mechanism(), "CRAM-MD5");
  EXPECT_FALSE(c->client_first());
  SaslReply r = c->respond("<1896.697170952@postoffice.reston.mci.net>");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.message, "tim b913a602c7eda7a495b4e6e7334d3890");
}

TEST(RunSaslClient, CramMd5RefusesAnEmptyChallenge) {
  auto c = client("CRAM-MD5", {"tim", "x", "", "", ""});
  EXPECT_FALSE(c->respond("").ok());
}

TEST(RunSaslClient, ScramSha1MatchesRfc5802Example) {
  SaslCredentials creds{"user", "pencil", "", "", "fyko+d2lbbFgONRv9qkxdawL"};
  auto c = client("SCRAM-SHA-1", creds);
  ASSERT_TRUE(c->client_first());
  SaslReply first = c->initial();
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first.message, "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
  SaslReply final_message =
      c->respond("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096");
  ASSERT_TRUE(final_message.ok()) << final_message.error;
  EXPECT_EQ(final_message.message,
            "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=");
  SaslReply ack = c->respond("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
  ASSERT_TRUE(ack.ok()) << ack.error;
  EXPECT_EQ(ack.message, "");
}

TEST(RunSaslClient, ScramSha256MatchesRfc7677Example) {
  SaslCredentials creds{"user", "pencil", "", "", "rOprNGfwEbeRWgbNEkqO"};
  auto c = client("SCRAM-SHA-256", creds);
  EXPECT_EQ(c->initial().message, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  SaslReply final_message = c->respond(
      "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
  ASSERT_TRUE(final_message.ok()) << final_message.error;
  EXPECT_EQ(final_message.message,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  EXPECT_TRUE(c->respond("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").ok());
}

TEST(RunSaslClient, ScramDetectsAServerThatDoesNotKnowThePassword) {
  SaslCredentials creds{"user", "pencil", "", "", "rOprNGfwEbeRWgbNEkqO"};
  auto c = client("SCRAM-SHA-256", creds);
  c->initial();
  c->respond(
      "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
  SaslReply bad = c->respond("v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.error.find("signature"), std::string::npos);
}

TEST(RunSaslClient, ScramRefusesANonceThatDoesNotExtendOurs) {
  auto c = client("SCRAM-SHA-1", {"user", "pencil", "", "", "abc"});
  c->initial();
  EXPECT_FALSE(c->respond("r=xyz123,s=QSXCR+Q6sek8bf92,i=4096").ok());
}

TEST(RunSaslClient, ScramEscapesCommaAndEqualsInTheUserName) {
  auto c = client("SCRAM-SHA-1", {"a,b=c", "p", "", "", "N"});
  EXPECT_EQ(c->initial().message, "n,,n=a=2Cb=3Dc,r=N");
}

TEST(RunSaslClient, ScramWithoutFixedNonceUsesAFreshOne) {
  auto a = client("SCRAM-SHA-1", {"user", "p", "", "", ""});
  auto b = client("SCRAM-SHA-1", {"user", "p", "", "", ""});
  EXPECT_NE(a->initial().message, b->initial().message);
}

TEST(RunSaslClient, PlainIsAuthzidUserPasswordSeparatedByNul) {
  auto c = client("PLAIN", {"alice", "secret", "", "", ""});
  EXPECT_TRUE(c->client_first());
  EXPECT_EQ(c->initial().message, "\0alice\0secret"s);
  auto z = client("PLAIN", {"alice", "secret", "admin", "", ""});
  EXPECT_EQ(z->initial().message, "admin\0alice\0secret"s);
  // Without an initial response the server sends an empty challenge first.
  auto prompted = client("PLAIN", {"alice", "secret", "", "", ""});
  EXPECT_EQ(prompted->respond("").message, "\0alice\0secret"s);
}

TEST(RunSaslClient, LoginAnswersThePromptsItIsGiven) {
  auto c = client("LOGIN", {"alice", "secret", "", "", ""});
  EXPECT_FALSE(c->client_first());
  EXPECT_EQ(c->respond("Username:").message, "alice");
  EXPECT_EQ(c->respond("Password:").message, "secret");
  // The user name as an initial response, then only the password.
  auto ir = client("LOGIN", {"alice", "secret", "", "", ""});
  EXPECT_EQ(ir->initial().message, "alice");
  EXPECT_EQ(ir->respond("UGFzc3dvcmQ6 decoded: Password:").message, "secret");
  // Unusual prompts: by order.
  auto d = client("LOGIN", {"alice", "secret", "", "", ""});
  EXPECT_EQ(d->respond("Who are you?").message, "alice");
  EXPECT_EQ(d->respond("Prove it").message, "secret");
}

TEST(RunSaslClient, Xoauth2MessageAndErrorAcknowledgement) {
  auto c = client("XOAUTH2", {"someuser@example.com", "", "",
                              "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg", ""});
  EXPECT_EQ(c->initial().message,
            "user=someuser@example.com\x01"
            "auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01");
  // A JSON error challenge is answered with an empty message.
  SaslReply ack = c->respond("{\"status\":\"401\"}");
  ASSERT_TRUE(ack.ok());
  EXPECT_EQ(ack.message, "");
}

TEST(RunSaslClient, Xoauth2UsesThePasswordWhenNoTokenIsGiven) {
  auto c = client("XOAUTH2", {"u", "tok", "", "", ""});
  EXPECT_NE(c->initial().message.find("auth=Bearer tok\x01"), std::string::npos);
}

TEST(RunSaslClient, MissingCredentialsAndUnknownMechanismsAreExplained) {
  std::string error;
  EXPECT_FALSE(make_sasl_client("CRAM-MD5", {"tim", "", "", "", ""}, error));
  EXPECT_NE(error.find("pass"), std::string::npos);
  EXPECT_FALSE(make_sasl_client("PLAIN", {"", "x", "", "", ""}, error));
  EXPECT_NE(error.find("user"), std::string::npos);
  auto cram = client("CRAM-MD5", {"tim", "x", "", "", ""});
  EXPECT_FALSE(cram->initial().ok());
  EXPECT_FALSE(make_sasl_client("GSSAPI", {"a", "b", "", "", ""}, error));
  EXPECT_NE(error.find("not supported"), std::string::npos);
}

TEST(RunSaslClient, ApopDigestMatchesRfc1939Example) {
  // RFC 1939 section 7.
  EXPECT_EQ(apop_digest("+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>", "tanstaaf"),
            "c4c9334bac560ecc979e58001b3e22fb");
  EXPECT_EQ(apop_digest("+OK Dovecot ready.", "x"), "");
}

}  // namespace
}  // namespace mailtap::run
