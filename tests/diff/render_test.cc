#include "mailtap/diff/render.h"

#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "diff/diff_test_util.h"

namespace mailtap::diff {
namespace {

using testing::SessionBuilder;

SessionDiff sample_diff() {
  SessionBuilder a("smtp"), b("smtp");
  a.s("220 mx").c("EHLO c").s("250-mx").s("250-DSN").s("250 SIZE 10").c("VRFY x").s("252 2.0.0 x");
  a.c("QUIT").s("221 2.0.0 Bye");
  b.s("220 mx").c("EHLO c").s("250-mx").s("250-HELP").s("250 SIZE 10").c("QUIT").s("221 Bye");
  return compare_sessions(a.steps(), b.steps());
}

TEST(DiffRenderJson, DescribesEveryStepAndDifference) {
  nlohmann::json j = to_json(sample_diff(), "a.jsonl", "b.jsonl");
  EXPECT_FALSE(j["identical"].get<bool>());
  EXPECT_EQ(j["a"]["file"], "a.jsonl");
  EXPECT_EQ(j["b"]["protocol"], "smtp");
  EXPECT_EQ(j["summary"]["same"], 1);
  EXPECT_EQ(j["summary"]["changed"], 2);
  EXPECT_EQ(j["summary"]["only_a"], 1);
  EXPECT_EQ(j["summary"]["only_b"], 0);
  ASSERT_EQ(j["steps"].size(), 4u);
  EXPECT_EQ(j["steps"][0]["status"], "same");
  const auto& ehlo = j["steps"][1];
  EXPECT_EQ(ehlo["status"], "changed");
  EXPECT_EQ(ehlo["a"]["verb"], "EHLO");
  EXPECT_EQ(ehlo["a"]["seq"], 2);
  ASSERT_EQ(ehlo["differences"].size(), 1u);
  EXPECT_EQ(ehlo["differences"][0]["facet"], "extensions");
  EXPECT_EQ(ehlo["differences"][0]["kind"], "set");
  EXPECT_EQ(ehlo["differences"][0]["only_a"], nlohmann::json::array({"DSN"}));
  EXPECT_EQ(ehlo["differences"][0]["only_b"], nlohmann::json::array({"HELP"}));
  const auto& vrfy = j["steps"][2];
  EXPECT_EQ(vrfy["status"], "only_a");
  EXPECT_TRUE(vrfy["b"].is_null());
  EXPECT_EQ(vrfy["a"]["label"], "VRFY x");
  const auto& quit = j["steps"][3]["differences"];
  ASSERT_EQ(quit.size(), 1u);
  EXPECT_EQ(quit[0]["facet"], "enhanced code");
  EXPECT_EQ(quit[0]["a"], "2.0.0");
  EXPECT_EQ(quit[0]["missing_in"], "b");
  // round-trips as JSON text
  EXPECT_EQ(nlohmann::json::parse(j.dump()), j);
}

TEST(DiffRenderJson, IdenticalSessions) {
  SessionBuilder a("imap");
  a.s("* OK ready").c("a LOGOUT").s("* BYE").s("a OK bye");
  nlohmann::json j = to_json(compare_sessions(a.steps(), a.steps()), "x", "y");
  EXPECT_TRUE(j["identical"].get<bool>());
  for (const auto& s : j["steps"]) EXPECT_TRUE(s["differences"].empty());
}

TEST(DiffRenderText, MarksAndFacets) {
  std::ostringstream out;
  TextOptions o;
  o.a_name = "a.jsonl";
  o.b_name = "b.jsonl";
  render_text(sample_diff(), out, o);
  const std::string s = out.str();
  EXPECT_NE(s.find("mailtap diff: 3 differences: 2 changed, 1 only in A, 0 only in B; 1 the same"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("  = greeting\n"), std::string::npos) << s;
  EXPECT_NE(s.find("  ~ EHLO c"), std::string::npos);
  // one element on each side reads as "this became that"
  EXPECT_TRUE(std::regex_search(s, std::regex("extensions: +A: DSN\n +B: HELP\n"))) << s;
  EXPECT_NE(s.find("  - VRFY x  (only in A)"), std::string::npos);
  EXPECT_EQ(s.find("\x1b["), std::string::npos);  // no colour unless asked

  std::ostringstream colored;
  o.color = true;
  o.show_same = false;
  render_text(sample_diff(), colored, o);
  EXPECT_NE(colored.str().find("\x1b[33m"), std::string::npos);
  EXPECT_EQ(colored.str().find("= greeting"), std::string::npos);
}

TEST(DiffRenderText, WholeSetsWrappedAndMissingFacetsShownAsNone) {
  SessionBuilder a("imap"), b("imap");
  std::string many;
  for (int i = 0; i < 60; ++i) many += " X-EXTENSION-NUMBER-" + std::to_string(i);
  a.s("* OK [CAPABILITY IMAP4rev1] ready").c("a1 SELECT INBOX").s("a1 OK done");
  b.s("* OK [CAPABILITY IMAP4rev1" + many + "] ready").c("a1 SELECT INBOX");
  b.s("* OK [URLMECH INTERNAL] Ok").s("a1 OK done");
  std::ostringstream out;
  render_text(compare_sessions(a.steps(), b.steps()), out, TextOptions{});
  const std::string s = out.str();
  // every element is listed (none cut off), over several lines of at most 100 columns
  for (int i = 0; i < 60; ++i) {
    const std::string name = "X-EXTENSION-NUMBER-" + std::to_string(i);
    EXPECT_TRUE(s.find(name + "\n") != std::string::npos || s.find(name + " ") != std::string::npos)
        << name << "\n"
        << s;
  }
  EXPECT_EQ(s.find("more)"), std::string::npos) << s;
  std::istringstream lines(s);
  for (std::string l; std::getline(lines, l);) EXPECT_LE(l.size(), 100u) << l;
  // a facet only B has: A shows "(none)", B its whole value
  EXPECT_TRUE(std::regex_search(
      s, std::regex("untagged OK \\[URLMECH\\]: +A: \\(none\\)\n +B: \\[URLMECH INTERNAL\\] Ok\n")))
      << s;
}

TEST(DiffRenderText, NotesSayWhatWasNotCompared) {
  SessionBuilder capture("smtp"), replay("smtp");
  capture.tls_modes("starttls", "starttls");
  capture.s("220 mx").c("STARTTLS").s("220 go").tls("server").tls("client").c("QUIT").s("221 Bye");
  replay.runner("starttls");
  replay.s("220 mx").c("STARTTLS").s("220 go").tls("server").c("QUIT").s("221 Bye");
  SessionDiff d = compare_sessions(capture.steps(), replay.steps());
  std::ostringstream out;
  render_text(d, out, TextOptions{});
  const std::string s = out.str();
  EXPECT_NE(s.find("mailtap diff: no differences"), std::string::npos) << s;
  EXPECT_NE(s.find("(mailtap run)"), std::string::npos) << s;
  EXPECT_NE(s.find("note: B was recorded by mailtap run"), std::string::npos) << s;
  // notes are wrapped at 100 columns: read them with the line breaks folded
  std::string flat;
  std::istringstream words(s);
  for (std::string w; words >> w;) flat += (flat.empty() ? "" : " ") + w;
  EXPECT_NE(flat.find("A's TLS handshake on the client leg (TLSv1.3 TLS_AES_256_GCM_SHA384)"),
            std::string::npos)
      << s;
  std::istringstream lines(s);
  for (std::string l; std::getline(lines, l);) EXPECT_LE(l.size(), 100u) << l;
  EXPECT_EQ(s.find("(only in A)"), std::string::npos) << s;
  nlohmann::json j = to_json(d, "capture.jsonl", "replay.jsonl");
  EXPECT_TRUE(j["identical"].get<bool>());
  ASSERT_EQ(j["notes"].size(), 1u);
  EXPECT_EQ(j["a"]["recorded_by"], "mailtap proxy");
  EXPECT_EQ(j["b"]["recorded_by"], "mailtap run");
}

TEST(DiffRenderText, TerminalControlBytesFromTheWireAreNeutralised) {
  EXPECT_EQ(printable("ok\x1b[2Jgone\x07"), "ok\\x1b[2Jgone\\x07");
  EXPECT_EQ(printable("tab\tstays"), "tab\tstays");
  EXPECT_EQ(printable("c1 \xc2\x9b"
                      "31m"),
            "c1 \\x9b31m");
  EXPECT_EQ(printable("caf\xc3\xa9"), "caf\xc3\xa9");

  SessionBuilder a("smtp"), b("smtp");
  a.s("220 evil \x1b]0;owned\x07 banner");
  b.s("220 fine");
  std::ostringstream out;
  render_text(compare_sessions(a.steps(), b.steps()), out, TextOptions{});
  EXPECT_EQ(out.str().find('\x1b'), std::string::npos);
  EXPECT_NE(out.str().find("\\x1b]0;owned\\x07"), std::string::npos);
}

}  // namespace
}  // namespace mailtap::diff
