#include "mailtap/diff/rules_file.h"

#include <gtest/gtest.h>

#include <sstream>

namespace mailtap::diff {
namespace {

RuleSet parse(const std::string& text) {
  std::istringstream in(text);
  return read_rules(in, "rules.txt");
}

TEST(DiffRulesFile, ReadsEveryKindOfRule) {
  RuleSet set = parse(
      "# comment\n"
      "\n"
      "ignore X-Mailer: .*\n"
      "replace (Postfix|Exim) => MTA\n"
      "imap: ignore \\[CAPABILITY .*\\]\n"
      "ignore-hosts\n"
      "  ignore-banners  \n");
  ASSERT_EQ(set.rules.size(), 3u);
  EXPECT_EQ(set.rules[0].pattern, "X-Mailer: .*");
  EXPECT_EQ(set.rules[0].replacement, "<ignored>");
  EXPECT_EQ(set.rules[0].name, "rules.txt:3");
  EXPECT_EQ(set.rules[1].pattern, "(Postfix|Exim)");
  EXPECT_EQ(set.rules[1].replacement, "MTA");
  ASSERT_TRUE(set.rules[2].protocol.has_value());
  EXPECT_EQ(*set.rules[2].protocol, Protocol::imap);
  EXPECT_TRUE(set.ignore_hosts);
  EXPECT_TRUE(set.ignore_banners);
  EXPECT_EQ(compile_rules(set.rules, Protocol::smtp).size(), 2u);
  EXPECT_EQ(compile_rules(set.rules, Protocol::imap).size(), 3u);
}

TEST(DiffRulesFile, CompiledRulesChangeText) {
  RuleSet set = parse("replace (Postfix|Exim) => MTA\nignore \\d+ octets\n");
  NormalizeOptions o;
  o.user_rules = compile_rules(set.rules, Protocol::pop3);
  Normalizer n(Protocol::pop3, o);
  EXPECT_EQ(n.text("ESMTP Exim ready"), "ESMTP MTA ready");
  EXPECT_EQ(n.text("+OK 880 octets"), "+OK <ignored>");
}

TEST(DiffRulesFile, ErrorsNameFileAndLine) {
  auto message = [](const std::string& text) -> std::string {
    try {
      parse(text);
    } catch (const RuleError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(message("ignore ok\nfrobnicate x\n").find("rules.txt:2: unknown rule 'frobnicate'"),
            std::string::npos);
  EXPECT_NE(message("ignore (\n").find("rules.txt:1"), std::string::npos);
  EXPECT_NE(message("replace abc\n").find("needs 'REGEX => REPLACEMENT'"), std::string::npos);
  EXPECT_NE(message("ldap: ignore x\n").find("unknown protocol"), std::string::npos);
  EXPECT_NE(message("ignore\n").find("needs a pattern"), std::string::npos);
  EXPECT_NE(message("ignore-hosts now\n").find("takes no argument"), std::string::npos);
}

TEST(DiffRulesFile, MissingFile) {
  EXPECT_THROW(read_rules_file("/nonexistent/rules.txt"), RuleError);
}

}  // namespace
}  // namespace mailtap::diff
