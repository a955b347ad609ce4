#include "mailtap/run/template.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace mailtap::run {
namespace {

using namespace std::string_literals;

class RunTemplate : public ::testing::Test {
 protected:
  std::string expand(const std::string& text) {
    ExpansionContext ctx;
    ctx.variables = &vars;
    ctx.unique = "u123";
    ctx.sasl = [this](std::string& error) -> std::optional<std::string> {
      ++sasl_calls;
      if (sasl_value.empty()) {
        error = "no challenge";
        return std::nullopt;
      }
      return sasl_value;
    };
    error.clear();
    auto out = expand_template(text, ctx, error);
    return out ? *out : "<error>";
  }
  std::map<std::string, std::string> vars{{"user", "alice"}, {"pass", "s:e$cret"}};
  std::string error;
  std::string sasl_value;
  int sasl_calls = 0;
};

TEST_F(RunTemplate, VariablesAndPlainText) {
  EXPECT_EQ(expand("a1 LOGIN ${user} ${pass}"), "a1 LOGIN alice s:e$cret");
  EXPECT_EQ(expand("no templates $ here {}"), "no templates $ here {}");
  EXPECT_EQ(expand(""), "");
}

TEST_F(RunTemplate, UnsetVariableNamesItAndHowToSetIt) {
  EXPECT_EQ(expand("MAIL FROM:<${from}>"), "<error>");
  EXPECT_NE(error.find("${from}"), std::string::npos);
  EXPECT_NE(error.find("--var from="), std::string::npos);
}

TEST_F(RunTemplate, Base64HelperTakesTheRestIncludingColons) {
  EXPECT_EQ(expand("${base64:Username:}"), "VXNlcm5hbWU6");
  EXPECT_EQ(expand("${base64:${user}}"), "YWxpY2U=");
  EXPECT_EQ(expand("${base64:hello@example.com}"), "aGVsbG9AZXhhbXBsZS5jb20=");
}

TEST_F(RunTemplate, AuthPlainFromVariablesOrArguments) {
  // Seed 004: echo -ne "\0username\0password" | base64
  EXPECT_EQ(expand("${auth_plain:username:password}"), "AHVzZXJuYW1lAHBhc3N3b3Jk");
  // Seed 002: "\000user@remoteserver.com\000password"
  EXPECT_EQ(expand("AUTH PLAIN ${auth_plain:user@remoteserver.com:password}"),
            "AUTH PLAIN AHVzZXJAcmVtb3Rlc2VydmVyLmNvbQBwYXNzd29yZA==");
  // Arguments are split before variables expand, so a ':' in the password is safe.
  vars["pass"] = "pass:word";
  EXPECT_EQ(expand("${auth_plain}"), expand("${auth_plain:${user}:${pass}}"));
  EXPECT_EQ(expand("${auth_plain:zid:u:p}"), "emlkAHUAcA==");
}

TEST_F(RunTemplate, Xoauth2Helper) {
  EXPECT_EQ(expand("${xoauth2:u:t}"), "dXNlcj11AWF1dGg9QmVhcmVyIHQBAQ==");
}

TEST_F(RunTemplate, SaslIsComputedOnlyWhenUsed) {
  sasl_value = "dGltIGI5MTNh";
  EXPECT_EQ(expand("${sasl}"), "dGltIGI5MTNh");
  EXPECT_EQ(sasl_calls, 1);
  sasl_value.clear();
  EXPECT_EQ(expand("${sasl}"), "<error>");
  EXPECT_EQ(error, "no challenge");
}

TEST_F(RunTemplate, BytesEnvUniqueAndEscapes) {
  EXPECT_EQ(expand("${bytes:AAEC}"), "\0\1\2"s);
  ::setenv("MAILTAP_TEMPLATE_TEST", "from-env", 1);
  EXPECT_EQ(expand("${env:MAILTAP_TEMPLATE_TEST}"), "from-env");
  EXPECT_EQ(expand("id ${unique}"), "id u123");
  EXPECT_EQ(expand("literal $${user}"), "literal ${user}");
  EXPECT_EQ(expand(escape_template("a ${b} $${c}")), "a ${b} $${c}");
  EXPECT_FALSE(has_template("a $${b}"));
  EXPECT_TRUE(has_template("a ${b}"));
}

TEST(RunTemplateCheck, SyntaxErrorsAreFoundWithoutExpanding) {
  EXPECT_EQ(check_template("C ${user} ${base64:x}"), "");
  EXPECT_NE(check_template("${user"), "");
  EXPECT_NE(check_template("${}"), "");
  EXPECT_NE(check_template("${nosuch:arg}").find("unknown helper"), std::string::npos);
  EXPECT_NE(check_template("${base64}"), "");
  EXPECT_NE(check_template("${auth_plain:only-one}"), "");
  EXPECT_NE(check_template("${sasl:x}"), "");
}

TEST(RunTemplateCheck, ReferencesListWhatARunNeeds) {
  auto refs = template_references("${base64:${user}} ${auth_plain} ${sasl} ${to}");
  auto has = [&](const char* name) {
    return std::find(refs.begin(), refs.end(), name) != refs.end();
  };
  EXPECT_TRUE(has("user"));
  EXPECT_TRUE(has("pass"));
  EXPECT_TRUE(has("sasl"));
  EXPECT_TRUE(has("to"));
  EXPECT_FALSE(has("base64"));
}

}  // namespace
}  // namespace mailtap::run
