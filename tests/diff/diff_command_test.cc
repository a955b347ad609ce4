#include "mailtap/diff/diff_command.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "diff/diff_test_util.h"
#include "mailtap/diff/render.h"

namespace mailtap::diff {
namespace {

std::string fixture(const std::string& name) {
  return testing::fixture(name).string();
}

struct DiffRun {
  int status;
  std::string out, err;
};

DiffRun run(const std::string& a, const std::string& b, const DiffOptions& o = {}) {
  std::ostringstream out, err;
  int status = run_diff(a, b, o, out, err);
  return {status, out.str(), err.str()};
}

std::filesystem::path scratch(const std::string& name) {
  auto dir =
      std::filesystem::temp_directory_path() / ("mailtap-diff-tests-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir / name;
}

TEST(DiffCommand, ExitStatusLikeDiff) {
  DiffRun same = run(fixture("postfix-swaks-1"), fixture("postfix-swaks-2"));
  EXPECT_EQ(same.status, 0) << same.err;
  EXPECT_NE(same.out.find("no differences"), std::string::npos);
  DiffRun different = run(fixture("postfix-swaks-1"), fixture("exim-swaks"));
  EXPECT_EQ(different.status, 1) << different.err;
  EXPECT_TRUE(different.err.empty());
}

TEST(DiffCommand, UnreadableFileIsTroubleWithAClearMessage) {
  DiffRun r = run(fixture("postfix-swaks-1"), "/nonexistent/b.jsonl");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(r.out.empty());
  EXPECT_NE(r.err.find("/nonexistent/b.jsonl"), std::string::npos) << r.err;

  auto bad = scratch("not-a-transcript.jsonl");
  std::ofstream(bad) << "this is not JSON\n";
  r = run(bad.string(), fixture("postfix-swaks-1"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find(bad.string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(":1"), std::string::npos) << r.err;  // names the line
}

// The lines of a fixture, to build damaged copies of it.
std::vector<std::string> fixture_lines(const std::string& name) {
  std::ifstream in(fixture(name), std::ios::binary);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

std::string write_lines(const std::string& name, const std::vector<std::string>& lines,
                        const std::string& tail = "") {
  auto path = scratch(name);
  std::ofstream out(path, std::ios::binary);
  for (const auto& l : lines) out << l << "\n";
  out << tail;
  return path.string();
}

TEST(DiffCommand, TruncatedLastLineIsComparedWithANote) {
  auto lines = fixture_lines("postfix-swaks-1");
  ASSERT_GT(lines.size(), 20u);
  const std::string cut = lines[20].substr(0, lines[20].size() / 2);  // killed mid-write
  const std::string path = write_lines(
      "truncated.jsonl", std::vector<std::string>(lines.begin(), lines.begin() + 20), cut);
  DiffRun r = run(fixture("postfix-swaks-1"), path);
  EXPECT_EQ(r.status, 1) << r.err;  // the missing end is a difference, not trouble
  EXPECT_TRUE(r.err.empty()) << r.err;
  EXPECT_NE(r.out.find("note: B ends with a line cut off mid-write"), std::string::npos) << r.out;
  DiffOptions json;
  json.format = "json";
  DiffRun j = run(fixture("postfix-swaks-1"), path, json);
  EXPECT_TRUE(nlohmann::json::parse(j.out)["b"]["truncated"].get<bool>());
}

TEST(DiffCommand, DamagedLinesDirectoriesAndEmptyFilesAreTroubleNamingFileAndLine) {
  auto lines = fixture_lines("postfix-swaks-1");
  auto broken = lines;
  broken[7] = "{\"type\": \"data\", oops";
  const std::string bad_json = write_lines("bad-line.jsonl", broken);
  DiffRun r = run(fixture("postfix-swaks-1"), bad_json);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find(bad_json + ":8: not valid JSON"), std::string::npos) << r.err;

  auto gap = lines;
  gap[5] = "";
  r = run(write_lines("empty-line.jsonl", gap), fixture("postfix-swaks-1"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find(":6: empty line"), std::string::npos) << r.err;

  auto untyped = lines;
  untyped[3] = "{\"seq\": 3}";
  r = run(write_lines("untyped.jsonl", untyped), fixture("postfix-swaks-1"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find(":4: event line has no string \"type\""), std::string::npos) << r.err;

  r = run(scratch("").string(), fixture("postfix-swaks-1"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("is a directory"), std::string::npos) << r.err;

  r = run(write_lines("empty.jsonl", {}), fixture("postfix-swaks-1"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("empty file"), std::string::npos) << r.err;

  r = run(write_lines("header-cut.jsonl", {}, lines[0].substr(0, 30)), fixture("postfix-swaks-1"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("header line is incomplete"), std::string::npos) << r.err;
  // and a hint of what a transcript is, for a file that is not one
  EXPECT_NE(r.err.find("written by mailtap proxy or mailtap run"), std::string::npos) << r.err;
}

TEST(DiffCommand, StreamedFilesCompareLikeTranscriptsReadWhole) {
  // run_diff reads files line by line into steps; diff_transcripts takes transcripts read whole
  for (const auto& [a, b] :
       {std::pair{"postfix-swaks-1", "exim-swaks"}, std::pair{"dovecot-imap", "cyrus-imap"},
        std::pair{"dovecot-pop3", "cyrus-pop3"}}) {
    DiffOptions json;
    json.format = "json";
    DiffRun streamed = run(fixture(a), fixture(b), json);
    SessionDiff whole = diff_transcripts(transcript::read_transcript(fixture(a)),
                                         transcript::read_transcript(fixture(b)), RuleSet{});
    EXPECT_EQ(nlohmann::json::parse(streamed.out), to_json(whole, fixture(a), fixture(b))) << a;
  }
}

TEST(DiffCommand, BadPatternOrFormatIsTrouble) {
  DiffOptions o;
  o.ignore = {"(unclosed"};
  DiffRun r = run(fixture("postfix-swaks-1"), fixture("postfix-swaks-2"), o);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("(unclosed"), std::string::npos);
  DiffOptions f;
  f.format = "xml";
  EXPECT_EQ(run(fixture("postfix-swaks-1"), fixture("postfix-swaks-2"), f).status, 2);
  DiffOptions missing_rules;
  missing_rules.rules_files = {"/nonexistent/rules"};
  EXPECT_EQ(run(fixture("postfix-swaks-1"), fixture("postfix-swaks-2"), missing_rules).status, 2);
}

TEST(DiffCommand, IgnorePatternsAndRulesFilesCanMakeServersCompareEqualWhereTheyDiffer) {
  // Postfix and Exim differ in many texts; rules that set all texts aside leave the codes,
  // extensions and enhanced codes.
  DiffOptions o;
  o.format = "json";
  DiffRun before = run(fixture("postfix-swaks-1"), fixture("exim-swaks"), o);
  ASSERT_EQ(before.status, 1);
  auto rules = scratch("rules.txt");
  std::ofstream(rules) << "# set the STARTTLS reply texts aside\n"
                          "smtp: replace ^(Ready to start TLS|TLS go ahead)$ => <starttls text>\n";
  o.rules_files = {rules.string()};
  DiffRun after = run(fixture("postfix-swaks-1"), fixture("exim-swaks"), o);
  ASSERT_EQ(after.status, 1);
  auto count_texts = [](const std::string& json_text, const std::string& verb) {
    auto j = nlohmann::json::parse(json_text);
    int n = 0;
    for (const auto& s : j["steps"])
      if (!s["a"].is_null() && s["a"]["verb"] == verb)
        for (const auto& d : s["differences"]) n += d["facet"] == "text";
    return n;
  };
  EXPECT_EQ(count_texts(before.out, "STARTTLS"), 1);
  EXPECT_EQ(count_texts(after.out, "STARTTLS"), 0);
}

TEST(DiffCommand, QuietPrintsNothing) {
  DiffOptions o;
  o.quiet = true;
  DiffRun r = run(fixture("dovecot-imap"), fixture("cyrus-imap"), o);
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(r.out.empty());
}

TEST(DiffCommand, JsonOutputParses) {
  DiffOptions o;
  o.format = "json";
  DiffRun r = run(fixture("dovecot-pop3"), fixture("cyrus-pop3"), o);
  EXPECT_EQ(r.status, 1);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_FALSE(j["identical"].get<bool>());
  EXPECT_EQ(j["a"]["protocol"], "pop3");
  EXPECT_GT(j["summary"]["changed"].get<int>(), 0);
}

}  // namespace
}  // namespace mailtap::diff
