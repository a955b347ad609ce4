// The SMTP decoder over whole sessions: the seeds' walkthroughs, RFC 5321/4954 examples,
// pipelining, AUTH with redaction, DATA/BDAT summaries, warnings, and splits at every byte.
#include "mailtap/decode/smtp_decoder.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <cstdio>
#include <string>
#include <vector>

#include "decode/smtp_session_harness.h"
#include "mailtap/decode/redaction.h"
#include "mailtap/transcript/transcript_writer.h"

namespace mailtap::decode {
namespace {

using testing::has_warning;
using testing::note;
using testing::SmtpSession;
using transcript::FrameKind;
using transcript::Party;

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

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

const std::vector<std::string> kSeedEhloReply = {
    "250-mail.example.com\r\n", "250-PIPELINING\r\n",         "250-SIZE 10240000\r\n",
    "250-ETRN\r\n",             "250-STARTTLS\r\n",           "250-AUTH PLAIN LOGIN\r\n",
    "250-AUTH=PLAIN LOGIN\r\n", "250-ENHANCEDSTATUSCODES\r\n", "250-8BITMIME\r\n",
    "250 DSN\r\n"};

// Seed 000, port 25: telnet, EHLO, AUTH LOGIN, MAIL/RCPT/DATA, QUIT, all in cleartext.
TEST(SmtpDecoder, Seed000CleartextSessionExplained) {
  SmtpSession s;
  nlohmann::json greeting = s.server("220 mail.example.com ESMTP Postfix (Debian)\r\n");
  EXPECT_EQ(greeting["decoded"]["code"], 220);
  EXPECT_EQ(greeting["decoded"]["answers"], "greeting");
  EXPECT_TRUE(contains(note(greeting), "220: service ready")) << note(greeting);

  nlohmann::json ehlo = s.client("EHLO localhost\r\n");
  EXPECT_EQ(ehlo["decoded"]["command"], "EHLO");
  EXPECT_EQ(ehlo["decoded"]["args"]["domain"], "localhost");
  EXPECT_EQ(note(ehlo),
            "Client introduces itself as localhost and asks for the extended command set");

  nlohmann::json last;
  for (size_t i = 0; i < kSeedEhloReply.size(); ++i) {
    last = s.server(kSeedEhloReply[i]);
    if (i + 1 < kSeedEhloReply.size()) {
      EXPECT_EQ(last["decoded"]["continued"], true);
      EXPECT_FALSE(last["decoded"].contains("capabilities"));
    }
  }
  const nlohmann::json& caps = last["decoded"]["capabilities"];
  EXPECT_EQ(caps["SIZE"], 10240000);
  EXPECT_EQ(caps["AUTH"], nlohmann::json({"PLAIN", "LOGIN"}));
  EXPECT_EQ(caps["AUTH="], nlohmann::json({"PLAIN", "LOGIN"}));
  EXPECT_EQ(caps["STARTTLS"], true);
  EXPECT_EQ(caps["PIPELINING"], true);
  EXPECT_EQ(caps["8BITMIME"], true);
  EXPECT_EQ(caps["DSN"], true);
  EXPECT_EQ(last["decoded"]["domain"], "mail.example.com");
  EXPECT_EQ(last["decoded"]["answers"]["command"], "EHLO");
  EXPECT_EQ(last["decoded"]["lines"].size(), 10u);
  EXPECT_TRUE(has_warning(last, "auth_offered_cleartext"));
  EXPECT_FALSE(has_warning(last, "starttls_not_offered"));
  EXPECT_TRUE(contains(note(last), "SIZE 10240000")) << note(last);

  nlohmann::json auth = s.client("AUTH LOGIN\r\n");
  EXPECT_EQ(auth["decoded"]["args"]["mechanism"], "LOGIN");
  EXPECT_EQ(auth["decoded"]["args"]["initial_response"], false);
  nlohmann::json user_prompt = s.server("334 VXNlcm5hbWU6\r\n");
  EXPECT_EQ(user_prompt["decoded"]["sasl"]["fields"]["prompt"], "Username:");
  EXPECT_EQ(user_prompt["decoded"]["answers"]["command"], "AUTH");
  EXPECT_EQ(note(user_prompt).rfind("334 VXNlcm5hbWU6 is base64 for \"Username:\"", 0), 0u)
      << note(user_prompt);
  nlohmann::json user = s.client("aGVsbG8=\r\n");
  EXPECT_EQ(user["decoded"]["sasl"]["fields"]["username"], "hello");
  EXPECT_EQ(user["text"], "aGVsbG8=\r\n") << "a user name is not a secret";
  EXPECT_FALSE(user.contains("redacted"));
  nlohmann::json pass_prompt = s.server("334 UGFzc3dvcmQ6\r\n");
  EXPECT_EQ(pass_prompt["decoded"]["sasl"]["fields"]["prompt"], "Password:");
  nlohmann::json pass = s.client("d29ybGQ=\r\n");
  EXPECT_EQ(pass["redacted"], true);
  EXPECT_EQ(pass["text"], redact("d29ybGQ=", {}) + "\r\n");
  EXPECT_EQ(pass["decoded"]["sasl"]["fields"]["password"], redact("world", {}));
  EXPECT_FALSE(contains(pass.dump(), "d29ybGQ")) << pass.dump();
  EXPECT_FALSE(contains(pass.dump(), "world")) << pass.dump();
  EXPECT_TRUE(has_warning(pass, "credentials_before_tls"));
  nlohmann::json ok = s.server("235 2.7.0 Authentication successful\r\n");
  EXPECT_EQ(ok["decoded"]["sasl"]["outcome"]["result"], "success");
  EXPECT_EQ(ok["decoded"]["enhanced"]["code"], "2.7.0");
  EXPECT_EQ(ok["decoded"]["answers"]["command"], "AUTH");
  EXPECT_TRUE(contains(note(ok), "LOGIN authentication as \"hello\" succeeded")) << note(ok);

  nlohmann::json mail = s.client("MAIL FROM: email@example.com\r\n");
  EXPECT_EQ(mail["decoded"]["command"], "MAIL");
  EXPECT_EQ(mail["decoded"]["args"]["from"], "email@example.com");
  EXPECT_EQ(mail["decoded"]["args"]["bracketed"], false);
  nlohmann::json mail_ok = s.server("250 2.1.0 Ok\r\n");
  EXPECT_EQ(mail_ok["decoded"]["answers"]["command"], "MAIL");
  EXPECT_EQ(mail_ok["decoded"]["enhanced"]["subject"], "addressing status");
  EXPECT_TRUE(contains(note(mail_ok), "250: requested mail action okay")) << note(mail_ok);
  EXPECT_EQ(s.client("RCPT TO: email@example.org\r\n")["decoded"]["args"]["to"],
            "email@example.org");
  nlohmann::json rcpt_ok = s.server("250 2.1.5 Ok\r\n");
  EXPECT_TRUE(contains(note(rcpt_ok), "destination address valid")) << note(rcpt_ok);
  EXPECT_EQ(s.client("DATA\r\n")["decoded"]["command"], "DATA");
  nlohmann::json go = s.server("354 End data with <CR><LF>.<CR><LF>\r\n");
  EXPECT_TRUE(contains(note(go), "354: start mail input; end with <CRLF>.<CRLF>")) << note(go);
  nlohmann::json content = s.body("Subject: Hello\r\n\r\nworld\r\n");
  EXPECT_EQ(content["decoded"]["content"], nlohmann::json({{"offset", 0}, {"length", 25}}));
  EXPECT_TRUE(contains(note(content), "message content sent after DATA")) << note(content);
  nlohmann::json dot = s.client(".\r\n");
  const nlohmann::json& message = dot["decoded"]["message"];
  EXPECT_EQ(message["size"], 25);
  EXPECT_EQ(message["sha256"], sha256_hex("Subject: Hello\r\n\r\nworld\r\n"));
  EXPECT_EQ(message["headers"]["subject"], "Hello");
  EXPECT_EQ(note(dot), "End of message: 25 bytes, Subject: Hello");
  nlohmann::json queued = s.server("250 2.0.0 Ok: queued as 941731C4\r\n");
  EXPECT_EQ(queued["decoded"]["answers"]["command"], ".");
  EXPECT_TRUE(contains(note(queued), "queued as 941731C4")) << note(queued);
  EXPECT_EQ(s.client("QUIT\r\n")["decoded"]["command"], "QUIT");
  nlohmann::json bye = s.server("221 2.0.0 Bye\r\n");
  EXPECT_EQ(bye["decoded"]["answers"]["command"], "QUIT");
  EXPECT_FALSE(bye.contains("warnings"));
}

// Seed 000, port 587 after STARTTLS, and RFC 4954's example: nothing to warn about over TLS.
TEST(SmtpDecoder, Rfc4954ExampleWithStartTlsHasNoCleartextWarnings) {
  SmtpSession s;
  s.server("220-smtp.example.com ESMTP Server\r\n");
  nlohmann::json greeting = s.server("220 ready\r\n");
  EXPECT_EQ(greeting["decoded"]["answers"], "greeting");
  EXPECT_EQ(greeting["decoded"]["lines"].size(), 2u);
  s.client("EHLO client.example.com\r\n");
  s.server("250-smtp.example.com Hello client.example.com\r\n");
  s.server("250-AUTH GSSAPI DIGEST-MD5\r\n");
  s.server("250-ENHANCEDSTATUSCODES\r\n");
  nlohmann::json caps = s.server("250 STARTTLS\r\n");
  EXPECT_TRUE(has_warning(caps, "auth_offered_cleartext"));
  EXPECT_FALSE(has_warning(caps, "starttls_not_offered"));
  EXPECT_EQ(s.client("STARTTLS\r\n")["decoded"]["command"], "STARTTLS");
  nlohmann::json ready = s.server("220 Ready to start TLS\r\n");
  EXPECT_EQ(ready["decoded"]["answers"]["command"], "STARTTLS");
  EXPECT_TRUE(contains(note(ready), "TLS handshake follows")) << note(ready);
  s.client("EHLO client.example.com\r\n", true);
  s.server("250-smtp.example.com Hello client.example.com\r\n", true);
  nlohmann::json tls_caps = s.server("250 AUTH GSSAPI DIGEST-MD5 PLAIN\r\n", true);
  EXPECT_EQ(tls_caps["decoded"]["capabilities"]["AUTH"],
            nlohmann::json({"GSSAPI", "DIGEST-MD5", "PLAIN"}));
  EXPECT_FALSE(tls_caps.contains("warnings"));
  nlohmann::json auth = s.client("AUTH PLAIN dGVzdAB0ZXN0ADEyMzQ=\r\n", true);
  EXPECT_EQ(auth["decoded"]["sasl"]["fields"]["authzid"], "test");
  EXPECT_EQ(auth["decoded"]["sasl"]["fields"]["authcid"], "test");
  EXPECT_EQ(auth["text"], "AUTH PLAIN " + redact("dGVzdAB0ZXN0ADEyMzQ=", {}) + "\r\n");
  EXPECT_FALSE(has_warning(auth, "credentials_before_tls"));
  nlohmann::json ok = s.server("235 2.7.0 Authentication successful\r\n", true);
  EXPECT_EQ(ok["decoded"]["sasl"]["outcome"]["result"], "success");
}

// Seed 002: AUTH PLAIN with the credentials on the command, then on their own line after "334",
// AUTH LOGIN refused with 535, and the seed's "RCPT: ..." typo.
TEST(SmtpDecoder, Seed002AuthPlainBothFormsAndFailure) {
  SmtpSession s;
  s.server("220 mail.remoteserver.com ESMTP Postfix\r\n");
  nlohmann::json ir = s.client("AUTH PLAIN AHVzZXJAcmVtb3Rlc2VydmVyLmNvbQBwYXNzd29yZA==\r\n");
  EXPECT_EQ(ir["redacted"], true);
  EXPECT_EQ(ir["text"],
            "AUTH PLAIN " + redact("AHVzZXJAcmVtb3Rlc2VydmVyLmNvbQBwYXNzd29yZA==", {}) + "\r\n");
  EXPECT_EQ(ir["decoded"]["sasl"]["fields"]["authcid"], "user@remoteserver.com");
  EXPECT_EQ(ir["decoded"]["sasl"]["initial_response"], true);
  EXPECT_TRUE(has_warning(ir, "credentials_before_tls"));
  EXPECT_EQ(ir["decoded"]["sasl"]["fields"]["password"], redact("password", {}));
  EXPECT_FALSE(contains(ir.dump(), ":\"password\"")) << ir.dump();
  s.server("235 2.7.0 Authentication successful\r\n");

  s.client("AUTH PLAIN\r\n");
  nlohmann::json empty_challenge = s.server("334\r\n");
  EXPECT_EQ(empty_challenge["decoded"]["code"], 334);
  EXPECT_TRUE(contains(note(empty_challenge), "Empty challenge")) << note(empty_challenge);
  nlohmann::json response = s.client("AHVzZXJAcmVtb3Rlc2VydmVyLmNvbQBwYXNzd29yZA==\r\n");
  EXPECT_EQ(response["text"], redact("AHVzZXJAcmVtb3Rlc2VydmVyLmNvbQBwYXNzd29yZA==", {}) + "\r\n");
  EXPECT_EQ(response["decoded"]["sasl"]["step"], 2);
  EXPECT_EQ(s.server("235 2.7.0 Authentication successful\r\n")["decoded"]["sasl"]["outcome"]["code"],
            "235");

  s.client("AUTH LOGIN\r\n");
  s.server("334 VXNlcm5hbWU6\r\n");
  s.client("dXNlckByZW1vdGVzZXJ2ZXIuY29t\r\n");
  nlohmann::json refused = s.server("535 5.7.8 Error: authentication failed: VXNlcm5hbWU6\r\n");
  EXPECT_EQ(refused["decoded"]["sasl"]["outcome"]["result"], "failure");
  EXPECT_EQ(refused["decoded"]["enhanced"]["meaning"], "authentication credentials invalid");
  EXPECT_TRUE(contains(note(refused), "535: authentication credentials invalid")) << note(refused);
  EXPECT_TRUE(contains(note(refused), "failed")) << note(refused);
  // After the failure, lines are commands again.
  nlohmann::json rcpt = s.client("RCPT: someone@somewhere.com\r\n");
  EXPECT_EQ(rcpt["decoded"]["command"], "RCPT");
  EXPECT_TRUE(has_warning(rcpt, "smtp_syntax"));
}

// Seed 003 (GMX) and 004 (SendGrid): "SIZE" without a number, legacy "AUTH=", no STARTTLS.
TEST(SmtpDecoder, Seeds003And004CapabilityQuirks) {
  SmtpSession gmx;
  gmx.client("ehlo\r\n");
  for (std::string line : {"250-mail.gmx.com GMX Mailservices\r\n", "250-8BITMIME\r\n",
                           "250-ENHANCEDSTATUSCODES\r\n", "250-SIZE\r\n",
                           "250-AUTH=LOGIN PLAIN\r\n", "250-AUTH LOGIN PLAIN\r\n"}) {
    gmx.server(line);
  }
  nlohmann::json r = gmx.server("250 STARTTLS\r\n");
  EXPECT_EQ(r["decoded"]["capabilities"]["SIZE"], true);
  EXPECT_EQ(r["decoded"]["capabilities"]["AUTH="], nlohmann::json({"LOGIN", "PLAIN"}));
  EXPECT_EQ(r["decoded"]["answers"]["command"], "EHLO");

  SmtpSession sendgrid;
  sendgrid.server("220 SG ESMTP service ready at ismtpd0001p1lon1.sendgrid.net\r\n");
  sendgrid.client("EHLO domain.com\r\n");
  for (std::string line : {"250-smtp.sendgrid.net\r\n", "250-8BITMIME\r\n", "250-PIPELINING\r\n",
                           "250-SIZE 31457280\r\n"}) {
    sendgrid.server(line);
  }
  nlohmann::json caps = sendgrid.server("250 AUTH PLAIN LOGIN\r\n");
  EXPECT_TRUE(has_warning(caps, "starttls_not_offered"));
  EXPECT_TRUE(has_warning(caps, "auth_offered_cleartext"));
  nlohmann::json plain = sendgrid.client("AUTH PLAIN AHVzZXJuYW1lAHBhc3N3b3Jk\r\n");
  EXPECT_EQ(plain["decoded"]["sasl"]["fields"]["authcid"], "username");
  nlohmann::json ok = sendgrid.server("235 Authentication successful\r\n");
  EXPECT_EQ(ok["decoded"]["sasl"]["outcome"]["result"], "success");
  EXPECT_FALSE(ok["decoded"].contains("enhanced"));
}

// RFC 5321 appendix D.1, with the four transaction commands pipelined (RFC 2920).
TEST(SmtpDecoder, PipelinedCommandsPairInOrderWithLatency) {
  SmtpSession s;
  s.server("220 foo.com Simple Mail Transfer Service Ready\r\n");
  s.client("EHLO bar.com\r\n");
  s.server("250-foo.com greets bar.com\r\n");
  s.server("250-8BITMIME\r\n");
  s.server("250-SIZE\r\n");
  s.server("250-DSN\r\n");
  EXPECT_EQ(s.server("250 HELP\r\n")["decoded"]["capabilities"]["HELP"], true);

  s.step_us = 10;  // the client writes its batch quickly...
  nlohmann::json mail = s.client("MAIL FROM:<Smith@bar.com>\r\n");
  s.client("RCPT TO:<Jones@foo.com>\r\n");
  s.client("RCPT TO:<Green@foo.com>\r\n");
  s.client("RCPT TO:<Brown@foo.com>\r\n");
  nlohmann::json data = s.client("DATA\r\n");
  s.step_us = 5000;  // ...and the replies come back later
  std::vector<nlohmann::json> replies = {
      s.server("250 OK\r\n"), s.server("250 OK\r\n"), s.server("550 No such user here\r\n"),
      s.server("250 OK\r\n"), s.server("354 Start mail input; end with <CRLF>.<CRLF>\r\n")};
  std::vector<std::string> expected = {"MAIL", "RCPT", "RCPT", "RCPT", "DATA"};
  for (size_t i = 0; i < replies.size(); ++i) {
    EXPECT_EQ(replies[i]["decoded"]["answers"]["command"], expected[i]) << i;
  }
  EXPECT_EQ(replies[0]["decoded"]["answers"]["seq"], mail["seq"]);
  EXPECT_EQ(replies[4]["decoded"]["answers"]["seq"], data["seq"]);
  EXPECT_EQ(replies[0]["decoded"]["latency_us"], replies[0]["t"].get<int64_t>() - mail["t"].get<int64_t>());
  EXPECT_EQ(replies[0]["decoded"]["latency_us"], 4 * 10 + 5000);
  EXPECT_EQ(replies[4]["decoded"]["latency_us"], 5 * 5000);
  EXPECT_TRUE(contains(note(replies[2]), "No such user here")) << note(replies[2]);
  EXPECT_TRUE(contains(note(replies[2]), "reply to RCPT")) << note(replies[2]);
  // The batch is marked as pipelined, the first command of it is not.
  EXPECT_FALSE(mail["decoded"].contains("pipelined"));
  EXPECT_EQ(data["decoded"]["pipelined"], true);
  EXPECT_TRUE(contains(note(data), "(pipelined: sent before the reply to RCPT)")) << note(data);

  s.body("Blah blah blah...\r\n");
  nlohmann::json second = s.body("..etc. etc. etc.\r\n");
  EXPECT_EQ(second["decoded"]["content"]["offset"], 19);  // wire offset within the message
  nlohmann::json dot = s.client(".\r\n");
  EXPECT_EQ(dot["decoded"]["message"]["size"], 36);
  EXPECT_EQ(dot["decoded"]["message"]["wire_size"], 37);
  EXPECT_EQ(note(dot), "End of message: 36 bytes (37 bytes on the wire: lines starting with "
                       "\".\" were sent with an extra dot)");
  EXPECT_EQ(dot["decoded"]["message"]["sha256"], sha256_hex("Blah blah blah...\r\n.etc. etc. etc.\r\n"));
  EXPECT_EQ(s.server("250 OK\r\n")["decoded"]["answers"]["command"], ".");
  s.client("QUIT\r\n");
  EXPECT_EQ(s.server("221 foo.com Service closing transmission channel\r\n")["decoded"]["answers"]["command"],
            "QUIT");
}

// The session layer frames lines; unframed (raw) bytes may still arrive cut anywhere. The reply
// must come out the same however the EHLO reply is cut, on the event that completes it.
TEST(SmtpDecoder, MultiLineReplySplitAtEveryByte) {
  std::string reply;
  for (const auto& line : kSeedEhloReply) reply += line;
  SmtpSession whole;
  whole.client("EHLO localhost\r\n");
  nlohmann::json reference = whole.data(Party::server, Party::client, FrameKind::raw, reply, false);
  ASSERT_TRUE(reference["decoded"].contains("items"));  // ten lines in one event
  nlohmann::json expected = reference["decoded"]["items"].back();
  ASSERT_EQ(expected["capabilities"]["SIZE"], 10240000);

  for (size_t cut = 1; cut < reply.size(); ++cut) {
    SmtpSession s;
    s.client("EHLO localhost\r\n");
    s.data(Party::server, Party::client, FrameKind::raw, reply.substr(0, cut), false);
    nlohmann::json last =
        s.data(Party::server, Party::client, FrameKind::raw, reply.substr(cut), false);
    nlohmann::json got = last["decoded"].contains("items") ? last["decoded"]["items"].back()
                                                           : last["decoded"];
    got.erase("latency_us");
    nlohmann::json want = expected;
    want.erase("latency_us");
    ASSERT_EQ(got, want) << "cut at " << cut;
  }
  // One byte per event: only the very last byte completes the reply.
  SmtpSession bytewise;
  bytewise.client("EHLO localhost\r\n");
  nlohmann::json last;
  for (char c : reply) {
    last = bytewise.data(Party::server, Party::client, FrameKind::raw, std::string(1, c), false);
  }
  EXPECT_EQ(last["decoded"]["capabilities"], expected["capabilities"]);
  EXPECT_EQ(last["decoded"]["answers"]["command"], "EHLO");
}

// The AUTH line cut into one-byte unframed events: no event may show the credentials, and the
// exchange is still decoded when the line completes.
TEST(SmtpDecoder, AuthLineSplitAtEveryByteNeverLeaksTheSecret) {
  const std::string wire = "AHVzZXJuYW1lAHBhc3N3b3Jk";
  const std::string line = "AUTH PLAIN " + wire + "\r\n";
  SmtpSession s;
  s.server("220 ready\r\n");
  std::string recorded;
  nlohmann::json last;
  size_t redacted_events = 0;
  for (char c : line) {
    last = s.data(Party::client, Party::server, FrameKind::raw, std::string(1, c), false);
    recorded += transcript::decode_bytes(last);
    if (last.value("redacted", false)) ++redacted_events;
  }
  for (size_t i = 0; i + 4 <= wire.size(); ++i) {
    EXPECT_FALSE(contains(recorded, wire.substr(i, 4))) << recorded;
  }
  EXPECT_GE(redacted_events, wire.size());
  EXPECT_EQ(last["decoded"]["sasl"]["fields"]["authcid"], "username");
  EXPECT_EQ(last["decoded"]["sasl"]["fields"]["password"], redact("password", {}));

  // The same for a LOGIN password sent after "334".
  SmtpSession login;
  login.client("AUTH LOGIN\r\n");
  login.server("334 VXNlcm5hbWU6\r\n");
  login.client("dXNlcm5hbWU=\r\n");
  login.server("334 UGFzc3dvcmQ6\r\n");
  recorded.clear();
  for (char c : std::string("cGFzc3dvcmQ=\r\n")) {
    last = login.data(Party::client, Party::server, FrameKind::raw, std::string(1, c), false);
    recorded += transcript::decode_bytes(last);
  }
  EXPECT_FALSE(contains(recorded, "cGFz")) << recorded;
  EXPECT_EQ(last["decoded"]["sasl"]["fields"]["password"], redact("password", {}));
}

TEST(SmtpDecoder, MessageBodyOneBytePerEventGivesTheSameSummary) {
  const std::string wire =
      "From: me <user@remoteserver.com>\r\nTo: someone@somewhere.com\r\nSubject: Test\r\n"
      "X-Custom-Header: another header\r\n\r\nThis is an email, sent using telnet.\r\n";
  SmtpSession s;
  s.client("DATA\r\n");
  s.server("354 go ahead\r\n");
  for (char c : wire) s.body(std::string(1, c));
  nlohmann::json dot = s.client(".\r\n");
  const nlohmann::json& m = dot["decoded"]["message"];
  EXPECT_EQ(m["size"], wire.size());
  EXPECT_EQ(m["sha256"], sha256_hex(wire));
  EXPECT_EQ(m["headers"]["from"], "me <user@remoteserver.com>");
  EXPECT_EQ(m["headers"]["to"], "someone@somewhere.com");
  EXPECT_EQ(m["headers"]["subject"], "Test");
  EXPECT_EQ(note(dot), "End of message: " + std::to_string(wire.size()) +
                           " bytes, Subject: Test, From: me <user@remoteserver.com>");
}

TEST(SmtpDecoder, BdatChunksAreSummedAndTheLastOneCarriesTheMessage) {
  SmtpSession s;
  nlohmann::json first = s.client("BDAT 16\r\n");
  EXPECT_EQ(first["decoded"]["args"]["size"], 16);
  EXPECT_EQ(first["decoded"]["args"]["last"], false);
  EXPECT_FALSE(s.chunk("Subject: chunked").contains("decoded"));
  EXPECT_EQ(s.server("250 2.0.0 16 octets received\r\n")["decoded"]["answers"]["command"], "BDAT");
  s.client("BDAT 11 LAST\r\n");
  s.chunk("\r\n\r\n.");
  nlohmann::json end = s.chunk("body\r\n");  // not dot-stuffed: the '.' stays
  EXPECT_EQ(end["decoded"]["message"]["size"], 27);
  EXPECT_EQ(end["decoded"]["message"]["sha256"], sha256_hex("Subject: chunked\r\n\r\n.body\r\n"));
  EXPECT_EQ(end["decoded"]["message"]["headers"]["subject"], "chunked");
  EXPECT_TRUE(contains(note(end), "last BDAT chunk")) << note(end);
  EXPECT_EQ(s.server("250 2.0.0 Ok: queued\r\n")["decoded"]["answers"]["command"], "BDAT");

  SmtpSession empty;
  nlohmann::json zero = empty.client("BDAT 0 LAST\r\n");
  EXPECT_EQ(zero["decoded"]["message"]["size"], 0);
}

TEST(SmtpDecoder, RevealModeKeepsSecretsInRawAndDecoded) {
  DecodeOptions reveal;
  reveal.reveal_secrets = true;
  SmtpSession s(reveal);
  nlohmann::json ir = s.client("AUTH PLAIN AHVzZXJuYW1lAHBhc3N3b3Jk\r\n");
  EXPECT_EQ(ir["text"], "AUTH PLAIN AHVzZXJuYW1lAHBhc3N3b3Jk\r\n");
  EXPECT_FALSE(ir.contains("redacted"));
  EXPECT_EQ(ir["decoded"]["sasl"]["fields"]["password"], "password");
  EXPECT_TRUE(has_warning(ir, "credentials_before_tls"));
}

TEST(SmtpDecoder, RedactionIsStableAcrossSessionsAndKeyed) {
  auto auth_text = [](DecodeOptions o, const std::string& b64) {
    SmtpSession s(o);
    return s.client("AUTH PLAIN " + b64 + "\r\n")["text"].get<std::string>();
  };
  DecodeOptions defaults;
  EXPECT_EQ(auth_text(defaults, "AHVzZXJuYW1lAHBhc3N3b3Jk"),
            auth_text(defaults, "AHVzZXJuYW1lAHBhc3N3b3Jk"));
  EXPECT_NE(auth_text(defaults, "AHVzZXJuYW1lAHBhc3N3b3Jk"),
            auth_text(defaults, "AHVzZXJuYW1lAHBhc3N3b3JL"));
  DecodeOptions keyed;
  keyed.redaction_key = "k";
  EXPECT_NE(auth_text(defaults, "AHVzZXJuYW1lAHBhc3N3b3Jk"),
            auth_text(keyed, "AHVzZXJuYW1lAHBhc3N3b3Jk"));
}

TEST(SmtpDecoder, XOAuth2FailureFlowAndCancel) {
  SmtpSession s;
  nlohmann::json ir = s.client(
      "AUTH XOAUTH2 dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52"
      "YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==\r\n",
      true);
  EXPECT_EQ(ir["decoded"]["sasl"]["fields"]["user"], "someuser@example.com");
  EXPECT_EQ(ir["redacted"], true);
  nlohmann::json err = s.server(
      "334 eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIG1hYyIsInNjb3BlIjoiaHR0cHM6Ly9tYWlsLmdvb2ds"
      "ZS5jb20vIn0K\r\n",
      true);
  EXPECT_EQ(err["decoded"]["sasl"]["fields"]["error"]["status"], "401");
  nlohmann::json ack = s.client("\r\n", true);
  EXPECT_EQ(ack["decoded"]["sasl"]["role"], "client");
  EXPECT_FALSE(ack.contains("redacted"));
  nlohmann::json fail = s.server("535 5.7.8 Username and Password not accepted\r\n", true);
  EXPECT_EQ(fail["decoded"]["sasl"]["outcome"]["result"], "failure");

  s.client("AUTH LOGIN\r\n", true);
  s.server("334 VXNlcm5hbWU6\r\n", true);
  nlohmann::json cancel = s.client("*\r\n", true);
  EXPECT_EQ(cancel["decoded"]["sasl"]["cancelled"], true);
  nlohmann::json aborted = s.server("501 5.7.0 Authentication aborted\r\n", true);
  EXPECT_TRUE(contains(note(aborted), "cancelled")) << note(aborted);
  EXPECT_EQ(s.client("NOOP\r\n", true)["decoded"]["command"], "NOOP");
}

TEST(SmtpDecoder, BrokenRepliesAndLongLinesWarn) {
  SmtpSession s;
  s.server("220 ready\r\n");
  s.client("EHLO x\r\n");
  s.server("250-first\r\n");
  nlohmann::json mixed = s.server("251 second\r\n");
  EXPECT_TRUE(has_warning(mixed, "smtp_malformed_reply"));
  s.client("NOOP\r\n");
  nlohmann::json garbage = s.server("hello there\r\n");
  EXPECT_TRUE(has_warning(garbage, "smtp_malformed_reply"));
  EXPECT_EQ(garbage["decoded"]["code"], -1);
  nlohmann::json unsolicited = s.server("250 nobody asked\r\n");
  EXPECT_TRUE(has_warning(unsolicited, "smtp_unexpected_reply"));
  EXPECT_TRUE(s.server("421 4.4.2 timeout\r\n")["decoded"]["answers"].is_null());

  nlohmann::json long_command = s.client("VRFY " + std::string(600, 'a') + "\r\n");
  EXPECT_TRUE(has_warning(long_command, "smtp_line_too_long"));
  nlohmann::json long_reply = s.server("252 " + std::string(600, 'b') + "\r\n");
  EXPECT_TRUE(has_warning(long_reply, "smtp_line_too_long"));
  s.client("DATA\r\n");
  s.server("354 go\r\n");
  s.body(std::string(700, 'c'));
  nlohmann::json long_text = s.body(std::string(400, 'c') + "\r\n");
  EXPECT_TRUE(has_warning(long_text, "smtp_line_too_long"));
  nlohmann::json again = s.body(std::string(1200, 'd') + "\r\n");
  EXPECT_FALSE(has_warning(again, "smtp_line_too_long")) << "one warning per message";
  nlohmann::json closed = s.close();
  EXPECT_TRUE(has_warning(closed, "smtp_incomplete_message"));
}

TEST(SmtpDecoder, ClientSpeakingBeforeTheGreetingIsWarnedAndPairingHolds) {
  SmtpSession s;
  nlohmann::json early = s.client("EHLO bot\r\n");
  EXPECT_TRUE(has_warning(early, "smtp_pregreet"));
  nlohmann::json greeting = s.server("220 mx.example ESMTP\r\n");
  EXPECT_EQ(greeting["decoded"]["answers"], "greeting");
  nlohmann::json reply = s.server("250 mx.example\r\n");
  EXPECT_EQ(reply["decoded"]["answers"]["command"], "EHLO");
  EXPECT_FALSE(has_warning(s.client("QUIT\r\n"), "smtp_pregreet"));
}

TEST(SmtpDecoder, MailtapRepliesAndDroppedCommandsAreNotPaired) {
  SmtpSession s;
  s.server("220 ready\r\n");
  s.client("STARTTLS\r\n");
  // The client pipelined RSET after STARTTLS: the proxy dropped it and recorded the bytes.
  nlohmann::json dropped =
      s.data(Party::client, Party::mailtap, FrameKind::line, "RSET\r\n", false);
  EXPECT_EQ(dropped["decoded"]["command"], "RSET");
  EXPECT_EQ(dropped["decoded"]["relayed"], false);
  EXPECT_TRUE(contains(note(dropped), "not relayed")) << note(dropped);
  nlohmann::json ready = s.server("220 2.0.0 Ready to start TLS\r\n");
  EXPECT_EQ(ready["decoded"]["answers"]["command"], "STARTTLS");
  EXPECT_FALSE(has_warning(ready, "starttls_pipelined_commands_relayed"));
  nlohmann::json own = s.data(Party::mailtap, Party::client, FrameKind::line,
                              "421 4.4.0 upstream TLS failed\r\n", false);
  EXPECT_EQ(own["decoded"]["synthesised"], true);
  EXPECT_TRUE(own["decoded"]["answers"].is_null());
  EXPECT_TRUE(contains(note(own), "mailtap's own reply")) << note(own);
}

TEST(SmtpDecoder, WarningsAlreadyOnTheEventAreNotDuplicated) {
  DecodeOptions o;
  auto decoder = make_smtp_decoder(o);
  transcript::Event e = transcript::make_data(1, Party::client, Party::server, FrameKind::line,
                                              false, "AUTH PLAIN AHVzZXJuYW1lAHBhc3N3b3Jk\r\n");
  nlohmann::json out = transcript::encode_event(e, 1);
  out["warnings"] = nlohmann::json::array(
      {{{"code", "credentials_before_tls"}, {"message", "from the session layer"}}});
  decoder->annotate(e, out);
  int credentials = 0;
  for (const auto& w : out["warnings"]) {
    if (w["code"] == "credentials_before_tls") {
      ++credentials;
      EXPECT_EQ(w["message"], "from the session layer");
    }
  }
  EXPECT_EQ(credentials, 1);
}

TEST(SmtpDecoder, NonDataEventsAndBinaryGarbageAreHarmless) {
  SmtpSession s;
  nlohmann::json tls = s.annotate(transcript::make_event(1, transcript::EventType::tls,
                                                         {{"leg", "client"}, {"version", "TLSv1.3"}}));
  EXPECT_FALSE(tls.contains("decoded"));
  std::string garbage;
  for (int i = 0; i < 256; ++i) garbage += static_cast<char>(i);
  nlohmann::json c = s.data(Party::client, Party::server, FrameKind::line, garbage, false);
  nlohmann::json r = s.data(Party::server, Party::client, FrameKind::line, garbage, false);
  EXPECT_TRUE(c.contains("decoded"));
  EXPECT_TRUE(has_warning(r, "smtp_malformed_reply"));
  EXPECT_FALSE(has_warning(c, "decode_error"));
}

}  // namespace
}  // namespace mailtap::decode

namespace mailtap::decode {
namespace {

// Seed 002 explains the greeting word by word ("220 indicates that the service is ready, the
// server returns its name ... ESMTP means ... Postfix is the name of the server software").
TEST(SmtpDecoder, GreetingIsSpelledOut) {
  SmtpSession s;
  nlohmann::json g = s.server("220 mail.remoteserver.com ESMTP Postfix\r\n");
  EXPECT_EQ(g["decoded"]["server_name"], "mail.remoteserver.com");
  EXPECT_EQ(g["decoded"]["esmtp"], true);
  EXPECT_EQ(g["decoded"]["software"], "Postfix");
  EXPECT_EQ(note(g),
            "220: service ready (greeting: mail.remoteserver.com ESMTP Postfix): the server calls "
            "itself mail.remoteserver.com; \"ESMTP\": it accepts the extended command set, so "
            "EHLO is the greeting to use; software: Postfix");
  SmtpSession bare;
  nlohmann::json b = bare.server("220 SG ESMTP service ready at ismtpd0001p1lon1.sendgrid.net\r\n");
  EXPECT_EQ(b["decoded"]["server_name"], "SG");
  EXPECT_FALSE(b["decoded"].contains("software")) << b.dump();
  SmtpSession debian;
  EXPECT_EQ(debian.server("220 mx ESMTP (Postfix) Debian\r\n")["decoded"]["software"], "Postfix");
  SmtpSession old;
  nlohmann::json o = old.server("220 relay.example.org Sendmail 8.9 ready\r\n");
  EXPECT_EQ(o["decoded"]["esmtp"], false);
  EXPECT_EQ(o["decoded"]["software"], "Sendmail");
}

// Seed 002: "Each line provides some information about what the server requires or will
// accept. Of particular interest is the AUTH line". Every line of the EHLO reply is explained.
TEST(SmtpDecoder, EveryEhloLineIsExplained) {
  SmtpSession s;
  s.server("220 mail.example.com ESMTP Postfix\r\n");
  s.client("EHLO localhost\r\n");
  std::vector<nlohmann::json> lines;
  for (const auto& l : kSeedEhloReply) lines.push_back(s.server(l));
  EXPECT_EQ(note(lines[0]), "250-mail.example.com: the server's name; its extensions follow, one per line");
  EXPECT_EQ(note(lines[1]), "extension PIPELINING: commands may be sent in batches without "
                            "waiting for each reply (RFC 2920)");
  EXPECT_TRUE(contains(note(lines[2]), "extension SIZE 10240000: the largest message accepted"))
      << note(lines[2]);
  EXPECT_EQ(note(lines[5]), "extension AUTH PLAIN LOGIN: SASL authentication mechanisms offered (RFC 4954)");
  EXPECT_TRUE(contains(note(lines[6]), "extension AUTH=PLAIN LOGIN: the same mechanisms in the "
                                       "pre-standard form"))
      << note(lines[6]);
  for (const auto& l : lines) EXPECT_FALSE(note(l).empty()) << l.dump();
  // The last line completes the reply and sums it up.
  EXPECT_TRUE(contains(note(lines.back()), "lists its extensions")) << note(lines.back());

  SmtpSession unknown;
  unknown.server("220 mx ESMTP\r\n");
  unknown.client("EHLO a\r\n");
  unknown.server("250-mx\r\n");
  EXPECT_EQ(note(unknown.server("250-X-FANCY 3\r\n")),
            "extension X-FANCY 3: an extension mailtap has no description for");
  // Other multi-line replies: each line says it continues.
  unknown.server("250 OK\r\n");
  unknown.client("HELP\r\n");
  nlohmann::json help = unknown.server("214-Commands:\r\n");
  EXPECT_EQ(help["decoded"]["continued"], true);
  EXPECT_EQ(note(help), "214-: one line of a multi-line reply; the line with \"214 \" (a space "
                        "after the code) ends it");
}

// Seed 002: "250 2.0.0 Ok: queued as AA19C7C4CC ... (sometimes used as receipt/for tracking the
// email)", then grep for the id in the mail log.
TEST(SmtpDecoder, QueueIdOfTheAcceptedMessage) {
  for (const auto& [reply, id] : std::vector<std::pair<std::string, std::string>>{
           {"250 2.0.0 Ok: queued as AA19C7C4CC\r\n", "AA19C7C4CC"},
           {"250 OK id=1qZ2xY-0004Ab-Cd\r\n", "1qZ2xY-0004Ab-Cd"},
           {"250 Ok: queued as bazLUK4DEBqH25dH6iZuNg\r\n", "bazLUK4DEBqH25dH6iZuNg"},
           {"250 2.6.0 Message accepted {mp-eu005}\r\n", ""}}) {
    SmtpSession s;
    s.server("220 mx ESMTP\r\n");
    s.client("MAIL FROM:<a@b>\r\n");
    s.server("250 2.1.0 Ok\r\n");
    s.client("RCPT TO:<c@d>\r\n");
    s.server("250 2.1.5 Ok\r\n");
    s.client("DATA\r\n");
    s.server("354 go ahead\r\n");
    s.body("Subject: x\r\n\r\ny\r\n");
    s.client(".\r\n");
    nlohmann::json r = s.server(reply);
    EXPECT_TRUE(contains(note(r), "the message is accepted")) << note(r);
    if (id.empty()) {
      EXPECT_FALSE(r["decoded"].contains("queue_id")) << r.dump();
    } else {
      EXPECT_EQ(r["decoded"]["queue_id"], id);
      EXPECT_TRUE(contains(note(r), "queued it for delivery under the id " + id)) << note(r);
    }
  }
}

// Whatever bytes a peer sends, every note and warning the SMTP decoder adds is valid UTF-8 (the
// annotation builder makes it so, not only the call sites): a strict dump() must not throw.
TEST(SmtpDecoder, NotesAndWarningsAreValidUtf8ForAnyBytes) {
  const std::string bad = "\xff\xc3(\xe2\x82\xf0\x9f\x98\xc0\xaf\x01\x7f";
  const std::vector<std::string> lines = {
      "220 mail.example.com" + bad + " ESMTP\r\n",
      "EHLO client" + bad + "\r\n",
      "250-mail.example.com" + bad + "\r\n250-AUTH PLAIN " + bad + "\r\n250 SIZE x" + bad +
          "\r\n",
      "MAIL FROM:<a" + bad + "@example.com> SIZE=" + bad + "\r\n",
      "550 5.1.1 " + bad + "\r\n",
      "RCPT TO:<" + bad + ">\r\n",
      "XYZZY " + bad + "\r\n",
      "AUTH " + bad + " " + bad + "\r\n",
      "599" + bad + "\r\n",
  };
  SmtpSession s;
  bool from_client = false;
  for (const std::string& line : lines) {
    nlohmann::json out = from_client ? s.client(line) : s.server(line);
    from_client = !from_client;
    EXPECT_NO_THROW((void)out.dump()) << out.dump(-1, ' ', false,
                                                   nlohmann::json::error_handler_t::replace);
    EXPECT_TRUE(out.contains("note") || out.contains("warnings") || out.contains("decoded"));
  }
}

}  // namespace
}  // namespace mailtap::decode
