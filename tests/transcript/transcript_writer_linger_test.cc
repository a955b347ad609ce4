// The writer's linger (WriterOptions::linger): hand-offs within it share one batch, yet nothing
// waits for it that must not: lines are written once it ends without further activity, and
// flush(), shutdown and a full linger_bytes end it early. The long lingers here (60 s) make the
// "not yet written" checks certain; "ended early" is checked against half of it.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "mailtap/transcript/transcript_writer.h"
#include "transcript/transcript_test_util.h"

namespace mailtap::transcript {
namespace {

using std::chrono::steady_clock;
using testing::client_line;
using testing::eventually_has_lines;
using testing::fresh_dir;
using testing::json_lines;
using testing::lines_in;
using testing::sample_header;

constexpr Microseconds kT0 = 1'714'566'896'123'456;
constexpr auto kLongLinger = std::chrono::seconds(60);

WriterOptions lingering_options(const std::filesystem::path& dir,
                                std::chrono::microseconds linger) {
  WriterOptions o;
  o.directory = dir;
  o.linger = linger;
  return o;
}

TEST(TranscriptWriterLinger, LinesAreWrittenWhenTheLingerEndsWithoutFurtherActivity) {
  auto dir = fresh_dir("linger-ends");
  TranscriptWriter writer(lingering_options(dir, std::chrono::milliseconds(20)));
  auto stage = writer.make_stage();
  auto s = writer.open(sample_header("lg1", kT0), stage);
  s->record(client_line(kT0 + 1, "NOOP\r\n"));
  stage->hand_off();
  // Nothing else happens: no flush, no further hand-off, the session stays open.
  EXPECT_TRUE(eventually_has_lines(s->path(), 2));
  EXPECT_EQ(json_lines(s->path())[1]["text"], "NOOP\r\n");
}

TEST(TranscriptWriterLinger, HandOffsWithinTheLingerWaitTogether) {
  auto dir = fresh_dir("linger-waits");
  TranscriptWriter writer(lingering_options(dir, kLongLinger));
  auto stage = writer.make_stage();
  auto s = writer.open(sample_header("lg2", kT0), stage);
  s->record(client_line(kT0 + 1, "NOOP\r\n"));
  stage->hand_off();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  s->record(client_line(kT0 + 2, "NOOP\r\n"));
  stage->hand_off();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // Still within the linger: neither hand-off is written, not even the file's header.
  EXPECT_EQ(lines_in(s->path()), 0u);

  auto before = steady_clock::now();
  writer.flush();  // ends the linger at once
  EXPECT_LT(steady_clock::now() - before, kLongLinger / 2);
  EXPECT_EQ(lines_in(s->path()), 3u);
}

TEST(TranscriptWriterLinger, AFullLingerBytesEndsTheWait) {
  auto dir = fresh_dir("linger-bytes");
  WriterOptions o = lingering_options(dir, kLongLinger);
  o.linger_bytes = 4 << 10;
  TranscriptWriter writer(std::move(o));
  auto stage = writer.make_stage();
  auto s = writer.open(sample_header("lg3", kT0), stage);
  s->record(client_line(kT0 + 1, std::string(1000, 'a') + "\r\n"));
  stage->hand_off();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(lines_in(s->path()), 0u);  // 1 KiB: below linger_bytes, still gathering

  for (int i = 0; i < 8; ++i) s->record(client_line(kT0 + 2 + i, std::string(1000, 'b') + "\r\n"));
  stage->hand_off();  // now over 4 KiB: written long before the 60 s linger
  EXPECT_TRUE(eventually_has_lines(s->path(), 10));
}

TEST(TranscriptWriterLinger, ShutdownDoesNotWaitForTheLinger) {
  auto dir = fresh_dir("linger-shutdown");
  std::filesystem::path path;
  auto before = steady_clock::now();
  {
    TranscriptWriter writer(lingering_options(dir, kLongLinger));
    auto s = writer.open(sample_header("lg4", kT0));
    path = s->path();
    s->record(client_line(kT0 + 1, "QUIT\r\n"));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the writer is lingering
  }
  EXPECT_LT(steady_clock::now() - before, kLongLinger / 2);
  auto lines = json_lines(path);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1]["text"], "QUIT\r\n");
}

TEST(TranscriptWriterLinger, ZeroLingerWritesEveryHandOffAtOnce) {
  auto dir = fresh_dir("linger-zero");
  WriterOptions o = lingering_options(dir, std::chrono::microseconds(0));
  TranscriptWriter writer(std::move(o));
  auto stage = writer.make_stage();
  auto s = writer.open(sample_header("lg5", kT0), stage);
  for (int i = 0; i < 3; ++i) {
    s->record(client_line(kT0 + 1 + i, "NOOP\r\n"));
    stage->hand_off();
    // Each hand-off is written on its own, without a flush or a following hand-off.
    EXPECT_TRUE(eventually_has_lines(s->path(), static_cast<size_t>(2 + i)));
  }
}

}  // namespace
}  // namespace mailtap::transcript
