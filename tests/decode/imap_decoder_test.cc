#include "mailtap/decode/imap_decoder.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <string>
#include <vector>

#include "decode/imap_test_support.h"
#include "mailtap/decode/redaction.h"

namespace mailtap::decode {
namespace {

using nlohmann::json;
using testing::DecoderHarness;
using testing::Frame;
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

DecoderHarness imap_harness(bool reveal = false) {
  DecodeOptions options;
  options.reveal_secrets = reveal;
  return DecoderHarness(make_imap_decoder(options));
}

// The first decoded object of a whole command or response that has `key` == `value` (not the
// partial decode of a line that announced a literal).
json find_decoded(const DecoderHarness& h, const std::string& key, const json& value) {
  for (const auto& d : h.decoded()) {
    if (d.contains("continued")) continue;
    if (d.contains(key) && d[key] == value) return d;
  }
  return nullptr;
}

// A conversation: who sends which wire bytes, in order.
struct Step {
  bool from_client;
  std::string wire;
};

// Feeds a conversation framed as the session layer frames it, each frame optionally re-cut.
// The clock advances only at the start of each original frame, so latencies do not depend on
// the cut.
void play(DecoderHarness& h, const std::vector<Step>& steps, size_t cut = 0, bool bytewise = false,
          bool tls = false) {
  testing::ImapFramer client_framer;
  testing::ImapFramer server_framer;
  for (const Step& s : steps) {
    auto& framer = s.from_client ? client_framer : server_framer;
    for (const Frame& f : framer.feed(s.wire)) {
      std::vector<Frame> pieces = bytewise ? testing::byte_frames({f})
                                           : testing::split_frames({f}, cut);
      bool first = true;
      for (const Frame& piece : pieces) {
        h.data(s.from_client ? Party::client : Party::server,
               s.from_client ? Party::server : Party::client, piece.kind, piece.bytes, tls,
               first ? 1000 : 0);
        first = false;
      }
    }
  }
}

// Decoded objects of whole lines only (what must not depend on how the bytes were cut).
std::vector<json> line_decodes(const DecoderHarness& h) {
  std::vector<json> out;
  for (const auto& d : h.decoded()) {
    if (d.contains("partial_line") || d.contains("literal")) continue;
    out.push_back(d);
  }
  return out;
}

const char* kSeedMessage =
    "Return-Path: sender@example.com\r\n"
    "Received: from client.example.com ([192.0.2.1])\r\n"
    "        by mx1.example.com with ESMTP\r\n"
    "        id <20040120203404.CCCC18555.mx1.example.com@client.example.com>\r\n"
    "        for <recipient@example.com>; Tue, 28 Aug 2021 22:34:24 +0200\r\n"
    "From: sender@example.com\r\n"
    "Subject: Test message\r\n"
    "To: example@sherlog.cz\r\n"
    "Message-Id: <20040120203404.CCCC18555.mx1.example.com@client.example.com>\r\n"
    "\r\n"
    "This is a test message.\r\n";

// The IMAP session of seed 001 (telnet to Dovecot on 143).
std::vector<Step> seed_001() {
  std::string msg = kSeedMessage;
  return {
      {false,
       "* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE IDLE STARTTLS "
       "AUTH=PLAIN AUTH=LOGIN] Dovecot ready.\r\n"},
      {true, "a1 login example@sherlog.cz 12345\r\n"},
      {false,
       "a1 OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT "
       "SORT=DISPLAY THREAD=REFERENCES MULTIAPPEND UNSELECT CHILDREN NAMESPACE UIDPLUS "
       "LIST-EXTENDED CONDSTORE QRESYNC ESEARCH SPECIAL-USE BINARY MOVE] Logged in\r\n"},
      {true, "a2 LIST \"\" \"*\"\r\n"},
      {false,
       "* LIST (\\HasNoChildren) \".\" Trash\r\n"
       "* LIST (\\HasNoChildren) \".\" Spam\r\n"
       "* LIST (\\HasNoChildren) \".\" Sent\r\n"
       "* LIST (\\HasNoChildren) \".\" Drafts\r\n"
       "* LIST (\\HasNoChildren) \".\" INBOX\r\n"
       "a2 OK List completed.\r\n"},
      {true, "a3 EXAMINE INBOX\r\n"},
      {false,
       "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
       "* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n"
       "* 1 EXISTS\r\n"
       "* 1 RECENT\r\n"
       "* OK [UNSEEN 1] First unseen.\r\n"
       "* OK [UIDVALIDITY 1630066715] UIDs valid\r\n"
       "* OK [UIDNEXT 2] Predicted next UID\r\n"
       "a3 OK [READ-ONLY] Examine completed (0.000 secs).\r\n"},
      {true, "a4 FETCH 1 BODY[]\r\n"},
      {false, "* 1 FETCH (BODY[] {" + std::to_string(msg.size()) + "}\r\n" + msg +
                  ")\r\na4 OK Fetch completed.\r\n"},
      {true, "a5 LOGOUT\r\n"},
      {false, "* BYE Logging out\r\na5 OK Logout completed.\r\n"},
  };
}

TEST(ImapDecoder, SeedSessionIsExplainedStepByStep) {
  auto h = imap_harness();
  play(h, seed_001());

  json greeting = find_decoded(h, "greeting", true);
  ASSERT_TRUE(greeting.is_object());
  EXPECT_EQ(greeting["status"], "OK");
  EXPECT_NE(std::find(greeting["capabilities"].begin(), greeting["capabilities"].end(), "STARTTLS"),
            greeting["capabilities"].end());
  EXPECT_EQ(greeting["auth_mechanisms"], json::array({"PLAIN", "LOGIN"}));

  json login = find_decoded(h, "command", "LOGIN");
  ASSERT_TRUE(login.is_object());
  EXPECT_EQ(login["tag"], "a1");
  EXPECT_EQ(login["user"], "example@sherlog.cz");
  EXPECT_TRUE(is_redaction_token(login["password"].get<std::string>()));
  // The password never appears in the transcript, raw or decoded.
  for (const auto& l : h.lines()) EXPECT_EQ(l.dump().find("12345"), std::string::npos) << l;
  EXPECT_TRUE(h.warned("credentials_before_tls"));
  EXPECT_TRUE(h.warned("auth_offered_cleartext"));
  EXPECT_FALSE(h.warned("starttls_not_offered"));

  // Completions name their command, with latency = completion time - command time (1 ms steps).
  std::vector<json> completions;
  for (const auto& d : h.decoded()) {
    if (d.value("kind", "") == "tagged") completions.push_back(d);
  }
  ASSERT_EQ(completions.size(), 5u);
  EXPECT_EQ(completions[0]["command"], "LOGIN");
  EXPECT_EQ(completions[0]["latency_us"], 1000);
  EXPECT_EQ(completions[0]["user"], "example@sherlog.cz");
  EXPECT_EQ(completions[1]["command"], "LIST");
  EXPECT_EQ(completions[1]["results"], 5);
  EXPECT_EQ(completions[1]["latency_us"], 6000);  // five LIST lines, then the OK

  const json& examine = completions[2];
  EXPECT_EQ(examine["command"], "EXAMINE");
  EXPECT_EQ(examine["mailbox"]["name"], "INBOX");
  EXPECT_EQ(examine["mailbox"]["exists"], 1);
  EXPECT_EQ(examine["mailbox"]["recent"], 1);
  EXPECT_EQ(examine["mailbox"]["unseen"], 1);
  EXPECT_EQ(examine["mailbox"]["uidvalidity"], 1630066715);
  EXPECT_EQ(examine["mailbox"]["uidnext"], 2);
  EXPECT_EQ(examine["mailbox"]["access"], "read-only");
  EXPECT_EQ(examine["mailbox"]["permanentflags"], "()");
  EXPECT_EQ(examine["mailbox"]["flags"].size(), 5u);

  // The FETCH response carries the message summary on its last line.
  json fetch = find_decoded(h, "type", "FETCH");
  ASSERT_TRUE(fetch.is_object());
  EXPECT_EQ(fetch["in_response_to"], "a4");
  const json& body = fetch["items"]["BODY[]"];
  EXPECT_EQ(body["size"], std::string(kSeedMessage).size());
  EXPECT_EQ(body["sha256"], sha256_hex(kSeedMessage));
  EXPECT_EQ(body["headers"]["subject"], "Test message");
  EXPECT_EQ(body["headers"]["from"], "sender@example.com");
  EXPECT_EQ(completions[3]["command"], "FETCH");
  EXPECT_EQ(completions[3]["results"], 1);

  json bye = find_decoded(h, "status", "BYE");
  EXPECT_EQ(bye["in_response_to"], "a5");
  EXPECT_EQ(completions[4]["command"], "LOGOUT");

  // Untagged LIST lines are attributed to a2 and name their mailbox.
  int lists = 0;
  for (const auto& d : h.decoded()) {
    if (d.value("type", "") != "LIST") continue;
    ++lists;
    EXPECT_EQ(d["in_response_to"], "a2");
    EXPECT_EQ(d["delimiter"], ".");
  }
  EXPECT_EQ(lists, 5);
  // Seed 001: "Server responses that start with * are called untagged ... they don't represent the
  // completion of a command". Said once, on the first untagged data line of a command.
  size_t said = 0;
  for (const auto& l : h.lines()) {
    std::string n = l.value("note", "");
    if (n.find("untagged \"*\"") != std::string::npos) {
      ++said;
      EXPECT_NE(n.find("(untagged \"*\": data for a2 LIST, not its completion; the line tagged a2 "
                       "ends it)"),
                std::string::npos)
          << n;
    }
  }
  EXPECT_EQ(said, 1u);

  // Every line carries a note.
  for (const auto& l : h.lines()) EXPECT_TRUE(l.contains("note")) << l.dump();
}

TEST(ImapDecoder, NotesReadLikeTheProtocol) {
  auto h = imap_harness();
  play(h, seed_001());
  std::string all;
  for (const auto& l : h.lines()) all += l.value("note", "") + "\n";
  EXPECT_NE(all.find("a1 LOGIN: the client logs in as \"example@sherlog.cz\""), std::string::npos)
      << all;
  EXPECT_NE(all.find("* 1 EXISTS: the mailbox holds 1 message"), std::string::npos) << all;
  EXPECT_NE(all.find("a4 OK: FETCH completed in 4.0 ms"), std::string::npos) << all;
  EXPECT_NE(all.find("a3 EXAMINE: the client opens read-only \"INBOX\""), std::string::npos)
      << all;
  EXPECT_NE(all.find("Subject: Test message"), std::string::npos) << all;
}

TEST(ImapDecoder, EveryCutOfEveryFrameDecodesTheSame) {
  auto whole = imap_harness();
  play(whole, seed_001());
  std::vector<json> expected = line_decodes(whole);
  size_t longest = 0;
  for (const auto& s : seed_001()) {
    for (const auto& f : testing::imap_frames(s.wire)) longest = std::max(longest, f.bytes.size());
  }
  for (size_t cut = 1; cut < longest; ++cut) {
    auto h = imap_harness();
    play(h, seed_001(), cut);
    ASSERT_EQ(line_decodes(h), expected) << "cut at " << cut;
    for (const auto& l : h.lines()) {
      ASSERT_EQ(l.dump().find("12345"), std::string::npos) << "cut at " << cut << ": " << l;
    }
  }
}

TEST(ImapDecoder, OneByteEventsDecodeTheSame) {
  auto whole = imap_harness();
  play(whole, seed_001());
  auto h = imap_harness();
  play(h, seed_001(), 0, /*bytewise=*/true);
  EXPECT_EQ(line_decodes(h), line_decodes(whole));
  for (const auto& l : h.lines()) EXPECT_EQ(l.dump().find("12345"), std::string::npos) << l;
}

TEST(ImapDecoder, FramingDoesNotMatterOnlyBytes) {
  // Literal content delivered as `line` frames and lines coalesced into one event: the decoder
  // counts literal bytes itself, as the server does.
  auto whole = imap_harness();
  play(whole, seed_001());
  auto h = imap_harness();
  for (const auto& s : seed_001()) {
    h.data(s.from_client ? Party::client : Party::server,
           s.from_client ? Party::server : Party::client, FrameKind::line, s.wire, false, 1000);
  }
  json fetch = find_decoded(h, "type", "FETCH");
  ASSERT_TRUE(fetch.is_object());
  EXPECT_EQ(fetch["items"]["BODY[]"]["sha256"], sha256_hex(kSeedMessage));
  EXPECT_TRUE(find_decoded(h, "command", "LOGOUT").is_object());
}

TEST(ImapDecoder, LiteralThatReadsLikeStartTlsIsData) {
  for (bool bytewise : {false, true}) {
    auto h = imap_harness();
    play(h, {{false, "* OK IMAP4rev1 ready\r\n"},
             {true, "a APPEND INBOX {12}\r\n"},
             {false, "+ Ready for literal data\r\n"},
             {true, "b STARTTLS\r\n\r\n"},
             {false, "a OK [APPENDUID 1 5] Append completed.\r\n"}},
         0, bytewise);
    EXPECT_FALSE(find_decoded(h, "command", "STARTTLS").is_object());
    json append = find_decoded(h, "command", "APPEND");
    ASSERT_TRUE(append.is_object());
    EXPECT_EQ(append["tag"], "a");
    EXPECT_EQ(append["message"]["size"], 12);
    EXPECT_EQ(append["message"]["sha256"], sha256_hex("b STARTTLS\r\n"));
    json done = find_decoded(h, "kind", "tagged");
    EXPECT_EQ(done["command"], "APPEND");
    json cont = find_decoded(h, "kind", "continuation");
    EXPECT_EQ(cont["in_response_to"], "a");
    EXPECT_FALSE(h.warned("imap_unknown_tag"));
  }
}

TEST(ImapDecoder, RefusedSynchronizingLiteralIsNotWaitedFor) {
  auto h = imap_harness();
  play(h, {{false, "* OK ready\r\n"},
           {true, "a1 APPEND INBOX {99999}\r\n"},
           {false, "a1 NO [LIMIT] Message too large\r\n"},
           {true, "a2 NOOP\r\n"},
           {false, "a2 OK NOOP completed\r\n"}});
  json noop = find_decoded(h, "command", "NOOP");
  ASSERT_TRUE(noop.is_object());
  EXPECT_EQ(noop["tag"], "a2");
  json refused = find_decoded(h, "tag", "a1");
  std::vector<json> done;
  for (const auto& d : h.decoded()) {
    if (d.value("kind", "") == "tagged") done.push_back(d);
  }
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0]["command"], "APPEND");
  EXPECT_EQ(done[0]["status"], "NO");
  EXPECT_EQ(done[1]["command"], "NOOP");
}

TEST(ImapDecoder, AbsurdLiteralIsReportedNotAwaited) {
  auto h = imap_harness();
  h.server("* OK ready\r\n");
  h.client("a1 APPEND INBOX {99999999999999999999}\r\n");
  EXPECT_TRUE(h.warned("imap_absurd_literal"));
  h.client("a2 NOOP\r\n");
  EXPECT_EQ(h.last()["decoded"]["command"], "NOOP");
}

TEST(ImapDecoder, LoginPasswordAsLiteralIsRedacted) {
  for (bool bytewise : {false, true}) {
    auto h = imap_harness();
    play(h, {{false, "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n"},
             {true, "a1 LOGIN {5}\r\n"},
             {false, "+ go ahead\r\n"},
             {true, "alice {11}\r\n"},
             {false, "+ go ahead\r\n"},
             {true, "sec ret\"pw!\r\n"},
             {false, "a1 OK Logged in\r\n"}},
         0, bytewise);
    for (const auto& l : h.lines()) {
      EXPECT_EQ(l.dump().find("sec ret"), std::string::npos) << l;
    }
    json login = find_decoded(h, "command", "LOGIN");
    ASSERT_TRUE(login.is_object());
    EXPECT_EQ(login["user"], "alice");
    EXPECT_EQ(login["password"], redact("sec ret\"pw!", DecodeOptions{}));
    EXPECT_TRUE(h.warned("logindisabled_ignored"));
    EXPECT_TRUE(h.warned("credentials_before_tls"));
    json done = find_decoded(h, "kind", "tagged");
    EXPECT_EQ(done["user"], "alice");
    if (!bytewise) {
      // The literal event itself carries the redaction token in its text.
      bool found = false;
      for (const auto& l : h.lines()) {
        if (l.value("frame", "") == "literal" && l.value("from", "") == "client" &&
            l.value("redacted", false)) {
          EXPECT_EQ(l["text"], redact("sec ret\"pw!", DecodeOptions{}));
          found = true;
        }
      }
      EXPECT_TRUE(found);
    }
  }
}

TEST(ImapDecoder, QuotedPasswordIsRedactedInTheRawLine) {
  auto h = imap_harness();
  h.server("* OK ready\r\n", true);
  json& line = h.client("a1 LOGIN \"alice\" \"p\\\"w d\"\r\n", true);
  std::string token = redact("p\"w d", DecodeOptions{});
  EXPECT_EQ(line["text"], "a1 LOGIN \"alice\" " + token + "\r\n");
  EXPECT_TRUE(line["redacted"].get<bool>());
  EXPECT_EQ(line["decoded"]["password"], token);
  EXPECT_FALSE(h.warned("credentials_before_tls"));  // both legs over TLS
}

TEST(ImapDecoder, RevealSecretsKeepsThePassword) {
  auto h = imap_harness(/*reveal=*/true);
  h.server("* OK ready\r\n");
  json& line = h.client("a1 LOGIN alice secret\r\n");
  EXPECT_EQ(line["text"], "a1 LOGIN alice secret\r\n");
  EXPECT_FALSE(line.contains("redacted"));
  EXPECT_EQ(line["decoded"]["password"], "secret");
}

TEST(ImapDecoder, LoginSplitAtEveryByteNeverShowsThePassword) {
  const std::string wire = "a1 LOGIN alice hunter2\r\n";
  for (size_t cut = 1; cut < wire.size(); ++cut) {
    auto h = imap_harness();
    h.server("* OK ready\r\n");
    h.client(wire.substr(0, cut));
    h.client(wire.substr(cut));
    std::string shown = h.shown_text(Party::client);
    EXPECT_EQ(shown.find("hunter2"), std::string::npos) << "cut " << cut << ": " << shown;
    EXPECT_EQ(shown.find("unter"), std::string::npos) << "cut " << cut << ": " << shown;
    json login = find_decoded(h, "command", "LOGIN");
    EXPECT_EQ(login["user"], "alice") << "cut " << cut;
  }
}

TEST(ImapDecoder, UntaggedResponsesGoToTheCommandThatAskedForThem) {
  auto h = imap_harness();
  play(h, {{false, "* PREAUTH ready\r\n"},
           {true, "a1 SELECT INBOX\r\na2 LIST \"\" %\r\na3 STATUS Sent (MESSAGES UNSEEN)\r\n"},
           {false,
            "* 3 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 7] x\r\n* LIST () \"/\" INBOX\r\n"
            "* STATUS Sent (MESSAGES 4 UNSEEN 1)\r\na1 OK [READ-WRITE] done\r\n"
            "a2 OK done\r\na3 OK done\r\n* 4 EXISTS\r\n"}});
  std::vector<json> d = h.decoded();
  auto untagged = [&](const std::string& type) {
    for (const auto& x : d) {
      if (x.value("type", "") == type) return x;
    }
    return json();
  };
  EXPECT_EQ(untagged("EXISTS")["in_response_to"], "a1");
  EXPECT_EQ(untagged("LIST")["in_response_to"], "a2");
  EXPECT_EQ(untagged("STATUS")["in_response_to"], "a3");
  EXPECT_EQ(untagged("STATUS")["items"]["MESSAGES"], 4);
  json select = find_decoded(h, "command", "SELECT");
  json a1_done;
  for (const auto& x : d) {
    if (x.value("tag", "") == "a1" && x.value("kind", "") == "tagged") a1_done = x;
  }
  EXPECT_EQ(a1_done["mailbox"]["exists"], 3);
  EXPECT_EQ(a1_done["mailbox"]["uidvalidity"], 7);
  EXPECT_EQ(a1_done["mailbox"]["access"], "read-write");
  // After everything completed, new mail is unsolicited.
  json last = d.back();
  EXPECT_EQ(last["type"], "EXISTS");
  EXPECT_EQ(last["number"], 4);
  EXPECT_TRUE(last["unsolicited"].get<bool>());
}

TEST(ImapDecoder, IdleAndDone) {
  auto h = imap_harness();
  play(h, {{false, "* PREAUTH ready\r\n"},
           {true, "a7 IDLE\r\n"},
           {false, "+ idling\r\n* 5 EXISTS\r\n"},
           {true, "DONE\r\n"},
           {false, "a7 OK Idle completed\r\n"}});
  json cont = find_decoded(h, "kind", "continuation");
  EXPECT_EQ(cont["in_response_to"], "a7");
  json exists = find_decoded(h, "type", "EXISTS");
  EXPECT_EQ(exists["in_response_to"], "a7");
  json done = find_decoded(h, "command", "DONE");
  EXPECT_EQ(done["in_response_to"], "a7");
  json completed = find_decoded(h, "kind", "tagged");
  EXPECT_EQ(completed["command"], "IDLE");
  EXPECT_FALSE(h.warned("imap_syntax"));
}

TEST(ImapDecoder, AuthenticatePlainWithContinuation) {
  auto h = imap_harness();
  // "\0alice\0wonderland"
  const std::string plain = "AGFsaWNlAHdvbmRlcmxhbmQ=";
  play(h, {{false, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n"},
           {true, "a1 AUTHENTICATE PLAIN\r\n"},
           {false, "+ \r\n"},
           {true, plain + "\r\n"},
           {false, "a1 OK Logged in\r\n"}});
  for (const auto& l : h.lines()) EXPECT_EQ(l.dump().find(plain), std::string::npos) << l;
  for (const auto& l : h.lines()) EXPECT_EQ(l.dump().find("wonderland"), std::string::npos) << l;
  json auth = find_decoded(h, "command", "AUTHENTICATE");
  EXPECT_EQ(auth["mechanism"], "PLAIN");
  bool saw_client_step = false;
  for (const auto& d : h.decoded()) {
    if (d.contains("sasl") && d.value("in_response_to", "") == "a1" && !d.contains("kind")) {
      saw_client_step = true;
      EXPECT_EQ(d["sasl"]["mechanism"], "PLAIN");
    }
  }
  EXPECT_TRUE(saw_client_step);
  json done = find_decoded(h, "kind", "tagged");
  EXPECT_EQ(done["command"], "AUTHENTICATE");
  ASSERT_TRUE(done.contains("sasl"));
  EXPECT_TRUE(h.warned("credentials_before_tls"));
  std::string notes;
  for (const auto& l : h.lines()) notes += l.value("note", "") + "\n";
  EXPECT_NE(notes.find("alice"), std::string::npos) << notes;
}

TEST(ImapDecoder, AuthenticateWithInitialResponse) {
  auto h = imap_harness();
  const std::string plain = "AGFsaWNlAHdvbmRlcmxhbmQ=";
  h.server("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] ready\r\n", true);
  json& line = h.client("a1 AUTHENTICATE PLAIN " + plain + "\r\n", true);
  EXPECT_TRUE(line.value("redacted", false));
  std::string text = line["text"];
  EXPECT_EQ(text.find(plain), std::string::npos);
  EXPECT_EQ(text.rfind("a1 AUTHENTICATE PLAIN <redacted", 0), 0u) << text;
  EXPECT_EQ(line["decoded"]["sasl"]["mechanism"], "PLAIN");
  h.server("a1 OK done\r\n", true);
  EXPECT_EQ(h.last()["decoded"]["command"], "AUTHENTICATE");
  EXPECT_FALSE(h.warned("credentials_before_tls"));
  EXPECT_FALSE(h.warned("imap_sasl_ir_unannounced"));
}

TEST(ImapDecoder, StartTlsMissingAndCapabilitiesForgottenAfterTls) {
  auto h = imap_harness();
  h.server("* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] ready\r\n");
  EXPECT_TRUE(h.warned("starttls_not_offered"));
  auto h2 = imap_harness();
  h2.server("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n");
  h2.client("a1 STARTTLS\r\n");
  h2.server("a1 OK Begin TLS negotiation now\r\n");
  EXPECT_NE(h2.last()["note"].get<std::string>().find("TLS starts now"), std::string::npos);
  h2.event(EventType::tls, {{"leg", "client"}});
  h2.event(EventType::tls, {{"leg", "server"}});
  h2.client("a2 LOGIN bob pw\r\n", true);
  EXPECT_FALSE(h2.warned("logindisabled_ignored"));  // LOGINDISABLED was before TLS
  EXPECT_FALSE(h2.warned("credentials_before_tls"));
  EXPECT_FALSE(h2.warned("starttls_not_offered"));
}

TEST(ImapDecoder, CapabilitiesAfterLoginDoNotWarnAboutStartTls) {
  // Dovecot sends the logged-in capabilities (no STARTTLS, no AUTH=) as untagged data before the
  // LOGIN completes; that is not a server that fails to offer STARTTLS.
  auto h = imap_harness();
  h.server("* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] ready\r\n");
  h.client("a1 LOGIN alice pw\r\n");
  h.server("* CAPABILITY IMAP4rev1 SORT UIDPLUS\r\n");
  EXPECT_EQ(h.last()["decoded"]["in_response_to"], "a1");
  h.server("a1 OK Logged in\r\n");
  EXPECT_FALSE(h.warned("starttls_not_offered"));
  EXPECT_TRUE(h.warned("auth_offered_cleartext"));
  h.client("a2 APPEND INBOX {3+}\r\nhi!\r\n");
  h.server("a2 OK [APPENDUID 38505 3955] APPEND completed\r\n");
  EXPECT_NE(h.last()["note"].get<std::string>().find("the message got UID 3955"),
            std::string::npos)
      << h.last()["note"];
}

TEST(ImapDecoder, UnknownTagAndGarbageAreWarnedNotFatal) {
  auto h = imap_harness();
  h.server("* OK ready\r\n");
  h.server("zz9 OK what?\r\n");
  EXPECT_TRUE(h.warned("imap_unknown_tag"));
  h.server(std::string("\x16\x03\x01\x02\x00\r\n", 7));
  EXPECT_TRUE(h.warned("imap_malformed_response")) << h.last().dump();
  h.client("\xff\xfe\r\n");
  EXPECT_TRUE(h.warned("imap_syntax"));
  h.client("a1 NOOP\r\n");
  EXPECT_EQ(h.last()["decoded"]["command"], "NOOP");
}

TEST(ImapDecoder, FetchLiteralInOneBytePiecesIsSummarised) {
  std::string msg = "From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n";
  auto h = imap_harness();
  h.server("* PREAUTH ready\r\n");
  h.client("a1 UID FETCH 7 (UID BODY.PEEK[])\r\n");
  h.server("* 1 FETCH (UID 7 BODY[] {" + std::to_string(msg.size()) + "}\r\n");
  for (char c : msg) h.server_literal(std::string(1, c));
  h.server(" FLAGS (\\Seen))\r\n");
  json fetch = h.last()["decoded"];
  EXPECT_EQ(fetch["in_response_to"], "a1");
  EXPECT_EQ(fetch["items"]["UID"], 7);
  EXPECT_EQ(fetch["items"]["BODY[]"]["sha256"], sha256_hex(msg));
  EXPECT_EQ(fetch["items"]["BODY[]"]["headers"]["subject"], "hi");
  EXPECT_EQ(fetch["items"]["FLAGS"], json::array({"\\Seen"}));
  h.server("a1 OK done\r\n");
  EXPECT_EQ(h.last()["decoded"]["command"], "UID FETCH");
}

TEST(ImapDecoder, RfcSampleSessionWithEnvelope) {
  // RFC 3501 section 8, abridged.
  std::string header =
      "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n"
      "From: Terry Gray <gray@cac.washington.edu>\r\n"
      "Subject: IMAP4rev1 WG mtg summary and minutes\r\n"
      "To: imap@cac.washington.edu\r\n"
      "Message-Id: <B27397-0100000@cac.washington.edu>\r\n"
      "\r\n";
  auto h = imap_harness();
  play(h, {{false, "* OK IMAP4rev1 Service Ready\r\n"},
           {true, "a001 login mrc secret\r\n"},
           {false, "a001 OK LOGIN completed\r\n"},
           {true, "a002 select inbox\r\n"},
           {false,
            "* 18 EXISTS\r\n* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
            "* 2 RECENT\r\n* OK [UNSEEN 17] Message 17 is the first unseen message\r\n"
            "* OK [UIDVALIDITY 3857529045] UIDs valid\r\na002 OK [READ-WRITE] SELECT completed\r\n"},
           {true, "a003 fetch 12 full\r\n"},
           {false,
            "* 12 FETCH (FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" "
            "RFC822.SIZE 4286 ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" "
            "\"IMAP4rev1 WG mtg summary and minutes\" "
            "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
            "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
            "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
            "((NIL NIL \"imap\" \"cac.washington.edu\")) "
            "((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\") "
            "(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL "
            "\"<B27397-0100000@cac.washington.edu>\") "
            "BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92))\r\n"
            "a003 OK FETCH completed\r\n"},
           {true, "a004 fetch 12 body[header]\r\n"},
           {false, "* 12 FETCH (BODY[HEADER] {" + std::to_string(header.size()) + "}\r\n" +
                       header + ")\r\na004 OK FETCH completed\r\n"},
           {true, "a005 store 12 +flags \\deleted\r\n"},
           {false, "* 12 FETCH (FLAGS (\\Seen \\Deleted))\r\na005 OK +FLAGS completed\r\n"},
           {true, "a006 logout\r\n"},
           {false, "* BYE IMAP4rev1 server terminating connection\r\na006 OK LOGOUT completed\r\n"}});
  std::vector<json> fetches;
  for (const auto& d : h.decoded()) {
    if (d.value("type", "") == "FETCH" && !d.contains("continued")) fetches.push_back(d);
  }
  ASSERT_EQ(fetches.size(), 3u);
  const json& env = fetches[0]["items"]["ENVELOPE"];
  EXPECT_EQ(env["subject"], "IMAP4rev1 WG mtg summary and minutes");
  EXPECT_EQ(env["from"][0], "Terry Gray <gray@cac.washington.edu>");
  EXPECT_EQ(env["cc"][1], "John Klensin <KLENSIN@MIT.EDU>");
  EXPECT_EQ(env["message_id"], "<B27397-0100000@cac.washington.edu>");
  EXPECT_EQ(fetches[0]["items"]["RFC822.SIZE"], 4286);
  EXPECT_EQ(fetches[0]["in_response_to"], "a003");
  EXPECT_EQ(fetches[1]["items"]["BODY[HEADER]"]["headers"]["subject"],
            "IMAP4rev1 WG mtg summary and minutes");
  EXPECT_EQ(fetches[2]["in_response_to"], "a005");
  json store = find_decoded(h, "command", "STORE");
  EXPECT_EQ(store["action"], "+FLAGS");
  json select_done;
  for (const auto& d : h.decoded()) {
    if (d.value("command", "") == "SELECT" && d.value("kind", "") == "tagged") select_done = d;
  }
  EXPECT_EQ(select_done["mailbox"]["exists"], 18);
  EXPECT_EQ(select_done["mailbox"]["uidvalidity"], 3857529045u);
  EXPECT_EQ(select_done["mailbox"]["name"], "inbox");
}

TEST(ImapDecoder, DroppedAndSynthesizedBytesAreLabelledAndRedacted) {
  auto h = imap_harness();
  h.server("* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n");
  h.client("a STARTTLS\r\n");
  json& dropped = h.data(Party::client, Party::mailtap, FrameKind::line, "b LOGIN bob pw1\r\n");
  EXPECT_NE(dropped["note"].get<std::string>().find("dropped by mailtap"), std::string::npos);
  EXPECT_EQ(dropped["text"].get<std::string>().find("pw1"), std::string::npos);
  json& own = h.data(Party::mailtap, Party::client, FrameKind::line, "* BYE upstream failed\r\n");
  EXPECT_NE(own["note"].get<std::string>().find("mailtap itself"), std::string::npos);
  // Neither changed the real conversation: the STARTTLS is still pending.
  h.server("a OK Begin TLS\r\n");
  EXPECT_EQ(h.last()["decoded"]["command"], "STARTTLS");
}

TEST(ImapDecoder, UnansweredCommandsAreListedAtClose) {
  auto h = imap_harness();
  h.server("* PREAUTH hi\r\n");
  h.client("a1 FETCH 1:* FLAGS\r\n");
  json& close = h.event(EventType::close, {{"leg", "server"}, {"by", "server"}});
  EXPECT_EQ(close["decoded"]["unanswered"], json::array({"a1"}));
}

TEST(ImapDecoder, CompressionStopsDecoding) {
  auto h = imap_harness();
  h.server("* PREAUTH [CAPABILITY IMAP4rev1 COMPRESS=DEFLATE] hi\r\n");
  h.client("a1 COMPRESS DEFLATE\r\n");
  h.server("a1 OK DEFLATE active\r\n");
  h.data(Party::server, Party::client, FrameKind::raw, std::string("\x78\x9c\x01\x02", 4));
  EXPECT_TRUE(h.last()["decoded"]["compressed"].get<bool>());
}

TEST(ImapDecoder, GarbageNeverThrowsAndStaysBounded) {
  auto h = imap_harness();
  std::string junk;
  for (int i = 0; i < 5000; ++i) junk += static_cast<char>((i * 131 + 7) % 256);
  h.client(junk);
  h.server(junk);
  h.client(std::string(200000, 'a'));  // one long line without an end
  h.client("\r\n");
  h.client("a1 NOOP\r\n");
  EXPECT_EQ(h.last()["decoded"]["command"], "NOOP");
  // A huge announced literal is streamed through without being kept.
  h.client("a2 APPEND INBOX {10000000}\r\n");
  std::string chunk(65536, 'x');
  for (int i = 0; i < 152; ++i) h.client_literal(chunk);
  h.client_literal(std::string(10000000 - 152 * 65536, 'x'));
  h.client("\r\n");
  json append = h.last()["decoded"];
  EXPECT_EQ(append["command"], "APPEND");
  EXPECT_EQ(append["message"]["size"], 10000000);
}

}  // namespace
}  // namespace mailtap::decode

namespace mailtap::decode {
namespace {

// The proxy records the server leg's handshake before the cleartext "OK Begin TLS" it read just
// before it (upstream first); that line must not make the server leg look clear again.
TEST(ImapDecoder, StartTlsReplyRecordedAfterTheHandshakeKeepsTheServerLegEncrypted) {
  auto h = imap_harness();
  h.server("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n");
  h.client("a1 STARTTLS\r\n");
  h.event(EventType::tls, {{"leg", "server"}});
  h.server("a1 OK Begin TLS negotiation now.\r\n", /*tls=*/false);
  h.event(EventType::tls, {{"leg", "client"}});
  h.client("a2 LOGIN alice secret\r\n", true);
  EXPECT_FALSE(h.warned("credentials_before_tls"));
  // A server leg that really is clear is still reported.
  auto clear = imap_harness();
  clear.server("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n", false);
  clear.client("a1 LOGIN alice secret\r\n", true);
  EXPECT_TRUE(clear.warned("credentials_before_tls"));
}

}  // namespace
}  // namespace mailtap::decode

namespace mailtap::decode {
namespace {

// Dovecot's greeting carries its capabilities: the note must still say what the line is (it
// once rendered as a bare "* OK:" in `mailtap show`).
TEST(ImapDecoder, GreetingWithCapabilitiesIsExplained) {
  for (bool tls : {false, true}) {
    auto h = imap_harness();
    if (tls) h.event(EventType::tls, {{"leg", "client"}, {"version", "TLSv1.3"}});
    json& line = h.server(
        "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN] "
        "Dovecot ready.\r\n",
        tls);
    const std::string note = line.value("note", "");
    EXPECT_EQ(note.rfind("* OK: the server greets the client", 0), 0u) << note;
    EXPECT_NE(note.find("the server supports IMAP4rev1"), std::string::npos) << note;
    EXPECT_NE(note.find("(Dovecot ready.)"), std::string::npos) << note;
  }
}

}  // namespace
}  // namespace mailtap::decode
