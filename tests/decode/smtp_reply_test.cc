#include "mailtap/decode/smtp_reply.h"

#include <gtest/gtest.h>

#include <string>

#include "mailtap/decode/smtp_reply_codes.h"

namespace mailtap::decode {
namespace {

TEST(SmtpReply, SingleAndMultiLineAssembly) {
  SmtpReplyAssembler a;
  auto r = a.feed("250 2.1.0 Ok");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->code, 250);
  EXPECT_EQ(r->enhanced, "2.1.0");
  EXPECT_EQ(r->lines, std::vector<std::string>{"2.1.0 Ok"});

  EXPECT_FALSE(a.feed("250-mail.example.com").has_value());
  EXPECT_TRUE(a.in_progress());
  EXPECT_EQ(a.pending_code(), 250);
  EXPECT_FALSE(a.feed("250-PIPELINING").has_value());
  auto m = a.feed("250 DSN");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->line_count, 3u);
  EXPECT_FALSE(m->malformed);
  EXPECT_FALSE(m->mixed_codes);
  EXPECT_FALSE(a.in_progress());

  auto bare = a.feed("334");
  ASSERT_TRUE(bare.has_value());
  EXPECT_EQ(bare->code, 334);
  EXPECT_EQ(bare->lines, std::vector<std::string>{""});
}

TEST(SmtpReply, BrokenRepliesEndAndAreFlagged) {
  SmtpReplyAssembler a;
  a.feed("250-one");
  auto mixed = a.feed("251 two");
  ASSERT_TRUE(mixed.has_value());
  EXPECT_TRUE(mixed->mixed_codes);
  auto junk = a.feed("hello");
  ASSERT_TRUE(junk.has_value());
  EXPECT_TRUE(junk->malformed);
  EXPECT_EQ(junk->code, -1);
  a.feed("250-one");
  auto bad_separator = a.feed("250x");
  ASSERT_TRUE(bad_separator.has_value()) << "a malformed line ends the reply";
  EXPECT_TRUE(bad_separator->malformed);
  EXPECT_TRUE(a.feed("650 out of range")->malformed);
}

TEST(SmtpReply, MemoryIsBoundedForEndlessReplies) {
  SmtpReplyAssembler a;
  std::string long_text(5000, 'x');
  for (int i = 0; i < 10000; ++i) ASSERT_FALSE(a.feed("250-" + long_text).has_value());
  auto r = a.feed("250 end");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->line_count, 10001u);
  EXPECT_EQ(r->lines.size(), SmtpReplyAssembler::kMaxLines);
  EXPECT_LE(r->lines[0].size(), SmtpReplyAssembler::kMaxLineText + 3);
}

TEST(SmtpReply, EhloCapabilities) {
  SmtpReply r;
  r.code = 250;
  r.lines = {"mail.example.com Hello there", "PIPELINING", "SIZE 10240000", "AUTH PLAIN LOGIN",
             "AUTH=PLAIN LOGIN", "XCLIENT NAME ADDR", "SIZE", "8bitmime"};
  nlohmann::json c = parse_ehlo_capabilities(r);
  EXPECT_EQ(c["domain"], "mail.example.com");
  EXPECT_EQ(c["greeting"], "Hello there");
  EXPECT_EQ(c["capabilities"]["PIPELINING"], true);
  EXPECT_EQ(c["capabilities"]["SIZE"], true) << "the last SIZE line wins";
  EXPECT_EQ(c["capabilities"]["AUTH"], nlohmann::json({"PLAIN", "LOGIN"}));
  EXPECT_EQ(c["capabilities"]["AUTH="], nlohmann::json({"PLAIN", "LOGIN"}));
  EXPECT_EQ(c["capabilities"]["XCLIENT"], "NAME ADDR");
  EXPECT_EQ(c["capabilities"]["8BITMIME"], true);
  EXPECT_EQ(c["keywords"][0], "PIPELINING");
  EXPECT_NE(describe_capability("pipelining").find("RFC 2920"), std::string::npos);
  EXPECT_TRUE(describe_capability("X-NOT-A-THING").empty());
}

TEST(SmtpReplyCodes, MeaningsAndEnhancedCodes) {
  EXPECT_EQ(smtp_reply_meaning(250), "requested mail action okay, completed");
  EXPECT_EQ(smtp_reply_meaning(354), "start mail input; end with <CRLF>.<CRLF>");
  EXPECT_EQ(smtp_reply_meaning(535), "authentication credentials invalid");
  EXPECT_EQ(smtp_reply_meaning(556), "domain does not accept mail");
  EXPECT_NE(smtp_reply_meaning(299).find("positive completion"), std::string::npos);
  EXPECT_NE(smtp_reply_meaning(499).find("try again later"), std::string::npos);
  EXPECT_EQ(smtp_reply_meaning(999), "");

  EXPECT_EQ(find_enhanced_code("5.7.8 Error: authentication failed", 5), "5.7.8");
  EXPECT_EQ(find_enhanced_code("2.0.0 Ok: queued", 2), "2.0.0");
  EXPECT_FALSE(find_enhanced_code("2.0.0 Ok", 5).has_value()) << "class must match the code";
  EXPECT_FALSE(find_enhanced_code("mail.example.com", 2).has_value());
  EXPECT_FALSE(find_enhanced_code("2.0.0.1 x", 2).has_value());
  EXPECT_FALSE(find_enhanced_code("3.1.1 x").has_value());
  EXPECT_EQ(find_enhanced_code("4.7.10"), "4.7.10");

  nlohmann::json e = describe_enhanced_code("5.7.8");
  EXPECT_EQ(e["class"], "permanent failure");
  EXPECT_EQ(e["subject"], "security or policy status");
  EXPECT_EQ(e["meaning"], "authentication credentials invalid");
  EXPECT_EQ(describe_enhanced_code("2.1.5")["meaning"], "destination address valid");
  EXPECT_EQ(describe_enhanced_code("4.4.99")["meaning"],
            "other or undefined network or routing status");
}

}  // namespace
}  // namespace mailtap::decode
