#include "mailtap/transcript/tail_printer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "transcript/transcript_test_util.h"

namespace mailtap::transcript {
namespace {

constexpr Microseconds kT0 = 1'714'566'896'000'000;

// Captures what a TailPrinter writes to a FILE*.
class Capture {
 public:
  Capture() : f_(std::tmpfile()) {}
  ~Capture() { std::fclose(f_); }
  std::FILE* file() { return f_; }
  std::string text() {
    std::fflush(f_);
    std::rewind(f_);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f_)) > 0) out.append(buf, n);
    return out;
  }

 private:
  std::FILE* f_;
};

TEST(TailPrinter, PrintsASmtpSessionLikeMitmdump) {
  Capture cap;
  TailPrinter printer(cap.file());
  // Undecoded lines: this test is about the printer, not about what the decoders say.
  printer.print("s000001", to_json(testing::sample_header("s000001", kT0)));
  for (const auto& line : testing::encoded_sample_smtp(kT0)) printer.print("s000001", line);
  printer.forget("s000001");
  const std::string expected =
      "[s000001 smtp 127.0.0.1:5555] == session s000001 smtp from 127.0.0.1:5555 via "
      "smtp-submission (client TLS starttls) to 127.0.0.1:10587 (upstream TLS starttls)\n"
      "[s000001 smtp 127.0.0.1:5555] == connected client leg 127.0.0.1:5555\n"
      "[s000001 smtp 127.0.0.1:5555] == connected server leg 127.0.0.1:10587\n"
      "[s000001 smtp 127.0.0.1:5555] S: 220 mx.example.com ESMTP Postfix\n"
      "[s000001 smtp 127.0.0.1:5555] C: EHLO localhost\n"
      "[s000001 smtp 127.0.0.1:5555] S: 250-mx.example.com\n"
      "[s000001 smtp 127.0.0.1:5555] S: 250-PIPELINING\n"
      "[s000001 smtp 127.0.0.1:5555] S: 250 STARTTLS\n"
      "[s000001 smtp 127.0.0.1:5555] C: STARTTLS\n"
      "[s000001 smtp 127.0.0.1:5555] C: RSET   # dropped by mailtap\n"
      "[s000001 smtp 127.0.0.1:5555] !! warning starttls_injection: client sent bytes after "
      "STARTTLS before the handshake; dropped\n"
      "[s000001 smtp 127.0.0.1:5555] S: 220 2.0.0 Ready to start TLS\n"
      "[s000001 smtp 127.0.0.1:5555] == STARTTLS client leg handshake\n"
      "[s000001 smtp 127.0.0.1:5555] == TLS client leg TLSv1.3 TLS_AES_256_GCM_SHA384 "
      "sni=localhost\n"
      "[s000001 smtp 127.0.0.1:5555] == TLS server leg TLSv1.3 TLS_AES_256_GCM_SHA384 "
      "sni=localhost peer=\"CN=localhost\" verify=ok\n"
      "[s000001 smtp 127.0.0.1:5555] C: MAIL FROM:<a@example.com>\n"
      "[s000001 smtp 127.0.0.1:5555] S: 250 2.1.0 Ok\n"
      "[s000001 smtp 127.0.0.1:5555] C: DATA\n"
      "[s000001 smtp 127.0.0.1:5555] S: 354 End data with <CR><LF>.<CR><LF>\n"
      "[s000001 smtp 127.0.0.1:5555] C: <body 43 bytes in 2 pieces>\n"
      "[s000001 smtp 127.0.0.1:5555] C: .\n"
      "[s000001 smtp 127.0.0.1:5555] S: 250 2.0.0 Ok: queued as 1234\n"
      "[s000001 smtp 127.0.0.1:5555] P: 421 4.4.0 upstream went away   # sent by mailtap to "
      "client\n"
      "[s000001 smtp 127.0.0.1:5555] !! error upstream_closed: upstream closed the connection\n"
      "[s000001 smtp 127.0.0.1:5555] == close server leg by server (eof) in=200 out=120\n"
      "[s000001 smtp 127.0.0.1:5555] == close client leg by mailtap (upstream closed) in=120 "
      "out=230\n";
  EXPECT_EQ(cap.text(), expected);
}

TEST(TailPrinter, AttachedToAWriterSeesEveryLineWithDecoderNotes) {
  Capture cap;
  TailPrinter printer(cap.file());
  WriterOptions o;
  o.write_files = false;
  printer.attach(o);
  std::vector<nlohmann::json> seen;
  auto print = o.observer;
  o.observer = [&](const std::string& id, const nlohmann::json& line) {
    seen.push_back(line);
    print(id, line);
  };
  {
    TranscriptWriter writer(o);
    auto s = writer.open(testing::sample_header("s000001", kT0));
    testing::record_sample_smtp(*s, kT0);
    s->finish();
    writer.flush();
  }
  std::string out = cap.text();
  EXPECT_NE(out.find("[s000001 smtp 127.0.0.1:5555] C: EHLO localhost"), std::string::npos) << out;
  EXPECT_NE(out.find("C: <body 43 bytes in 2 pieces>"), std::string::npos) << out;
  // Whatever the decoder explained is shown beside the line.
  for (const auto& line : seen) {
    if (!line.contains("note")) continue;
    EXPECT_NE(out.find(line["note"].get<std::string>()), std::string::npos) << line.dump() << "\n"
                                                                            << out;
  }
}

TEST(TailPrinter, UsesNotesDecodedSummariesAndLineWarnings) {
  Capture cap;
  TailPrinter printer(cap.file());
  printer.print(
      "s2",
      {{"type", "session"}, {"session", "s2"}, {"protocol", "imap"}, {"client", "10.0.0.1:4000"}});
  printer.print("s2",
                {{"type", "data"},
                 {"from", "client"},
                 {"to", "server"},
                 {"frame", "line"},
                 {"len", 20},
                 {"text", "a1 LOGIN bob ***\r\n"},
                 {"note", "log in as bob"},
                 {"warnings",
                  {{{"code", "cleartext_credentials"}, {"message", "password sent before TLS"}}}}});
  printer.print("s2", {{"type", "data"},
                       {"from", "server"},
                       {"to", "client"},
                       {"frame", "line"},
                       {"len", 12},
                       {"text", "a1 OK done\r\n"},
                       {"decoded", {{"summary", "login succeeded"}, {"latency_us", 1200}}}});
  printer.print("s2", {{"type", "data"},
                       {"from", "server"},
                       {"to", "client"},
                       {"frame", "raw"},
                       {"len", 3},
                       {"b64", "AAEC"}});
  printer.print("s2", {{"type", "future_thing"}, {"seq", 9}, {"x", 1}});
  printer.forget("s2");
  EXPECT_EQ(cap.text(),
            "[s2 imap 10.0.0.1:4000] == session s2 imap from 10.0.0.1:4000\n"
            "[s2 imap 10.0.0.1:4000] C: a1 LOGIN bob ***   # log in as bob\n"
            "[s2 imap 10.0.0.1:4000] !! warning cleartext_credentials: password sent before TLS\n"
            "[s2 imap 10.0.0.1:4000] S: a1 OK done   # login succeeded\n"
            "[s2 imap 10.0.0.1:4000] S: <3 binary bytes>\n"
            "[s2 imap 10.0.0.1:4000] == future_thing {\"x\":1}\n");
}

TEST(TailPrinter, PendingBodyIsPrintedOnForgetAndColorsAreOptIn) {
  Capture cap;
  TailPrinter printer(cap.file(), TailOptions{.color = true});
  printer.print("s3", {{"type", "data"},
                       {"from", "server"},
                       {"to", "client"},
                       {"frame", "body"},
                       {"len", 5},
                       {"text", "hello"}});
  printer.forget("s3");
  std::string out = cap.text();
  EXPECT_NE(out.find("S: <body 5 bytes>"), std::string::npos) << out;
  EXPECT_NE(out.find("\x1b["), std::string::npos);
}

TEST(TailPrinter, DescribesSessionLayerEvents) {
  Capture cap;
  TailPrinter printer(cap.file());
  printer.print(
      "s4",
      {{"type", "starttls"}, {"leg", "server"}, {"phase", "requested"}, {"handled_by", "mailtap"}});
  printer.print("s4", {{"type", "close"},
                       {"leg", "both"},
                       {"by", "mailtap"},
                       {"reason", "done"},
                       {"client_bytes_in", 10},
                       {"client_bytes_out", 20},
                       {"server_bytes_in", 30},
                       {"server_bytes_out", 40}});
  EXPECT_EQ(cap.text(),
            "[s4] == STARTTLS server leg requested (handled by mailtap)\n"
            "[s4] == close both legs by mailtap (done) client in=10 out=20 server in=30 out=40\n");
}

}  // namespace
}  // namespace mailtap::transcript
