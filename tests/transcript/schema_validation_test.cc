// Validates transcripts written by the test suite against docs/transcript.schema.json with
// tools/validate-transcripts.py. Runs over everything this test process has written so far, plus
// sessions of each protocol recorded here so the protocol decoders' annotations are checked too.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "transcript/transcript_test_util.h"

namespace mailtap::transcript {
namespace {

constexpr Microseconds kT0 = 1'714'566'896'000'000;

bool python_has_jsonschema() {
  return std::system("/usr/bin/python3 -c 'import jsonschema' >/dev/null 2>&1") == 0;
}

// Runs the validator; returns its exit status and fills `output`.
int validate(const std::filesystem::path& target, std::string& output) {
  auto log = testing::transcript_root() / "validate.log";
  std::string cmd = std::string("/usr/bin/python3 ") + MAILTAP_SOURCE_DIR +
                    "/tools/validate-transcripts.py '" + target.string() + "' >'" + log.string() +
                    "' 2>&1";
  int rc = std::system(cmd.c_str());
  output = testing::slurp(log);
  std::filesystem::remove(log);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

void line(SessionTranscript& s, Microseconds t, Party from, Party to, const std::string& text) {
  s.record(make_data(t, from, to, FrameKind::line, false, text));
}

void record_imap(SessionTranscript& s) {
  const auto C = Party::client, S = Party::server;
  line(s, kT0 + 1, S, C, "* OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN] ready\r\n");
  line(s, kT0 + 2, C, S, "a1 LOGIN {3+}\r\n");
  s.record(make_data(kT0 + 3, C, S, FrameKind::literal, false, "bob"));
  line(s, kT0 + 4, C, S, " secret\r\n");
  line(s, kT0 + 5, S, C, "a1 OK LOGIN completed\r\n");
  line(s, kT0 + 6, C, S, "a2 AUTHENTICATE PLAIN AGJvYgBzZWNyZXQ=\r\n");
  line(s, kT0 + 7, S, C, "a2 NO already authenticated\r\n");
  line(s, kT0 + 8, C, S, "a3 FETCH 1 BODY[]\r\n");
  line(s, kT0 + 9, S, C, "* 1 FETCH (BODY[] {23}\r\n");
  s.record(make_data(kT0 + 10, S, C, FrameKind::literal, false, "Subject: x\r\n\r\nhello\r\n\r\n"));
  line(s, kT0 + 11, S, C, ")\r\n");
  line(s, kT0 + 12, S, C, "a3 OK done\r\n");
  line(s, kT0 + 13, C, S, "a4 LOGOUT\r\n");
  line(s, kT0 + 14, S, C, "* BYE\r\n");
  line(s, kT0 + 15, S, C, "a4 OK\r\n");
}

void record_pop3(SessionTranscript& s) {
  const auto C = Party::client, S = Party::server;
  line(s, kT0 + 1, S, C, "+OK POP3 ready\r\n");
  line(s, kT0 + 2, C, S, "USER bob\r\n");
  line(s, kT0 + 3, S, C, "+OK\r\n");
  line(s, kT0 + 4, C, S, "PASS secret\r\n");
  line(s, kT0 + 5, S, C, "+OK logged in\r\n");
  line(s, kT0 + 6, C, S, "RETR 1\r\n");
  line(s, kT0 + 7, S, C, "+OK 20 octets\r\n");
  s.record(make_data(kT0 + 8, S, C, FrameKind::body, false, "Subject: y\r\n\r\n..dot\r\n"));
  line(s, kT0 + 9, S, C, ".\r\n");
  line(s, kT0 + 10, C, S, "AUTH LOGIN\r\n");
  line(s, kT0 + 11, S, C, "+ VXNlcm5hbWU6\r\n");
  line(s, kT0 + 12, C, S, "Ym9i\r\n");
  line(s, kT0 + 13, S, C, "-ERR [AUTH] nope\r\n");
  line(s, kT0 + 14, C, S, "QUIT\r\n");
  line(s, kT0 + 15, S, C, "+OK bye\r\n");
}

TEST(TranscriptSchema, EveryTranscriptTheTestsWroteIsValid) {
  if (!python_has_jsonschema()) GTEST_SKIP() << "/usr/bin/python3 has no jsonschema module";
  {
    WriterOptions o;
    o.directory = testing::fresh_dir("schema");
    TranscriptWriter writer(o);
    auto smtp = writer.open(testing::sample_header("schema-smtp", kT0));
    testing::record_sample_smtp(*smtp, kT0);
    SessionHeader ih = testing::sample_header("schema-imap", kT0);
    ih.protocol = Protocol::imap;
    auto imap = writer.open(ih);
    record_imap(*imap);
    SessionHeader ph = testing::sample_header("schema-pop3", kT0);
    ph.protocol = Protocol::pop3;
    ph.upstream_insecure = true;
    auto pop3 = writer.open(ph);
    record_pop3(*pop3);
    writer.flush();
  }
  ASSERT_EQ(testing::jsonl_files(testing::transcript_root() / "schema").size(), 3u);
  std::string output;
  int rc = validate(testing::transcript_root(), output);
  EXPECT_EQ(rc, 0) << output;
  EXPECT_NE(output.find("lines valid"), std::string::npos) << output;
}

TEST(TranscriptSchema, ValidatorRejectsBrokenLines) {
  if (!python_has_jsonschema()) GTEST_SKIP() << "/usr/bin/python3 has no jsonschema module";
  auto dir = testing::transcript_root() / "schema-broken-outside";
  auto path = testing::write_sample_transcript("schema-broken", kT0);
  std::string text = testing::slurp(path);
  // A data line whose base64 is damaged and a line with a wrong type for "tls".
  text +=
      R"({"t":1714566896999999,"seq":27,"type":"data","from":"client","to":"server","frame":"line","tls":"yes","len":1,"b64":"%%"})"
      "\n";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "broken.jsonl", std::ios::binary) << text;
  std::string output;
  EXPECT_EQ(validate(dir, output), 1) << output;
  EXPECT_NE(output.find("broken.jsonl:28:"), std::string::npos) << output;
  std::filesystem::remove_all(dir);  // keep it out of the all-transcripts validation
}

}  // namespace
}  // namespace mailtap::transcript
