#include "mailtap/show/render.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "mailtap/show/show_command.h"
#include "mailtap/transcript/transcript_reader.h"
#include "transcript/transcript_test_util.h"

namespace mailtap::show {
namespace {

using nlohmann::json;

constexpr Microseconds kT0 = 1'714'566'896'000'000;

// The sample session without protocol decoding, so the expected text does not depend on what the
// decoders currently say. Header t = kT0.
transcript::Transcript sample(const std::string& name) {
  transcript::Transcript t;
  t.header = transcript::to_json(transcript::testing::sample_header(name, kT0));
  t.events = transcript::testing::encoded_sample_smtp(kT0);
  return t;
}

std::string render_to_string(const json& header, const std::vector<json>& events, Format f,
                             RenderOptions o = {}) {
  std::ostringstream out;
  render(header, events, f, out, o);
  return out.str();
}

bool has_line(const std::string& text, const std::string& line) {
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l))
    if (l == line) return true;
  return false;
}

std::string line_containing(const std::string& text, const std::string& part) {
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l))
    if (l.find(part) != std::string::npos) return l;
  return "";
}

// A hand-made IMAP session carrying what decoders add: notes, summaries, latency, warnings.
std::pair<json, std::vector<json>> decoded_imap_session() {
  json header = {{"type", "session"},
                 {"format", "mailtap-transcript"},
                 {"version", 1},
                 {"session", "s9"},
                 {"protocol", "imap"},
                 {"client", "127.0.0.1:40000"},
                 {"t", 1000},
                 {"started", "1970-01-01T00:00:00.001000Z"},
                 {"listener",
                  {{"name", "imap"},
                   {"listen", "127.0.0.1:1143"},
                   {"client_tls", "plain"},
                   {"upstream", "127.0.0.1:143"},
                   {"upstream_tls", "implicit"},
                   {"upstream_insecure", true}}}};
  std::vector<json> events = {
      {{"t", 2000},
       {"seq", 1},
       {"type", "data"},
       {"from", "server"},
       {"to", "client"},
       {"frame", "line"},
       {"tls", false},
       {"len", 13},
       {"text", "* OK ready\r\n"},
       {"note", "greeting"}},
      {{"t", 3000},
       {"seq", 2},
       {"type", "data"},
       {"from", "client"},
       {"to", "server"},
       {"frame", "line"},
       {"tls", false},
       {"len", 31},
       {"text", "a1 AUTHENTICATE PLAIN AGJvYgA=\r\n"},
       {"redacted", true},
       {"decoded", {{"summary", "AUTH PLAIN as bob (password redacted)"}, {"latency_us", 4500}}},
       {"warnings", json::array({{{"code", "cleartext_credentials"},
                                  {"message", "credentials sent before TLS"}}})}},
      {{"t", 7500},
       {"seq", 3},
       {"type", "data"},
       {"from", "server"},
       {"to", "client"},
       {"frame", "line"},
       {"tls", false},
       {"len", 17},
       {"text", "a1 OK | done `x`\r\n"},
       {"note", "authenticated"}},
  };
  return {header, events};
}

TEST(ShowRender, TextShowsHeaderExchangeTlsBoundariesAlertsAndBodies) {
  auto t = sample("show-text");
  std::string text = render_to_string(t.header, t.events, Format::text);
  EXPECT_TRUE(has_line(text, "mailtap transcript show-text (smtp)")) << text;
  EXPECT_TRUE(has_line(text, "  client      127.0.0.1:5555, TLS starttls")) << text;
  EXPECT_TRUE(has_line(text, "  upstream    127.0.0.1:10587, TLS starttls")) << text;
  EXPECT_TRUE(has_line(text, "  started     2024-05-01T12:34:56.000000Z")) << text;
  EXPECT_TRUE(has_line(text, "    0.001500  S: 220 mx.example.com ESMTP Postfix")) << text;
  // Latency estimated from the next server line, beside the command.
  EXPECT_TRUE(has_line(text,
                       "    0.002000  C: EHLO localhost                                      "
                       "     # reply after 600 us"))
      << text;
  EXPECT_TRUE(has_line(text,
                       "    0.003001  C: RSET                                               "
                       "      # dropped by mailtap"))
      << text;
  EXPECT_NE(text.find("    0.003002  !! WARNING starttls_injection: client sent bytes after"),
            std::string::npos);
  EXPECT_NE(text.find("    0.009000  ---- TLS client leg TLSv1.3 TLS_AES_256_GCM_SHA384 "
                      "sni=localhost -----"),
            std::string::npos)
      << text;
  EXPECT_TRUE(has_line(text, "    0.011000  C: <body 43 bytes in 2 pieces>")) << text;
  EXPECT_TRUE(has_line(text, "                   | From: a@example.com")) << text;
  EXPECT_TRUE(has_line(text, "                   | Subject: hi")) << text;
  EXPECT_NE(text.find("P: 421 4.4.0 upstream went away"), std::string::npos);
  EXPECT_NE(text.find("!! ERROR upstream_closed"), std::string::npos);
  EXPECT_TRUE(has_line(text, "    0.012002  == close server leg by server (eof) in=200 out=120"));
  EXPECT_EQ(text.find("\x1b["), std::string::npos) << "no colour unless asked";
  RenderOptions colored;
  colored.color = true;
  EXPECT_NE(render_to_string(t.header, t.events, Format::text, colored).find("\x1b[1;31m"),
            std::string::npos);
}

TEST(ShowRender, TextUsesDecoderNotesLatencyAndWarnings) {
  auto [header, events] = decoded_imap_session();
  std::string text = render_to_string(header, events, Format::text);
  EXPECT_TRUE(has_line(text,
                       "  upstream    127.0.0.1:143, TLS implicit, certificate NOT verified "
                       "(--insecure)"))
      << text;
  EXPECT_NE(text.find("S: * OK ready"), std::string::npos);
  EXPECT_NE(text.find("# greeting"), std::string::npos);
  // The decoder's latency wins over the estimate, and its summary explains the AUTH step.
  std::string auth = line_containing(text, "C: a1 AUTHENTICATE PLAIN AGJvYgA=");
  EXPECT_TRUE(auth.ends_with("  # AUTH PLAIN as bob (password redacted) [latency 4.500 ms]"))
      << text;
  EXPECT_NE(text.find("!! WARNING cleartext_credentials: credentials sent before TLS"),
            std::string::npos);
  EXPECT_EQ(text.find("reply after"), std::string::npos)
      << "no estimates when the decoder measures";
}

TEST(ShowRender, LatencyInsideDecodedItemsIsFound) {
  auto [header, events] = decoded_imap_session();
  events[1]["decoded"] = {
      {"items", json::array({{{"command", "AUTHENTICATE"}}, {{"latency_us", 2500}}})}};
  std::string text = render_to_string(header, events, Format::text);
  EXPECT_TRUE(line_containing(text, "C: a1 AUTHENTICATE").ends_with("# latency 2.500 ms")) << text;
}

TEST(ShowRender, MarkdownIsATableSafeForBugReports) {
  auto t = sample("show-md");
  std::string md = render_to_string(t.header, t.events, Format::markdown);
  EXPECT_TRUE(has_line(md, "### mailtap transcript `show-md` (smtp)")) << md;
  EXPECT_TRUE(has_line(md, "| client | `127.0.0.1:5555`, TLS starttls |")) << md;
  EXPECT_TRUE(has_line(md, "| time (s) | who | what | meaning |")) << md;
  EXPECT_TRUE(has_line(md, "| 0.002000 | C | `EHLO localhost` | reply after 600 us |")) << md;
  EXPECT_TRUE(
      has_line(md, "| 0.010000 | C (TLS) | `MAIL FROM:<a@example.com>` | reply after 400 us |"))
      << md;
  EXPECT_TRUE(has_line(md,
                       "| 0.009000 | TLS | **TLS client leg TLSv1.3 TLS\\_AES\\_256\\_GCM\\_SHA384 "
                       "sni=localhost** |  |"))
      << md;
  EXPECT_TRUE(has_line(md,
                       "| 0.011000 | C (TLS) | \\<body 43 bytes in 2 pieces\\><br>`From: "
                       "a@example.com`<br>`Subject: hi` |  |"))
      << md;
  // Every table row has the same number of unescaped cell separators.
  std::istringstream in(md);
  std::string line;
  bool in_table = false;
  while (std::getline(in, line)) {
    if (line.rfind("| time (s)", 0) == 0) in_table = true;
    if (!in_table || line.empty()) continue;
    int pipes = 0;
    for (size_t i = 0; i < line.size(); ++i)
      if (line[i] == '|' && (i == 0 || line[i - 1] != '\\')) ++pipes;
    EXPECT_EQ(pipes, 5) << line;
  }
}

TEST(ShowRender, MarkdownEscapesPipesAndBackticks) {
  auto [header, events] = decoded_imap_session();
  std::string md = render_to_string(header, events, Format::markdown);
  EXPECT_TRUE(has_line(md, "| 0.006500 | S | `` a1 OK \\| done `x` `` | authenticated |")) << md;
  EXPECT_NE(md.find("**certificate NOT verified**"), std::string::npos);
  EXPECT_NE(md.find("**warning** cleartext\\_credentials: credentials sent before TLS"),
            std::string::npos)
      << md;
}

// A delivered message (IMAP FETCH, POP3 RETR) starts with Return-Path and Received lines; the
// preview shows the fields that say which message it is instead, in the message's order.
TEST(ShowRender, MessagePreviewShowsTheKeyHeaderFields) {
  const std::string message =
      "Return-Path: <a@example.com>\r\nDelivered-To: b@example.com\r\n"
      "Received: from mx.example.com\r\n\tby mx.example.com with LMTP\r\n"
      "Received: from localhost\r\n\t(using TLSv1.3)\r\nSubject: the subject\r\n"
      "From: a@example.com\r\nTo: b@example.com\r\nMessage-ID: <1@example.com>\r\n"
      "Date: Sun, 22 Nov 2026 10:00:00 +0000\r\nX-Other: no\r\n\r\nbody\r\n";
  json header = {{"type", "session"}, {"session", "s1"}, {"protocol", "pop3"}, {"t", 1000}};
  auto body = [&](int64_t t, int seq, std::string bytes) {
    json e = {{"t", t},      {"seq", seq},      {"type", "data"},      {"from", "server"},
              {"to", "client"}, {"frame", "body"}, {"tls", true},         {"len", bytes.size()},
              {"text", bytes}};
    return e;
  };
  // Split inside the header block: the preview reads the pieces together.
  std::vector<json> events = {body(2000, 1, message.substr(0, 70)),
                              body(2001, 2, message.substr(70))};
  std::string text = render_to_string(header, events, Format::text);
  EXPECT_NE(text.find("S: <body " + std::to_string(message.size()) + " bytes in 2 pieces>"),
            std::string::npos)
      << text;
  const std::vector<std::string> shown = {"| Subject: the subject", "| From: a@example.com",
                                          "| To: b@example.com", "| Message-ID: <1@example.com>",
                                          "| Date: Sun, 22 Nov 2026 10:00:00 +0000"};
  size_t at = 0;
  for (const auto& line : shown) {
    size_t found = text.find(line, at);
    ASSERT_NE(found, std::string::npos) << line << " in order in\n" << text;
    at = found;
  }
  EXPECT_EQ(text.find("Return-Path"), std::string::npos) << text;
  EXPECT_EQ(text.find("Received"), std::string::npos) << text;
  EXPECT_EQ(text.find("X-Other"), std::string::npos) << text;
  // Not a message (no header fields): the first lines, as before.
  std::vector<json> lines = {body(2000, 1, "1 918\r\n2 628\r\n")};
  std::string listing = render_to_string(header, lines, Format::text);
  EXPECT_EQ(listing.find("| 1 918"), std::string::npos) << listing;  // "1 918" is no header
}

// The line that ends an IMAP command after its literal is only CRLF: shown as such, not as an
// empty line.
TEST(ShowRender, BareLineEndIsNamed) {
  json header = {{"type", "session"}, {"session", "s1"}, {"protocol", "imap"}, {"t", 1000}};
  std::vector<json> events = {
      {{"t", 2000}, {"seq", 1}, {"type", "data"}, {"from", "client"}, {"to", "server"},
       {"frame", "line"}, {"tls", true}, {"len", 2}, {"text", "\r\n"},
       {"note", "a1 APPEND: the client uploads a message"}}};
  std::string text = render_to_string(header, events, Format::text);
  EXPECT_NE(text.find("C: <CRLF>"), std::string::npos) << text;
  std::string md = render_to_string(header, events, Format::markdown);
  EXPECT_NE(md.find("`<CRLF>`"), std::string::npos) << md;
}

// What mailtap dropped or wrote is said once: by the decoder when it says so, else by the row.
TEST(ShowRender, ProxyRoutingIsSaidOnce) {
  json header = {{"type", "session"}, {"session", "s1"}, {"protocol", "imap"}, {"t", 1000}};
  auto line = [](int seq, std::string from, std::string to, std::string text, std::string note) {
    json e = {{"t", 2000 + seq}, {"seq", seq},  {"type", "data"},     {"from", from},
              {"to", to},        {"frame", "line"}, {"tls", false}, {"len", text.size()},
              {"text", text}};
    if (!note.empty()) e["note"] = note;
    return e;
  };
  std::vector<json> events = {
      line(1, "server", "mailtap", "* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n",
           "dropped by mailtap (not relayed to the client): * OK: greeting"),
      line(2, "mailtap", "client", "* OK [CAPABILITY IMAP4rev1] hi\r\n",
           "from mailtap itself, not the server: * OK: greeting"),
      line(3, "client", "mailtap", "RSET\r\n", "")};
  std::string text = render_to_string(header, events, Format::text);
  EXPECT_EQ(text.find("dropped by mailtap; dropped by mailtap"), std::string::npos) << text;
  EXPECT_EQ(text.find("sent by mailtap to client; from mailtap"), std::string::npos) << text;
  EXPECT_NE(text.find("# dropped by mailtap (not relayed to the client): * OK: greeting"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# from mailtap itself, not the server: * OK: greeting"), std::string::npos)
      << text;
  EXPECT_NE(text.find("C: RSET"), std::string::npos) << text;
  EXPECT_NE(text.find("# dropped by mailtap"), std::string::npos) << text;  // undecoded: the row says it
}

TEST(ShowRender, JsonIsTheTranscriptAsAnArray) {
  auto t = sample("show-json");
  json all = json::parse(render_to_string(t.header, t.events, Format::json));
  ASSERT_TRUE(all.is_array());
  ASSERT_EQ(all.size(), t.events.size() + 1);
  EXPECT_EQ(all[0], t.header);
  EXPECT_EQ(all.back(), t.events.back());
}

TEST(ShowRender, EveryDecoderNoteOfARealTranscriptIsShown) {
  auto path = transcript::testing::write_sample_transcript("show-decoded", kT0);
  auto t = transcript::read_transcript(path);
  std::string text = render_to_string(t.header, t.events, Format::text);
  std::string md = render_to_string(t.header, t.events, Format::markdown);
  size_t notes = 0;
  for (const auto& e : t.events) {
    if (!e.contains("note") || !e["note"].is_string()) continue;
    ++notes;
    EXPECT_NE(text.find(e["note"].get<std::string>()), std::string::npos) << e.dump();
  }
  EXPECT_NE(text.find("C: EHLO localhost"), std::string::npos);
  EXPECT_NE(md.find("`EHLO localhost`"), std::string::npos);
  std::cout << "[ info ] " << notes << " decoder notes in the sample\n";
}

TEST(ShowCommand, RendersFilesAndDirectoriesAndReportsUnreadableOnes) {
  auto path = transcript::testing::write_sample_transcript("show-cmd", kT0);
  std::ostringstream out, err;
  EXPECT_EQ(run_show({path.parent_path().string()}, "text", false, out, err), 0) << err.str();
  EXPECT_NE(out.str().find("mailtap transcript show-cmd (smtp)"), std::string::npos);
  EXPECT_EQ(err.str(), "");

  std::ostringstream out2, err2;
  EXPECT_EQ(run_show({"/nonexistent/x.jsonl", path.string()}, "markdown", false, out2, err2), 2);
  EXPECT_NE(err2.str().find("/nonexistent/x.jsonl: cannot open"), std::string::npos) << err2.str();
  EXPECT_NE(out2.str().find("### mailtap transcript"), std::string::npos) << "others still shown";

  std::ostringstream out3, err3;
  EXPECT_EQ(run_show({path.string()}, "html", false, out3, err3), 2);
  EXPECT_NE(err3.str().find("unknown format 'html'"), std::string::npos);

  // A file that is not JSON Lines names the bad line.
  auto bad = path.parent_path() / "bad.txt";
  std::ofstream(bad) << transcript::testing::slurp(path).substr(0, 300) << "\nnot json\n{}\n";
  std::ostringstream out4, err4;
  EXPECT_EQ(run_show({bad.string()}, "text", false, out4, err4), 2);
  EXPECT_NE(err4.str().find("bad.txt:"), std::string::npos) << err4.str();
}

TEST(ShowCommand, TruncatedTranscriptIsShownWithANotice) {
  auto path = transcript::testing::write_sample_transcript("show-cut", kT0);
  std::string full = transcript::testing::slurp(path);
  std::ofstream(path, std::ios::trunc | std::ios::binary) << full.substr(0, full.size() - 10);
  std::ostringstream out, err;
  EXPECT_EQ(run_show({path.string()}, "text", false, out, err), 0);
  EXPECT_NE(err.str().find("cut off"), std::string::npos);
  EXPECT_NE(out.str().find("close server leg"), std::string::npos);
  EXPECT_EQ(out.str().find("close client leg"), std::string::npos);
}

}  // namespace
}  // namespace mailtap::show
