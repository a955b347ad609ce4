// --to-script on transcripts recorded by `mailtap proxy` in front of the sandbox (swaks and curl
// with CRAM-MD5): the client side becomes C: lines, SASL becomes ${sasl}, volatile server values
// become wildcards, and the script reads back to the same items.
#include "mailtap/run/transcript_import.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "mailtap/run/expectation.h"
#include "mailtap/run/script_parser.h"
#include "mailtap/run/template.h"

namespace mailtap::run {
namespace {

std::string data(const char* name) {
  return std::string(MAILTAP_SOURCE_DIR) + "/tests/run/data/" + name;
}

Script import(const char* name) {
  return import_transcript(transcript::read_transcript(data(name)));
}

std::vector<std::string> texts(const Script& s, ScriptItem::Kind kind) {
  std::vector<std::string> out;
  for (const auto& item : s.items)
    if (item.kind == kind) out.push_back(item.text);
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(RunTranscriptImport, SmtpCaptureFromSwaks) {
  Script s = import("smtp-starttls-cram-md5-swaks.jsonl");
  EXPECT_EQ(s.protocol, Protocol::smtp);
  EXPECT_EQ(s.tls, TlsMode::starttls);
  EXPECT_EQ(s.target, "127.0.0.1:17587");
  auto sent = texts(s, ScriptItem::Kind::send);
  auto expected = texts(s, ScriptItem::Kind::expect);
  EXPECT_EQ(sent.front(), "EHLO vm");
  EXPECT_TRUE(contains(sent, "STARTTLS"));
  // The CRAM-MD5 answer depends on the server's challenge: recomputed, never replayed.
  EXPECT_TRUE(contains(sent, "AUTH CRAM-MD5"));
  EXPECT_TRUE(contains(sent, "${sasl}"));
  EXPECT_TRUE(contains(expected, "334 *"));
  // The user comes from the capture; the password was redacted and must be given.
  ASSERT_EQ(s.items.front().kind, ScriptItem::Kind::set);
  EXPECT_EQ(s.items.front().name, "user");
  EXPECT_EQ(s.items.front().text, "bob");
  EXPECT_TRUE(std::any_of(s.notes.begin(), s.notes.end(), [](const std::string& n) {
    return n.find("--var pass=") != std::string::npos;
  }));
  // Message content is unstuffed (the runner stuffs it again) and ends with ".".
  EXPECT_TRUE(contains(sent, ".dotline"));
  EXPECT_FALSE(contains(sent, "..dotline"));
  EXPECT_TRUE(contains(sent, "."));
  // Volatile values generalised, stable ones kept.
  EXPECT_TRUE(contains(expected, "250 2.0.0 Ok: queued as *"));
  EXPECT_TRUE(contains(expected, "220 mail.sandbox.test ESMTP Postfix (mailtap sandbox)"));
  EXPECT_TRUE(contains(expected, "250-AUTH PLAIN LOGIN CRAM-MD5"));
  // Nothing the proxy said itself, no redaction token anywhere.
  for (const auto& item : s.items) EXPECT_EQ(item.text.find("<redacted"), std::string::npos);
}

TEST(RunTranscriptImport, ImapCaptureFromCurl) {
  Script s = import("imap-starttls-cram-md5-curl.jsonl");
  auto sent = texts(s, ScriptItem::Kind::send);
  auto expected = texts(s, ScriptItem::Kind::expect);
  EXPECT_TRUE(contains(sent, "A004 AUTHENTICATE CRAM-MD5"));
  EXPECT_TRUE(contains(sent, "${sasl}"));
  EXPECT_TRUE(contains(expected, "+ *"));
  EXPECT_TRUE(contains(expected, "* OK [UIDVALIDITY *] UIDs valid"));
  EXPECT_TRUE(contains(expected, "* OK [UIDNEXT *] Predicted next UID"));
  EXPECT_TRUE(contains(expected, "* * EXISTS"));
  // Completion text with timings is generalised; the response code is kept.
  EXPECT_TRUE(contains(expected, "A005 OK [READ-WRITE] *"));
  EXPECT_TRUE(contains(expected, "A006 OK *"));
  // FLAGS in a FETCH depend on the message's state.
  EXPECT_TRUE(contains(expected, "* 1 FETCH (UID 1 *BODY[] {838}"));
  // The literal's lines are expectations too; a date inside them is a wildcard.
  EXPECT_TRUE(contains(expected, "Subject: hi"));
  EXPECT_TRUE(std::any_of(expected.begin(), expected.end(), [](const std::string& e) {
    return e.rfind("\tfor <alice@sandbox.test>; *", 0) == 0;
  }));
  EXPECT_EQ(s.items.front().text, "alice");  // set user=alice, from the decoded CRAM-MD5 answer
}

TEST(RunTranscriptImport, Pop3CaptureTakesTheUserFromAClearCramMd5Answer) {
  Script s = import("pop3-implicit-cram-md5-curl.jsonl");
  EXPECT_EQ(s.tls, TlsMode::implicit);
  ASSERT_EQ(s.items.front().kind, ScriptItem::Kind::set);
  EXPECT_EQ(s.items.front().text, "alice");
  auto sent = texts(s, ScriptItem::Kind::send);
  EXPECT_TRUE(contains(sent, "AUTH CRAM-MD5"));
  EXPECT_TRUE(contains(sent, "${sasl}"));
  EXPECT_TRUE(contains(sent, "RETR 1"));
}

TEST(RunTranscriptImport, FormattedScriptReadsBackToTheSameItems) {
  for (const char* name :
       {"smtp-starttls-cram-md5-swaks.jsonl", "imap-starttls-cram-md5-curl.jsonl",
        "pop3-implicit-cram-md5-curl.jsonl"}) {
    Script s = import(name);
    std::string text = format_script(s);
    Script back = parse_script(text, "converted.mtscript");
    EXPECT_EQ(back.protocol, s.protocol) << name;
    EXPECT_EQ(back.tls, s.tls) << name;
    EXPECT_EQ(back.target, s.target) << name;
    ASSERT_EQ(back.items.size(), s.items.size()) << name;
    for (size_t i = 0; i < s.items.size(); ++i) {
      EXPECT_EQ(back.items[i].kind, s.items[i].kind) << name << " item " << i;
      EXPECT_EQ(back.items[i].text, s.items[i].text) << name << " item " << i;
      EXPECT_EQ(back.items[i].raw, s.items[i].raw) << name << " item " << i;
    }
  }
}

TEST(RunTranscriptImport, GeneralisedLinesStillMatchTheCapturedOnes) {
  // Every expectation made from a captured line must match that line.
  const std::vector<std::pair<Protocol, std::string>> lines = {
      {Protocol::smtp, "250 2.0.0 Ok: queued as 5832EA72677"},
      {Protocol::smtp, "250 2.6.0 <20201014.123@example.com> Queued mail for delivery"},
      {Protocol::imap, "* OK [UIDVALIDITY 1795352011] UIDs valid"},
      {Protocol::imap, "* 17 EXISTS"},
      {Protocol::imap, "* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent) MODSEQ (12) BODY[] {838}"},
      {Protocol::imap, "Date: Sun, 22 Nov 2026 12:53:31 +0000"},
      {Protocol::imap, "* 1 FETCH (INTERNALDATE \"22-Nov-2026 12:53:31 +0000\")"},
      {Protocol::pop3, "+OK Dovecot ready. <1896.697170952@dbc.mtview.ca.us>"},
      {Protocol::pop3, "+OK 4 messages:"},
      {Protocol::pop3, "+OK 2 320"},
      {Protocol::smtp, "~strange line ending with a star *"},
      {Protocol::smtp, "literal ${not_a_variable} in a reply"},
  };
  for (const auto& [protocol, line] : lines) {
    std::string text = generalise_server_line(protocol, line);
    Script s = parse_script("S: " + text + "\n", "t");
    ASSERT_EQ(s.items.size(), 1u) << text;
    std::map<std::string, std::string> no_vars;
    ExpansionContext ctx;
    ctx.variables = &no_vars;
    std::string error;
    auto expanded = expand_template(s.items[0].text, ctx, error);
    ASSERT_TRUE(expanded) << error;
    Expectation e = parse_expectation(*expanded, {});
    EXPECT_TRUE(match_block({e}, {{line, 0}}).ok) << line << " -> " << text;
  }
  EXPECT_EQ(generalise_server_line(Protocol::smtp, "250 2.0.0 Ok: queued as 5832EA72677"),
            "250 2.0.0 Ok: queued as *");
  EXPECT_EQ(generalise_server_line(Protocol::imap, "* 17 EXISTS"), "* * EXISTS");
  ServerLineContext tagged;
  tagged.tagged_completion = true;
  EXPECT_EQ(generalise_server_line(Protocol::imap,
                                   "a3 OK [READ-ONLY] Examine completed (0.002 secs).", tagged),
            "a3 OK [READ-ONLY] *");
  // The same words in message content are not a completion.
  EXPECT_EQ(generalise_server_line(Protocol::imap, "Subject OK fine"), "Subject OK fine");
}

TEST(RunTranscriptImport, ExactModeKeepsServerLines) {
  ImportOptions exact;
  exact.generalise = false;
  Script s = import_transcript(
      transcript::read_transcript(data("smtp-starttls-cram-md5-swaks.jsonl")), exact);
  auto expected = texts(s, ScriptItem::Kind::expect);
  EXPECT_TRUE(contains(expected, "250 2.0.0 Ok: queued as 5832EA72677"));
}

}  // namespace
}  // namespace mailtap::run
