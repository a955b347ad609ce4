#include "mailtap/decode/pop3_decoder.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <string>
#include <vector>

#include "decode/dot_stuff.h"
#include "decode/imap_test_support.h"
#include "mailtap/decode/redaction.h"

namespace mailtap::decode {
namespace {

using nlohmann::json;
using testing::DecoderHarness;
using transcript::EventType;
using transcript::FrameKind;
using transcript::Party;

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  std::string out;
  char buf[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", md[i]);
    out += buf;
  }
  return out;
}

DecoderHarness pop3_harness(bool reveal = false) {
  DecodeOptions options;
  options.reveal_secrets = reveal;
  return DecoderHarness(make_pop3_decoder(options));
}

json find_decoded(const DecoderHarness& h, const std::string& key, const json& value) {
  for (const auto& d : h.decoded()) {
    if (d.contains(key) && d[key] == value) return d;
  }
  return nullptr;
}

std::string all_notes(const DecoderHarness& h) {
  std::string out;
  for (const auto& l : h.lines()) out += l.value("note", "") + "\n";
  return out;
}

// The message as the mailbox holds it, and as POP3 sends it (dot-stuffed).
const std::string kMessage =
    "From: sender@example.com\r\n"
    "To: ******@gmx.com\r\n"
    "Subject: telnet\r\n"
    "Date: Sat, 13 Jul 2013 10:00:00 +0000\r\n"
    "Message-ID: <1@example.com>\r\n"
    "\r\n"
    "the message\r\n"
    ".a line that starts with a dot\r\n"
    "..two dots\r\n"
    ".\r\n"  // a line holding only a dot (as content, stuffed on the wire)
    "end\r\n";

using testing::dot_stuff;

// The POP3 exchange of seed 003 (telnet to pop.gmx.com 110), with a real message for RETR.
// Body bytes are cut at `cut` (0: one piece), as the session layer may deliver them.
void play_seed(DecoderHarness& h, size_t cut = 0) {
  h.server("+OK POP server ready H migmx017\r\n");
  h.client("user ******@gmx.com\r\n");
  h.server("+OK password required for user \"******@gmx.com\"\r\n");
  h.client("pass hunter2 with spaces\r\n");
  h.server("+OK mailbox \"mojazel@gmx.com\" has 8 messages (61895 octets) H migmx017\r\n");
  h.client("list\r\n");
  h.server("+OK\r\n");
  h.server("1 1200\r\n");
  h.server("2 " + std::to_string(dot_stuff(kMessage).size()) + "\r\n");
  h.server(".\r\n");
  h.client("retr 2\r\n", false, 1000);
  h.server("+OK " + std::to_string(dot_stuff(kMessage).size()) + " octets\r\n", false, 1000);
  std::string body = dot_stuff(kMessage);
  if (cut > 0 && cut < body.size()) {
    h.server_body(body.substr(0, cut));
    h.server_body(body.substr(cut));
  } else {
    h.server_body(body);
  }
  h.server(".\r\n");
  h.client("quit\r\n");
  h.server("+OK POP server signing off\r\n");
}

TEST(Pop3Decoder, SeedSessionIsExplained) {
  auto h = pop3_harness();
  play_seed(h);

  json greeting = find_decoded(h, "greeting", true);
  EXPECT_EQ(greeting["status"], "+OK");

  json user = find_decoded(h, "command", "USER");
  EXPECT_EQ(user["user"], "******@gmx.com");

  json pass = find_decoded(h, "command", "PASS");
  EXPECT_EQ(pass["password"], redact("hunter2 with spaces", DecodeOptions{}));
  for (const auto& l : h.lines()) EXPECT_EQ(l.dump().find("hunter2"), std::string::npos) << l;
  EXPECT_TRUE(h.warned("credentials_before_tls"));

  // Replies name their command and latency.
  std::vector<json> replies;
  for (const auto& d : h.decoded()) {
    if (d.contains("status") && d.contains("command")) replies.push_back(d);
  }
  ASSERT_EQ(replies.size(), 5u);
  EXPECT_EQ(replies[0]["command"], "USER");
  EXPECT_EQ(replies[0]["latency_us"], 100);
  EXPECT_EQ(replies[1]["command"], "PASS");
  EXPECT_EQ(replies[1]["user"], "******@gmx.com");
  // Seed 003: "+OK mailbox ... has 8 messages (61895 octets)": "the number of messages".
  EXPECT_EQ(replies[1]["messages"], 8);
  EXPECT_EQ(replies[1]["size"], 61895);
  EXPECT_EQ(replies[2]["command"], "LIST");
  EXPECT_TRUE(replies[2]["multiline"].get<bool>());
  EXPECT_EQ(replies[3]["command"], "RETR");
  EXPECT_EQ(replies[3]["latency_us"], 1000);
  EXPECT_EQ(replies[3]["octets"], dot_stuff(kMessage).size());
  EXPECT_EQ(replies[4]["command"], "QUIT");

  json list_end = find_decoded(h, "end_of", "LIST");
  EXPECT_EQ(list_end["count"], 2);
  EXPECT_EQ(list_end["total_size"], 1200 + dot_stuff(kMessage).size());

  json retr_end = find_decoded(h, "end_of", "RETR");
  ASSERT_TRUE(retr_end.is_object());
  EXPECT_EQ(retr_end["message"]["size"], kMessage.size());
  EXPECT_EQ(retr_end["message"]["wire_size"], dot_stuff(kMessage).size());
  EXPECT_EQ(retr_end["message"]["sha256"], sha256_hex(kMessage));
  EXPECT_EQ(retr_end["message"]["headers"]["subject"], "telnet");
  EXPECT_EQ(retr_end["message"]["headers"]["message_id"], "<1@example.com>");
  EXPECT_EQ(retr_end["latency_us"], 1200);

  std::string notes = all_notes(h);
  EXPECT_NE(notes.find("USER: the client names the mailbox user \"******@gmx.com\""),
            std::string::npos)
      << notes;
  EXPECT_NE(notes.find("message 1: 1200 bytes"), std::string::npos) << notes;
  EXPECT_NE(notes.find("; the mailbox holds 8 message(s), 61895 bytes"), std::string::npos)
      << notes;
  EXPECT_NE(notes.find("; the server announces " + std::to_string(dot_stuff(kMessage).size()) +
                       " bytes; the message follows"),
            std::string::npos)
      << notes;
  EXPECT_NE(notes.find("end of the message (RETR 2)"), std::string::npos) << notes;
  for (const auto& l : h.lines()) EXPECT_TRUE(l.contains("note")) << l;
}

TEST(Pop3Decoder, BodyCutAnywhereGivesTheSameSummary) {
  auto whole = pop3_harness();
  play_seed(whole);
  json expected = find_decoded(whole, "end_of", "RETR")["message"];
  size_t n = dot_stuff(kMessage).size();
  for (size_t cut = 1; cut < n; ++cut) {
    auto h = pop3_harness();
    play_seed(h, cut);
    ASSERT_EQ(find_decoded(h, "end_of", "RETR")["message"], expected) << "cut " << cut;
    ASSERT_EQ(find_decoded(h, "command", "QUIT")["command"], "QUIT") << "cut " << cut;
  }
}

TEST(Pop3Decoder, ServerBytesInOneByteEventsOrOneBigEvent) {
  std::string wire = "+OK ready\r\n";
  std::string reply = "+OK message follows\r\n" + dot_stuff(kMessage) + ".\r\n+OK bye\r\n";
  for (int variant = 0; variant < 2; ++variant) {
    auto h = pop3_harness();
    h.server(wire);
    h.client("RETR 1\r\nQUIT\r\n");  // pipelined
    if (variant == 0) {
      for (char c : reply) h.server(std::string(1, c));
    } else {
      h.server(reply);
    }
    json end = find_decoded(h, "end_of", "RETR");
    ASSERT_TRUE(end.is_object()) << variant;
    EXPECT_EQ(end["message"]["sha256"], sha256_hex(kMessage)) << variant;
    json quit;
    for (const auto& d : h.decoded()) {
      if (d.value("command", "") == "QUIT" && d.contains("status")) quit = d;
    }
    EXPECT_EQ(quit["status"], "+OK") << variant;
  }
}

TEST(Pop3Decoder, MultiLineDependsOnTheCommand) {
  auto h = pop3_harness();
  h.server("+OK ready\r\n");
  h.client("LIST 1\r\n");
  h.server("+OK 1 120\r\n");  // single line: LIST with an argument
  h.client("UIDL\r\n");
  h.server("+OK\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\r\n.\r\n");
  h.client("RETR 9\r\n");
  h.server("-ERR no such message\r\n");  // an error is never multi-line
  h.client("STAT\r\n");
  h.server("+OK 2 320\r\n");
  h.client("TOP 1 0\r\n");
  h.server("+OK\r\nSubject: top\r\n\r\n.\r\n");
  h.client("NOOP\r\n");
  h.server("+OK\r\n");

  json list1 = find_decoded(h, "command", "LIST");
  std::vector<json> d = h.decoded();
  json list_reply, stat_reply, retr_reply, noop_reply;
  for (const auto& x : d) {
    if (!x.contains("status")) continue;
    std::string c = x.value("command", "");
    if (c == "LIST") list_reply = x;
    if (c == "STAT") stat_reply = x;
    if (c == "RETR") retr_reply = x;
    if (c == "NOOP") noop_reply = x;
  }
  EXPECT_EQ(list_reply["size"], 120);
  EXPECT_FALSE(list_reply.contains("multiline"));
  EXPECT_EQ(retr_reply["status"], "-ERR");
  EXPECT_EQ(stat_reply["messages"], 2);
  EXPECT_EQ(stat_reply["size"], 320);
  EXPECT_EQ(noop_reply["status"], "+OK");
  json uid = find_decoded(h, "uid", "QhdPYR:00WBw1Ph7x7");
  EXPECT_EQ(uid["message"], "2");
  json top = find_decoded(h, "end_of", "TOP");
  EXPECT_EQ(top["message"]["headers"]["subject"], "top");
  EXPECT_FALSE(h.warned("pop3_malformed_reply"));
}

TEST(Pop3Decoder, CapaListAndTlsWarnings) {
  auto h = pop3_harness();
  h.server("+OK ready\r\n");
  h.client("CAPA\r\n");
  h.server(
      "+OK Capability list follows\r\nTOP\r\nUSER\r\nSASL PLAIN LOGIN\r\nRESP-CODES\r\n"
      "PIPELINING\r\nUIDL\r\nIMPLEMENTATION Dovecot\r\n.\r\n");
  json end = find_decoded(h, "end_of", "CAPA");
  ASSERT_TRUE(end.is_object());
  EXPECT_EQ(end["capabilities"].size(), 7u);
  EXPECT_EQ(end["auth_mechanisms"], json::array({"PLAIN", "LOGIN"}));
  EXPECT_TRUE(h.warned("starttls_not_offered"));
  EXPECT_TRUE(h.warned("auth_offered_cleartext"));

  auto tls = pop3_harness();
  tls.server("+OK ready\r\n");
  tls.client("CAPA\r\n");
  tls.server("+OK\r\nSTLS\r\nUSER\r\n.\r\n");
  EXPECT_FALSE(tls.warned("starttls_not_offered"));
  tls.client("STLS\r\n");
  tls.server("+OK Begin TLS negotiation\r\n");
  EXPECT_NE(tls.last()["note"].get<std::string>().find("TLS starts now"), std::string::npos);
  tls.event(EventType::tls, {{"leg", "client"}});
  tls.event(EventType::tls, {{"leg", "server"}});
  tls.client("USER bob\r\n", true);
  tls.server("+OK\r\n", true);
  tls.client("PASS pw\r\n", true);
  EXPECT_FALSE(tls.warned("credentials_before_tls"));
}

TEST(Pop3Decoder, RespCodes) {
  auto h = pop3_harness();
  h.server("+OK ready\r\n");
  h.client("USER a\r\n");
  h.server("+OK\r\n");
  h.client("PASS b\r\n");
  h.server("-ERR [IN-USE] Mailbox locked by another session\r\n");
  json r = h.last()["decoded"];
  EXPECT_EQ(r["code"], "IN-USE");
  EXPECT_EQ(r["text"], "Mailbox locked by another session");
  EXPECT_NE(h.last()["note"].get<std::string>().find("locked by another session"),
            std::string::npos);
  h.client("PASS c\r\n");
  h.server("-ERR [SYS/TEMP] try later\r\n");
  EXPECT_EQ(h.last()["decoded"]["code"], "SYS/TEMP");
  h.client("PASS d\r\n");
  h.server("-ERR [AUTH] bad password\r\n");
  EXPECT_EQ(h.last()["decoded"]["code"], "AUTH");
  EXPECT_NE(h.last()["note"].get<std::string>().find("credentials are wrong"), std::string::npos);
}

TEST(Pop3Decoder, ApopDigestIsRedactedAndTimestampKept) {
  auto h = pop3_harness();
  h.server("+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n");
  EXPECT_EQ(h.last()["decoded"]["apop_timestamp"], "<1896.697170952@dbc.mtview.ca.us>");
  json& apop = h.client("APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n");
  EXPECT_EQ(apop["decoded"]["user"], "mrose");
  EXPECT_EQ(apop["text"].get<std::string>().find("c4c9334b"), std::string::npos);
  EXPECT_EQ(apop["decoded"]["timestamp"], "<1896.697170952@dbc.mtview.ca.us>");
  h.server("+OK mrose's maildrop has 2 messages (320 octets)\r\n");
  EXPECT_EQ(h.last()["decoded"]["user"], "mrose");
  EXPECT_NE(h.last()["note"].get<std::string>().find("logged in as mrose"), std::string::npos);
}

TEST(Pop3Decoder, AuthPlainAndLogin) {
  const std::string plain = "AGFsaWNlAHdvbmRlcmxhbmQ=";  // \0alice\0wonderland
  auto h = pop3_harness();
  h.server("+OK ready\r\n");
  json& ir = h.client("AUTH PLAIN " + plain + "\r\n");
  EXPECT_EQ(ir["text"].get<std::string>().find(plain), std::string::npos);
  EXPECT_EQ(ir["decoded"]["mechanism"], "PLAIN");
  h.server("+OK Logged in.\r\n");
  EXPECT_EQ(h.last()["decoded"]["command"], "AUTH");
  EXPECT_TRUE(h.last()["decoded"].contains("sasl"));
  EXPECT_TRUE(h.warned("credentials_before_tls"));

  auto l = pop3_harness();
  l.server("+OK ready\r\n");
  l.client("AUTH LOGIN\r\n");
  l.server("+ VXNlcm5hbWU6\r\n");
  l.client("YWxpY2U=\r\n");
  l.server("+ UGFzc3dvcmQ6\r\n");
  json& pw = l.client("d29uZGVybGFuZA==\r\n");
  EXPECT_TRUE(pw.value("redacted", false));
  EXPECT_EQ(pw["text"].get<std::string>().find("d29uZGVybGFuZA"), std::string::npos);
  l.server("+OK Logged in.\r\n");
  for (const auto& line : l.lines()) {
    EXPECT_EQ(line.dump().find("wonderland"), std::string::npos) << line;
  }
  std::string notes = all_notes(l);
  EXPECT_NE(notes.find("Username"), std::string::npos) << notes;
  EXPECT_NE(notes.find("alice"), std::string::npos) << notes;

  auto list = pop3_harness();
  list.server("+OK ready\r\n");
  list.client("AUTH\r\n");
  list.server("+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n");
  EXPECT_EQ(find_decoded(list, "end_of", "AUTH")["auth_mechanisms"],
            json::array({"PLAIN", "LOGIN"}));
}

TEST(Pop3Decoder, PassSplitAtEveryByteNeverShowsThePassword) {
  const std::string wire = "PASS hunter2\r\n";
  for (size_t cut = 1; cut < wire.size(); ++cut) {
    auto h = pop3_harness();
    h.server("+OK ready\r\n");
    h.client(wire.substr(0, cut));
    h.client(wire.substr(cut));
    std::string shown = h.shown_text(Party::client);
    EXPECT_EQ(shown.find("unter"), std::string::npos) << "cut " << cut << ": " << shown;
    EXPECT_EQ(find_decoded(h, "command", "PASS")["password"], redact("hunter2", DecodeOptions{}));
  }
}

TEST(Pop3Decoder, RevealSecretsKeepsThePassword) {
  auto h = pop3_harness(/*reveal=*/true);
  h.server("+OK ready\r\n");
  json& line = h.client("PASS hunter2\r\n");
  EXPECT_EQ(line["text"], "PASS hunter2\r\n");
  EXPECT_EQ(line["decoded"]["password"], "hunter2");
}

TEST(Pop3Decoder, ProtocolBreakageIsWarnedNotFatal) {
  auto h = pop3_harness();
  h.server("+OK ready\r\n");
  h.server("+OK surprise\r\n");
  EXPECT_TRUE(h.warned("pop3_unexpected_reply"));
  h.server("hello?\r\n");
  EXPECT_TRUE(h.warned("pop3_malformed_reply"));
  std::string junk;
  for (int i = 0; i < 4000; ++i) junk += static_cast<char>((i * 97 + 3) % 256);
  h.client(junk);
  h.server(junk);
  h.client(std::string(100000, 'x') + "\r\n");
  h.client("NOOP\r\n");
  EXPECT_EQ(h.last()["decoded"]["command"], "NOOP");
}

TEST(Pop3Decoder, DroppedClientBytesAreLabelledAndRedacted) {
  auto h = pop3_harness();
  h.server("+OK ready\r\n");
  h.client("STLS\r\n");
  json& dropped = h.data(Party::client, Party::mailtap, FrameKind::line, "PASS secret1\r\n");
  EXPECT_NE(dropped["note"].get<std::string>().find("dropped by mailtap"), std::string::npos);
  EXPECT_EQ(dropped["text"].get<std::string>().find("secret1"), std::string::npos);
  h.server("+OK begin TLS\r\n");
  EXPECT_EQ(h.last()["decoded"]["command"], "STLS");
}

}  // namespace
}  // namespace mailtap::decode

namespace mailtap::decode {
namespace {

// The cleartext "+OK" to STLS is recorded after the server leg's handshake event (the proxy
// finishes the upstream handshake first); credentials sent right after it are not in cleartext.
TEST(Pop3Decoder, StlsReplyRecordedAfterTheHandshakeKeepsTheServerLegEncrypted) {
  auto h = pop3_harness();
  h.server("+OK ready\r\n");
  h.client("STLS\r\n");
  h.event(EventType::tls, {{"leg", "server"}});
  h.server("+OK Begin TLS negotiation now.\r\n", /*tls=*/false);
  h.event(EventType::tls, {{"leg", "client"}});
  h.client("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", true);
  EXPECT_FALSE(h.warned("credentials_before_tls"));
  auto clear = pop3_harness();
  clear.server("+OK ready\r\n", false);
  clear.client("USER alice\r\n", true);
  clear.server("+OK\r\n", false);
  clear.client("PASS secret\r\n", true);
  EXPECT_TRUE(clear.warned("credentials_before_tls"));
}

}  // namespace
}  // namespace mailtap::decode
