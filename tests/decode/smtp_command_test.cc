#include "mailtap/decode/smtp_command.h"

#include <gtest/gtest.h>

#include <string>

namespace mailtap::decode {
namespace {

bool has_warning(const SmtpCommand& c, const std::string& code) {
  for (const auto& w : c.warnings) {
    if (w["code"] == code) return true;
  }
  return false;
}

TEST(SmtpCommand, MailFromWithEveryParameter) {
  SmtpCommand c = parse_smtp_command(
      "mail from:<a@b.example> SIZE=1000 BODY=8BITMIME SMTPUTF8 AUTH=<> RET=HDRS ENVID=QQ+2B1 "
      "REQUIRETLS");
  EXPECT_EQ(c.verb, "MAIL");
  EXPECT_EQ(c.args["from"], "a@b.example");
  EXPECT_EQ(c.args["bracketed"], true);
  const auto& p = c.args["params"];
  EXPECT_EQ(p["SIZE"], 1000);
  EXPECT_EQ(p["BODY"], "8BITMIME");
  EXPECT_EQ(p["SMTPUTF8"], true);
  EXPECT_EQ(p["AUTH"], "<>");
  EXPECT_EQ(p["RET"], "HDRS");
  EXPECT_EQ(p["ENVID"], "QQ+2B1");
  EXPECT_EQ(p["ENVID_decoded"], "QQ+1");
  EXPECT_EQ(p["REQUIRETLS"], true);
  EXPECT_TRUE(c.warnings.empty()) << c.warnings.dump();
  for (const char* words : {"Sender (envelope from) a@b.example", "announces 1000 bytes",
                            "8-bit content", "AUTH=<>", "headers only", "envelope id \"QQ+1\"",
                            "TLS required"}) {
    EXPECT_NE(c.note.find(words), std::string::npos) << words << " in " << c.note;
  }
}

TEST(SmtpCommand, NullSenderSourceRouteAndUnbracketed) {
  SmtpCommand null_sender = parse_smtp_command("MAIL FROM:<>");
  EXPECT_EQ(null_sender.args["from"], "");
  EXPECT_NE(null_sender.note.find("Null sender"), std::string::npos);
  EXPECT_EQ(parse_smtp_command("MAIL FROM:<@relay.example:joe@x.example>").args["from"],
            "joe@x.example");
  SmtpCommand seed = parse_smtp_command("MAIL FROM: email@example.com");
  EXPECT_EQ(seed.args["from"], "email@example.com");
  EXPECT_EQ(seed.args["bracketed"], false);
  EXPECT_NE(seed.note.find("without the <>"), std::string::npos);
  SmtpCommand open = parse_smtp_command("MAIL FROM:<never.closed");
  EXPECT_TRUE(has_warning(open, "smtp_syntax"));
  SmtpCommand quoted = parse_smtp_command("MAIL FROM:<\"odd>name\"@x.example> SIZE=5");
  EXPECT_EQ(quoted.args["from"], "\"odd>name\"@x.example");
  EXPECT_EQ(quoted.args["params"]["SIZE"], 5);
}

TEST(SmtpCommand, RcptToWithDsnParameters) {
  SmtpCommand c =
      parse_smtp_command("RCPT TO:<Jones@foo.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Jones+40foo.com");
  EXPECT_EQ(c.verb, "RCPT");
  EXPECT_EQ(c.args["to"], "Jones@foo.com");
  EXPECT_EQ(c.args["params"]["NOTIFY"], "SUCCESS,FAILURE");
  EXPECT_EQ(c.args["params"]["ORCPT_decoded"], "rfc822;Jones@foo.com");
  EXPECT_NE(c.note.find("Recipient Jones@foo.com"), std::string::npos);
  EXPECT_NE(c.note.find("notify on SUCCESS,FAILURE"), std::string::npos);
  SmtpCommand missing = parse_smtp_command("RCPT someone@somewhere.com");
  EXPECT_TRUE(has_warning(missing, "smtp_syntax"));
}

TEST(SmtpCommand, GreetingsAndSimpleCommands) {
  EXPECT_EQ(parse_smtp_command("EHLO localhost").note,
            "Client introduces itself as localhost and asks for the extended command set");
  EXPECT_NE(parse_smtp_command("HELO localserver.com").note.find("no extensions"),
            std::string::npos);
  EXPECT_TRUE(has_warning(parse_smtp_command("EHLO"), "smtp_syntax"));
  EXPECT_EQ(parse_smtp_command("VRFY Smith").args["string"], "Smith");
  EXPECT_EQ(parse_smtp_command("EXPN Example-People").args["list"], "Example-People");
  EXPECT_EQ(parse_smtp_command("HELP MAIL").args["topic"], "MAIL");
  EXPECT_EQ(parse_smtp_command("ETRN @example.com").args["node"], "@example.com");
  for (const char* verb : {"DATA", "RSET", "NOOP", "QUIT", "STARTTLS"}) {
    SmtpCommand c = parse_smtp_command(verb);
    EXPECT_EQ(c.verb, verb);
    EXPECT_FALSE(c.note.empty());
    EXPECT_TRUE(c.warnings.empty());
  }
  EXPECT_EQ(parse_smtp_command("quit  ").verb, "QUIT");
  SmtpCommand unknown = parse_smtp_command("XCLIENT NAME=spike.porcupine.org");
  EXPECT_EQ(unknown.verb, "XCLIENT");
  EXPECT_EQ(unknown.args["text"], "NAME=spike.porcupine.org");
  EXPECT_TRUE(has_warning(parse_smtp_command(""), "smtp_syntax"));
}

TEST(SmtpCommand, AuthAndBdat) {
  std::string line = "AUTH PLAIN dGVzdAB0ZXN0ADEyMzQ=";
  SmtpCommand a = parse_smtp_command(line);
  EXPECT_EQ(a.auth_mechanism, "PLAIN");
  ASSERT_TRUE(a.auth_initial_response.has_value());
  EXPECT_EQ(*a.auth_initial_response, "dGVzdAB0ZXN0ADEyMzQ=");
  EXPECT_EQ(line.substr(a.auth_initial_response_offset), "dGVzdAB0ZXN0ADEyMzQ=");
  EXPECT_EQ(a.args["initial_response"], true);
  SmtpCommand login = parse_smtp_command("auth login");
  EXPECT_EQ(login.auth_mechanism, "LOGIN");
  EXPECT_FALSE(login.auth_initial_response.has_value());
  EXPECT_TRUE(has_warning(parse_smtp_command("AUTH"), "smtp_syntax"));

  SmtpCommand b = parse_smtp_command("BDAT 1000 LAST");
  EXPECT_EQ(b.bdat_size, 1000u);
  EXPECT_TRUE(b.bdat_last);
  EXPECT_NE(b.note.find("the last of the message"), std::string::npos);
  SmtpCommand huge = parse_smtp_command("BDAT 99999999999999999999999");
  EXPECT_FALSE(huge.bdat_size.has_value());
  EXPECT_TRUE(has_warning(huge, "smtp_syntax"));
}

TEST(SmtpCommand, XtextDecoding) {
  EXPECT_EQ(xtext_decode("a+2Bb+3Dc"), "a+b=c");
  EXPECT_EQ(xtext_decode("trailing+2"), "trailing+2");
  EXPECT_EQ(xtext_decode("+zz"), "+zz");
}

TEST(SmtpCommand, BinaryBytesStayValidJson) {
  std::string line = "MAIL FROM:<\xff\xfe@x> SIZE=\x80";
  SmtpCommand c = parse_smtp_command(line);
  EXPECT_NO_THROW((void)c.args.dump());
  EXPECT_NO_THROW((void)nlohmann::json(c.note).dump());
}

}  // namespace
}  // namespace mailtap::decode
