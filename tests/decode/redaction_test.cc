#include "mailtap/decode/redaction.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdio>
#include <string>

namespace mailtap::decode {
namespace {

// The first 4 bytes of HMAC-SHA256(key, secret) in hex, computed here independently.
std::string expected_hash(const std::string& key, const std::string& secret) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), mac, &len);
  char hex[9];
  std::snprintf(hex, sizeof hex, "%02x%02x%02x%02x", mac[0], mac[1], mac[2], mac[3]);
  return hex;
}

TEST(Redaction, TokenCarriesLengthAndKeyedHash) {
  DecodeOptions o;
  o.redaction_key = "site key";
  EXPECT_EQ(redact("world", o), "<redacted len=5 h=" + expected_hash("site key", "world") + ">");
  EXPECT_TRUE(is_redaction_token(redact("world", o)));
  EXPECT_TRUE(is_redaction_token(redact("", o)));
}

TEST(Redaction, DefaultKeyIsFixedSoTranscriptsCompare) {
  DecodeOptions a, b;
  EXPECT_EQ(redact("tanstaaftanstaaf", a), redact("tanstaaftanstaaf", b));
  // Pinned value: a change would make old transcripts stop comparing equal to new ones.
  EXPECT_EQ(redact("world", a), "<redacted len=5 h=f7309d12>");
}

TEST(Redaction, DifferentSecretsAndKeysGiveDifferentTokens) {
  DecodeOptions o;
  EXPECT_NE(redact("world", o), redact("World", o));
  EXPECT_NE(redact("world", o), redact("worle", o));
  DecodeOptions keyed;
  keyed.redaction_key = "another";
  EXPECT_NE(redact("world", o), redact("world", keyed));
}

TEST(Redaction, RevealKeepsTheSecret) {
  DecodeOptions o;
  EXPECT_TRUE(is_redaction_token(show_secret("world", o)));
  o.reveal_secrets = true;
  EXPECT_EQ(show_secret("world", o), "world");
  EXPECT_TRUE(is_redaction_token(redact("world", o))) << "redact() always redacts";
  // Revealed secrets land in JSON: bytes that are not UTF-8 text are escaped, not passed through.
  EXPECT_EQ(show_secret(std::string("pa\xffss\x01"), o), "pa\\xFFss\\x01");
  EXPECT_EQ(show_secret("p\xC3\xA4ss", o), "p\xC3\xA4ss");
}

TEST(Redaction, RecognisesOnlyRealTokens) {
  EXPECT_FALSE(is_redaction_token("world"));
  EXPECT_FALSE(is_redaction_token("<redacted len= h=00000000>"));
  EXPECT_FALSE(is_redaction_token("<redacted len=5 h=0000000>"));
  EXPECT_FALSE(is_redaction_token("<redacted len=5 h=0000000G>"));
  EXPECT_FALSE(is_redaction_token("<redacted len=5 h=00000000>x"));
  EXPECT_TRUE(is_redaction_token("<redacted len=5 h=00000000>"));
}

}  // namespace
}  // namespace mailtap::decode
