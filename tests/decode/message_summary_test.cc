#include "mailtap/decode/message_summary.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <cstdio>
#include <string>

namespace mailtap::decode {
namespace {

std::string sha256_hex(const std::string& s) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  std::string hex;
  char b[3];
  for (unsigned char c : d) {
    std::snprintf(b, sizeof b, "%02x", c);
    hex += b;
  }
  return hex;
}

const std::string kWire =
    "From: Alice <alice@example.com>\r\n"
    "To: bob@example.org\r\n"
    "Subject: =?UTF-8?B?SGVsbG8gd8O2cmxk?=\r\n"
    " and more\r\n"
    "Date: Sat, 11 Jul 2020 23:18:11 +0000\r\n"
    "Message-ID: <b41f@example.com>\r\n"
    "\r\n"
    "..leading dot line\r\n"
    "world\r\n";
const std::string kContent =
    "From: Alice <alice@example.com>\r\n"
    "To: bob@example.org\r\n"
    "Subject: =?UTF-8?B?SGVsbG8gd8O2cmxk?=\r\n"
    " and more\r\n"
    "Date: Sat, 11 Jul 2020 23:18:11 +0000\r\n"
    "Message-ID: <b41f@example.com>\r\n"
    "\r\n"
    ".leading dot line\r\n"
    "world\r\n";

void expect_summary(const nlohmann::json& s) {
  EXPECT_EQ(s["size"], kContent.size());
  EXPECT_EQ(s["wire_size"], kWire.size());
  EXPECT_EQ(s["sha256"], sha256_hex(kContent));
  EXPECT_EQ(s["headers"]["from"], "Alice <alice@example.com>");
  EXPECT_EQ(s["headers"]["to"], "bob@example.org");
  EXPECT_EQ(s["headers"]["subject"], "Hello w\xC3\xB6rld and more");
  EXPECT_EQ(s["headers"]["date"], "Sat, 11 Jul 2020 23:18:11 +0000");
  EXPECT_EQ(s["headers"]["message_id"], "<b41f@example.com>");
  EXPECT_EQ(s["header_bytes"], kContent.find("\r\n\r\n") + 4);
}

TEST(MessageSummary, DotUnstuffsHashesAndParsesHeaders) {
  MessageSummarizer m(/*dot_stuffed=*/true);
  m.feed(kWire);
  expect_summary(m.summary());
  EXPECT_NE(m.describe().find("Subject: Hello w"), std::string::npos);
}

TEST(MessageSummary, SameResultFedOneBytePerPieceAndAtEverySplit) {
  MessageSummarizer bytewise(true);
  for (char c : kWire) bytewise.feed(std::string(1, c));
  expect_summary(bytewise.summary());
  for (size_t cut = 0; cut <= kWire.size(); ++cut) {
    MessageSummarizer m(true);
    m.feed(kWire.substr(0, cut));
    m.feed(kWire.substr(cut));
    ASSERT_EQ(m.summary(), bytewise.summary()) << "split at " << cut;
  }
}

TEST(MessageSummary, NotDotStuffedForBdatAndLfOnlyMessages) {
  MessageSummarizer m(/*dot_stuffed=*/false);
  m.feed("Subject: x\n\n..body\n");
  nlohmann::json s = m.summary();
  EXPECT_EQ(s["size"], 19);
  EXPECT_FALSE(s.contains("wire_size"));
  EXPECT_EQ(s["headers"]["subject"], "x");
  EXPECT_EQ(s["header_bytes"], 12);
  EXPECT_EQ(s["sha256"], sha256_hex("Subject: x\n\n..body\n"));
}

TEST(MessageSummary, HeaderWindowIsBoundedAndEmptyMessageWorks) {
  MessageSummarizer empty(true);
  EXPECT_EQ(empty.summary()["size"], 0);
  EXPECT_EQ(empty.summary()["sha256"], sha256_hex(""));
  MessageSummarizer big(true);
  big.feed("Subject: big\r\nX-Long: ");
  std::string chunk(4096, 'a');
  for (int i = 0; i < 100; ++i) big.feed(chunk);  // 400 KiB of header, never ended
  nlohmann::json s = big.summary();
  EXPECT_EQ(s["headers"]["subject"], "big");
  EXPECT_FALSE(s.contains("header_bytes"));
  EXPECT_EQ(s["size"], 22u + 409600u);
}

}  // namespace
}  // namespace mailtap::decode
