#include "mailtap/report/report.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "diff/diff_test_util.h"
#include "mailtap/diff/diff_command.h"
#include "mailtap/report/html.h"

namespace mailtap::report {
namespace {

using diff::testing::SessionBuilder;

transcript::Transcript as_transcript(const SessionBuilder& b) {
  transcript::Transcript t;
  t.header = b.header();
  t.events = b.events();
  return t;
}

size_t count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t p = haystack.find(needle); p != std::string::npos; p = haystack.find(needle, p + 1))
    ++n;
  return n;
}

std::string page(const std::vector<ReportSession>& sessions) {
  std::optional<diff::SessionDiff> d;
  if (sessions.size() == 2)
    d = diff::diff_transcripts(sessions[0].transcript, sessions[1].transcript, {});
  std::ostringstream out;
  write_report(sessions, d, out);
  return out.str();
}

TEST(Report, OneSessionTimeline) {
  auto t = transcript::read_transcript(diff::testing::fixture("dovecot-imap"));
  std::string html = page({{"dovecot.jsonl", t}});
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<table class=\"timeline\">"), std::string::npos);
  EXPECT_NE(html.find("<tr class=\"c"), std::string::npos);  // client column
  EXPECT_NE(html.find("<tr class=\"s"), std::string::npos);  // server column
  EXPECT_GE(count(html, "<tr class=\"boundary\">"), 2u);     // TLS on both legs
  EXPECT_NE(html.find("class=\"badge auth-badge\">AUTH</span>"), std::string::npos);
  EXPECT_NE(html.find("A004 AUTHENTICATE CRAM-MD5"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"latency\"><span"), std::string::npos);  // per-command latency
  EXPECT_NE(html.find("class=\"warn\""), std::string::npos);               // auth_in_cleartext
  EXPECT_EQ(html.find("id=\"diff\""), std::string::npos);                  // one session: no diff
  // self-contained: nothing fetched from anywhere
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find(" src="), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
}

TEST(Report, TwoSessionsGetTheDiffSideBySide) {
  auto a = transcript::read_transcript(diff::testing::fixture("postfix-swaks-1"));
  auto b = transcript::read_transcript(diff::testing::fixture("exim-swaks"));
  std::string html = page({{"postfix.jsonl", a}, {"exim.jsonl", b}});
  EXPECT_NE(html.find("<section class=\"diff\" id=\"diff\">"), std::string::npos);
  EXPECT_NE(html.find("<table class=\"diff-table\">"), std::string::npos);
  EXPECT_NE(html.find("<tr class=\"pair changed\">"), std::string::npos);
  EXPECT_NE(html.find("<span class=\"facet\">extensions</span>"), std::string::npos);
  EXPECT_NE(html.find("<code>ENHANCEDSTATUSCODES</code>"), std::string::npos);
  EXPECT_NE(html.find("id=\"only-differences\""), std::string::npos);
  EXPECT_EQ(count(html, "<section class=\"session\""), 2u);
}

TEST(Report, ContentSecurityPolicyAllowsExactlyTheInlineStyleAndScript) {
  auto t = transcript::read_transcript(diff::testing::fixture("dovecot-pop3"));
  std::string html = page({{"x", t}});
  std::smatch style, script, csp;
  ASSERT_TRUE(std::regex_search(html, style, std::regex("<style>([\\s\\S]*?)</style>")));
  ASSERT_TRUE(std::regex_search(html, script, std::regex("<script>([\\s\\S]*?)</script>")));
  ASSERT_TRUE(std::regex_search(
      html, csp, std::regex("http-equiv=\"Content-Security-Policy\" content=\"([^\"]*)\"")));
  const std::string policy = csp[1];
  EXPECT_NE(policy.find("default-src 'none'"), std::string::npos);
  EXPECT_NE(policy.find("style-src " + csp_hash(style[1].str())), std::string::npos) << policy;
  EXPECT_NE(policy.find("script-src " + csp_hash(script[1].str())), std::string::npos) << policy;
  EXPECT_EQ(count(html, "<script"), 1u);
}

TEST(Report, HostileBytesInATranscriptStayText) {
  SessionBuilder a("smtp"), b("smtp");
  const std::string evil = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&";
  a.s("220 " + evil).c("EHLO </td></tr><script>alert(3)</script>").s("250 ok " + evil);
  a.last()["note"] = evil;
  a.last()["warnings"] = nlohmann::json::array({{{"code", evil}, {"message", evil}}});
  b.s("220 fine").c("EHLO x").s("250 ok");
  std::string html = page({{evil + ".jsonl", as_transcript(a)}, {"b.jsonl", as_transcript(b)}});
  EXPECT_EQ(count(html, "<script"), 1u);  // only the page's own
  EXPECT_EQ(html.find("<img"), std::string::npos);
  // the handler survives only as escaped text, never inside a tag
  EXPECT_EQ(html.find(" onerror=alert(2)>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("&lt;img src=x onerror=alert(2)&gt;&quot;&#39;&amp;"), std::string::npos);
}

TEST(Report, RunReportWritesTheFileAndReportsUnreadableOnes) {
  auto dir = std::filesystem::temp_directory_path() /
             ("mailtap-report-tests-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string output = (dir / "r.html").string();
  std::ostringstream out, err;
  int status = run_report({diff::testing::fixture("dovecot-imap").string(),
                           diff::testing::fixture("cyrus-imap").string()},
                          output, {}, out, err);
  EXPECT_EQ(status, 0) << err.str();
  std::ifstream in(output);
  std::stringstream content;
  content << in.rdbuf();
  EXPECT_NE(content.str().find("id=\"diff\""), std::string::npos);
  for (const auto& e : std::filesystem::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos);

  std::ostringstream err2;
  status = run_report({"/nonexistent/x.jsonl"}, output, {}, out, err2);
  EXPECT_EQ(status, 2);
  EXPECT_NE(err2.str().find("/nonexistent/x.jsonl"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mailtap::report
