// The per-loop hand-off (TranscriptStage) and the failure signal sessions act on
// (SessionTranscript::failed, TranscriptWriter::failed_sessions).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "mailtap/transcript/transcript_writer.h"
#include "transcript/transcript_test_util.h"

namespace mailtap::transcript {
namespace {

using testing::client_line;
using testing::eventually_has_lines;
using testing::fresh_dir;
using testing::json_lines;
using testing::lines_in;
using testing::sample_header;

constexpr Microseconds kT0 = 1'714'566'896'123'456;

WriterOptions options_for(const std::filesystem::path& dir) {
  WriterOptions o;
  o.directory = dir;
  return o;
}

TEST(TranscriptStage, EventsWaitOnTheStageUntilHandedOff) {
  auto dir = fresh_dir("stage-wait");
  TranscriptWriter writer(options_for(dir));
  auto stage = writer.make_stage();
  auto s = writer.open(sample_header("st1", kT0), stage);
  s->record(client_line(kT0 + 1, "NOOP\r\n"));
  EXPECT_FALSE(stage->empty());
  writer.flush();  // covers only what was handed over: nothing yet, not even the file
  EXPECT_EQ(lines_in(s->path()), 0u);

  stage->hand_off();
  EXPECT_TRUE(stage->empty());
  writer.flush();
  auto lines = json_lines(s->path());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["type"], "session");
  EXPECT_EQ(lines[1]["text"], "NOOP\r\n");
  s->finish();
  stage->hand_off();
}

// Durability: once handed over, events reach the file with no flush(), no finish() and no
// further events: nothing lingers in the writer waiting for company. (A crash after this point
// loses nothing; the deadline is generous, the test does not time the writer.)
TEST(TranscriptStage, HandedOffEventsAreWrittenWithoutFlushOrMoreEvents) {
  auto dir = fresh_dir("stage-durable");
  TranscriptWriter writer(options_for(dir));
  auto stage = writer.make_stage();
  auto s = writer.open(sample_header("st2", kT0), stage);
  for (int iteration = 1; iteration <= 50; ++iteration) {
    s->record(client_line(kT0 + iteration, "NOOP " + std::to_string(iteration) + "\r\n"));
    stage->hand_off();
    ASSERT_TRUE(eventually_has_lines(s->path(), 1 + iteration)) << "iteration " << iteration;
  }
  auto lines = json_lines(s->path());
  EXPECT_EQ(lines.back()["text"], "NOOP 50\r\n");
  s->finish();
  stage->hand_off();
}

TEST(TranscriptStage, StagedAndDirectSessionsKeepTheirOrderAndSequence) {
  auto dir = fresh_dir("stage-mixed");
  std::filesystem::path staged_path, direct_path;
  {
    TranscriptWriter writer(options_for(dir));
    auto stage = writer.make_stage();
    auto a = writer.open(sample_header("st3a", kT0), stage);
    auto b = writer.open(sample_header("st3b", kT0));
    staged_path = a->path();
    direct_path = b->path();
    for (int i = 0; i < 1000; ++i) {
      a->record(client_line(kT0 + i, "A " + std::to_string(i) + "\r\n"));
      b->record(client_line(kT0 + i, "B " + std::to_string(i) + "\r\n"));
      if (i % 7 == 0) stage->hand_off();
    }
    a->finish();
    b->finish();
    // The stage's destructor hands off the rest; the writer's destructor drains.
  }
  for (const auto& [path, prefix] :
       {std::pair{staged_path, std::string("A ")}, std::pair{direct_path, std::string("B ")}}) {
    auto lines = json_lines(path);
    ASSERT_EQ(lines.size(), 1001u) << path;
    for (size_t i = 1; i < lines.size(); ++i) {
      EXPECT_EQ(lines[i]["seq"], i);
      EXPECT_EQ(lines[i]["text"], prefix + std::to_string(i - 1) + "\r\n");
    }
  }
}

TEST(TranscriptStage, HandleOutlivingItsStageAndWriterIsHarmless) {
  auto dir = fresh_dir("stage-outlive");
  std::shared_ptr<SessionTranscript> s;
  {
    TranscriptWriter writer(options_for(dir));
    auto stage = writer.make_stage();
    s = writer.open(sample_header("st4", kT0), stage);
    stage->hand_off();
  }
  s->record(
      client_line(kT0, "QUIT\r\n"));  // kept on the stage the handle still holds; never written
  s->finish();
  EXPECT_EQ(lines_in(s->path()), 1u);
}

// A session must be able to learn that its file is lost, to apply --on-transcript-error.
TEST(TranscriptFailure, SessionLearnsItsFileCannotBeCreated) {
  WriterOptions o;
  o.directory = "/dev/null/not-a-directory";                      // cannot exist, root or not
  o.observer = [](const std::string&, const nlohmann::json&) {};  // keep stderr quiet
  TranscriptWriter writer(o);
  auto stage = writer.make_stage();
  auto s = writer.open(sample_header("st5", kT0), stage);
  EXPECT_FALSE(s->failed());
  EXPECT_EQ(s->failure(), "");
  s->record(client_line(kT0, "NOOP\r\n"));
  stage->hand_off();
  writer.flush();
  EXPECT_TRUE(s->failed());
  EXPECT_NE(s->failure().find("cannot create transcript"), std::string::npos) << s->failure();
  EXPECT_EQ(writer.failed_sessions(), 1u);

  auto ok_dir = fresh_dir("stage-ok");
  TranscriptWriter healthy(options_for(ok_dir));
  auto t = healthy.open(sample_header("st6", kT0));
  t->record(client_line(kT0, "NOOP\r\n"));
  healthy.flush();
  EXPECT_FALSE(t->failed());
  EXPECT_EQ(healthy.failed_sessions(), 0u);
  s->finish();
  t->finish();
  stage->hand_off();
}

}  // namespace
}  // namespace mailtap::transcript
