#include "mailtap/decode/imap_syntax.h"

#include <gtest/gtest.h>

#include "mailtap/decode/imap_command.h"
#include "mailtap/decode/imap_response.h"
#include "mailtap/decode/redaction.h"

namespace mailtap::decode::imap {
namespace {

using nlohmann::json;

LogicalLine one_line(std::string text) {
  LogicalLine l;
  l.segments.push_back(std::move(text));
  return l;
}

LogicalLine with_literal(std::string first, std::string literal, std::string rest) {
  LogicalLine l;
  l.segments.push_back(first);
  Literal lit;
  lit.marker = *literal_marker(first);
  lit.summarizer = std::make_unique<MessageSummarizer>(false);
  lit.absorb(literal);
  l.literals.push_back(std::move(lit));
  l.segments.push_back(std::move(rest));
  return l;
}

TEST(ImapSyntax, ValuesOfEveryKind) {
  auto line = one_line(
      "a FETCH 1:*,7 (FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>) \"q \\\"x\\\\\" NIL ()");
  std::string error;
  auto values = read_all(line, &error);
  EXPECT_EQ(error, "");
  ASSERT_EQ(values.size(), 7u);
  EXPECT_EQ(values[2].str(), "1:*,7");
  ASSERT_EQ(values[3].kind, Value::Kind::list);
  ASSERT_EQ(values[3].items.size(), 2u);
  EXPECT_EQ(values[3].items[1].str(), "BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>");
  EXPECT_EQ(values[4].kind, Value::Kind::quoted);
  EXPECT_EQ(values[4].str(), "q \"x\\");
  EXPECT_EQ(values[4].span.begin, line.segments[0].find('"'));
  EXPECT_EQ(values[4].span.end, line.segments[0].find(" NIL"));
  EXPECT_TRUE(values[5].is_nil());
  EXPECT_EQ(to_json(values[3], line), json::array({"FLAGS", "BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>"}));
}

TEST(ImapSyntax, NilIsNullAndNumbersAreNumbers) {
  auto line = one_line("NIL 42 nil 0042x");
  auto v = read_all(line);
  ASSERT_EQ(v.size(), 4u);
  EXPECT_TRUE(v[0].is_nil());
  EXPECT_TRUE(to_json(v[0], line).is_null());
  EXPECT_EQ(v[1].number(), 42u);
  EXPECT_TRUE(v[2].is_nil());
  EXPECT_FALSE(v[3].number());
}

TEST(ImapSyntax, ErrorsAreReportedNotThrown) {
  std::string error;
  read_all(one_line("a (b (c"), &error);
  EXPECT_NE(error.find("not closed"), std::string::npos);
  read_all(one_line("a \"open"), &error);
  EXPECT_NE(error.find("quoted"), std::string::npos);
  std::string deep(100, '(');
  read_all(one_line("a " + deep), &error);
  EXPECT_NE(error.find("deeply"), std::string::npos);
  read_all(one_line("a {5} b"), &error);
  EXPECT_NE(error.find("literal"), std::string::npos);
}

TEST(ImapSyntax, LiteralValuesComeFromTheLiteral) {
  auto line = with_literal("* LIST () \"/\" {8}", "Entw&APw-", "");
  // (the literal announced 8 bytes; 9 were offered: only 8 are kept)
  auto v = read_all(line);
  ASSERT_EQ(v.size(), 5u);
  EXPECT_EQ(v[4].kind, Value::Kind::literal);
  EXPECT_EQ(v[4].str(), "Entw&APw");
}

TEST(ImapSyntax, ModifiedUtf7MailboxNames) {
  EXPECT_EQ(decode_mailbox_name("Entw&APw-rfe"), "Entw\xC3\xBC" "rfe");
  EXPECT_EQ(decode_mailbox_name("&-Tom&-Jerry"), "&Tom&Jerry");
  EXPECT_EQ(decode_mailbox_name("~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
            "~peter/mail/\xE5\x8F\xB0\xE5\x8C\x97/\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E");
  EXPECT_EQ(decode_mailbox_name("bad&*-name"), "bad&*-name");
  EXPECT_EQ(decode_mailbox_name("INBOX"), "INBOX");
}

TEST(ImapCommand, LoginSecretSpanAndUidCommands) {
  auto line = one_line("a1 LOGIN alice \"p w\"");
  auto cmd = parse_command(line);
  ASSERT_TRUE(cmd);
  describe_command(*cmd, line, DecodeOptions{});
  ASSERT_EQ(cmd->secrets.size(), 1u);
  EXPECT_EQ(cmd->secrets[0].span.begin, 15u);
  EXPECT_EQ(cmd->secrets[0].span.end, 20u);
  EXPECT_EQ(cmd->decoded["args"][1], redact("p w", DecodeOptions{}));

  line = one_line("a2 uid fetch 1:* (FLAGS UID) (CHANGEDSINCE 12)");
  cmd = parse_command(line);
  describe_command(*cmd, line, DecodeOptions{});
  EXPECT_EQ(cmd->name, "UID FETCH");
  EXPECT_EQ(cmd->decoded["sequence_set"], "1:*");
  EXPECT_EQ(cmd->decoded["modifiers"], json::array({"CHANGEDSINCE", "12"}));
  EXPECT_NE(cmd->note.find("all UIDs"), std::string::npos) << cmd->note;

  line = one_line("a3 LIST (SUBSCRIBED) \"\" \"*\" RETURN (CHILDREN STATUS (MESSAGES))");
  cmd = parse_command(line);
  describe_command(*cmd, line, DecodeOptions{});
  EXPECT_EQ(cmd->decoded["pattern"], "*");
  EXPECT_TRUE(cmd->decoded.contains("return"));

  line = one_line("a4 STORE 2:4 -FLAGS.SILENT (\\Deleted)");
  cmd = parse_command(line);
  describe_command(*cmd, line, DecodeOptions{});
  EXPECT_EQ(cmd->note, "a4 STORE: the client removes \\Deleted from messages 2:4 (silently: no FETCH replies)");

  line = one_line("a5 ID (\"name\" \"Thunderbird\" \"version\" \"115\")");
  cmd = parse_command(line);
  describe_command(*cmd, line, DecodeOptions{});
  EXPECT_EQ(cmd->decoded["parameters"]["name"], "Thunderbird");
}

TEST(ImapCommand, AppendSummarisesTheMessageLiteral) {
  std::string msg = "Subject: hello\r\n\r\nhi\r\n";
  auto line = with_literal("a6 APPEND Sent (\\Seen) \"01-Jan-2024 10:00:00 +0000\" {" +
                               std::to_string(msg.size()) + "}",
                           msg, "");
  auto cmd = parse_command(line);
  ASSERT_TRUE(cmd);
  EXPECT_EQ(client_literal_role(*cmd, 0), LiteralRole::message);
  describe_command(*cmd, line, DecodeOptions{});
  EXPECT_EQ(cmd->decoded["mailbox"], "Sent");
  EXPECT_EQ(cmd->decoded["flags"], json::array({"\\Seen"}));
  EXPECT_EQ(cmd->decoded["date"], "01-Jan-2024 10:00:00 +0000");
  EXPECT_EQ(cmd->decoded["message"]["size"], msg.size());
  EXPECT_EQ(cmd->decoded["message"]["headers"]["subject"], "hello");
}

TEST(ImapResponse, UntaggedDataOfEveryKind) {
  auto describe = [](std::string text) {
    auto line = one_line(std::move(text));
    auto r = parse_response(line);
    EXPECT_TRUE(r);
    describe_response(*r, line);
    return *r;
  };
  auto r = describe("* ESEARCH (TAG \"a5\") UID MIN 2 MAX 9 COUNT 3 ALL 2,5,9");
  EXPECT_EQ(r.decoded["search_tag"], "a5");
  EXPECT_EQ(r.decoded["results"]["COUNT"], 3);
  EXPECT_EQ(r.decoded["results"]["ALL"], "2,5,9");

  r = describe("* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)");
  EXPECT_EQ(r.decoded["mailbox"], "blurdybloop");
  EXPECT_EQ(r.decoded["items"]["UIDNEXT"], 44292);
  EXPECT_EQ(r.note, "* STATUS: \"blurdybloop\" has 231 messages, next UID 44292");

  r = describe("* NAMESPACE ((\"\" \"/\")) ((\"~\" \"/\")) NIL");
  EXPECT_EQ(r.decoded["personal"][0]["delimiter"], "/");
  EXPECT_EQ(r.decoded["other_users"][0]["prefix"], "~");
  EXPECT_TRUE(r.decoded["shared"].is_null());

  r = describe("* SEARCH 2 84 882");
  EXPECT_EQ(r.decoded["numbers"], json::array({2, 84, 882}));
  EXPECT_EQ(r.decoded["count"], 3);

  r = describe("* ID (\"name\" \"Dovecot\")");
  EXPECT_EQ(r.decoded["parameters"]["name"], "Dovecot");

  r = describe("* ENABLED CONDSTORE QRESYNC");
  EXPECT_EQ(r.decoded["extensions"], json::array({"CONDSTORE", "QRESYNC"}));

  r = describe("* CAPABILITY IMAP4rev2 STARTTLS AUTH=GSSAPI LOGINDISABLED");
  EXPECT_EQ(r.decoded["auth_mechanisms"], json::array({"GSSAPI"}));
  EXPECT_EQ(r.capabilities.size(), 4u);

  r = describe("* LIST (\\Noselect) \"/\" ~/Mail/foo");
  EXPECT_EQ(r.decoded["mailbox"], "~/Mail/foo");
  EXPECT_NE(r.note.find("cannot be opened"), std::string::npos);

  r = describe("* 22 EXPUNGE");
  EXPECT_EQ(r.decoded["number"], 22);

  r = describe("a2 NO [TRYCREATE] No such mailbox");
  EXPECT_EQ(r.decoded["code"], "TRYCREATE");
  EXPECT_NE(r.note.find("create it first"), std::string::npos);

  r = describe("* OK [ALERT] System shutdown in 10 minutes");
  EXPECT_NE(r.note.find("must show to the user"), std::string::npos);

  r = describe("* BYE Autologout; idle for too long");
  EXPECT_EQ(r.status, "BYE");
}

TEST(ImapResponse, ContinuationAndNotAResponse) {
  auto line = one_line("+ YGgGCSqGSIb3EgECAgIAb1kwV6ADAgEFoQMCAQ+iSzBJoAMCAQGiQgRAtHTEuOP2");
  auto r = parse_response(line);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, Response::Kind::continuation);
  EXPECT_EQ(r->text.substr(0, 6), "YGgGCS");
  EXPECT_FALSE(parse_response(one_line("")));
  EXPECT_FALSE(parse_response(one_line("\x16\x03\x01")));
}

TEST(ImapResponse, FetchItemBeforeLiteral) {
  EXPECT_EQ(fetch_item_before_literal("* 1 FETCH (BODY[] {919}"), "BODY[]");
  EXPECT_EQ(fetch_item_before_literal("* 1 FETCH (UID 3 BODY[HEADER.FIELDS (FROM TO)] {20}"),
            "BODY[HEADER.FIELDS (FROM TO)]");
  EXPECT_EQ(fetch_item_before_literal("* 1 FETCH (RFC822 {5}"), "RFC822");
  EXPECT_EQ(fetch_item_before_literal("* 1 FETCH (BINARY[1]<0> ~{5}"), "BINARY[1]<0>");
  EXPECT_EQ(fetch_item_before_literal("* LIST () \"/\" {5}"), "");
}

}  // namespace
}  // namespace mailtap::decode::imap
