#include "mailtap/transcript/transcript_writer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <future>
#include <mutex>
#include <regex>
#include <thread>

#include "transcript/transcript_test_util.h"

namespace mailtap::transcript {
namespace {

using testing::fresh_dir;
using testing::json_lines;
using testing::jsonl_files;
using testing::record_sample_smtp;
using testing::sample_header;

constexpr Microseconds kT0 = 1'714'566'896'123'456;  // 2024-05-01T12:34:56.123456Z

WriterOptions options_for(const std::filesystem::path& dir) {
  WriterOptions o;
  o.directory = dir;
  return o;
}

mode_t mode_of(const std::filesystem::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

TEST(TranscriptWriter, WritesHeaderFirstThenEveryEventInOrder) {
  auto dir = fresh_dir("order");
  std::filesystem::path path;
  {
    TranscriptWriter writer(options_for(dir));
    auto s = writer.open(sample_header("s000001-abc", kT0));
    path = s->path();
    record_sample_smtp(*s, kT0);
    s->finish();
    writer.flush();
    EXPECT_EQ(writer.last_error(), "");
  }
  auto files = jsonl_files(dir);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0], path);
  EXPECT_EQ(path.filename(), "20240501T123456.123456Z-smtp-s000001-abc.jsonl");
  EXPECT_TRUE(std::regex_match(path.filename().string(),
                               std::regex(R"(\d{8}T\d{6}\.\d{6}Z-smtp-[A-Za-z0-9._-]+\.jsonl)")));
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_EQ(mode_of(dir), 0700u);

  auto lines = json_lines(path);
  ASSERT_GT(lines.size(), 20u);
  EXPECT_EQ(lines[0]["type"], "session");
  EXPECT_EQ(lines[0]["session"], "s000001-abc");
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i]["seq"], i) << lines[i].dump();
    EXPECT_GE(lines[i]["t"].get<int64_t>(), lines[i - 1]["t"].get<int64_t>());
  }
  EXPECT_EQ(lines[1]["type"], "connect");
  EXPECT_EQ(lines.back()["type"], "close");
  // The binary body piece is stored as base64 and rebuilds exactly.
  bool saw_binary = false;
  for (const auto& l : lines) {
    if (l.contains("b64")) {
      saw_binary = true;
      EXPECT_EQ(decode_bytes(l), std::string("bin\x00\xff\r\n", 7));
    }
  }
  EXPECT_TRUE(saw_binary);
}

TEST(TranscriptWriter, ExistingDirectoryKeepsItsMode) {
  auto dir = fresh_dir("existing");
  std::filesystem::create_directories(dir);
  ::chmod(dir.c_str(), 0755);
  {
    TranscriptWriter writer(options_for(dir));
    writer.open(sample_header("s1", kT0))->finish();
  }
  EXPECT_EQ(mode_of(dir), 0755u);
  EXPECT_EQ(jsonl_files(dir).size(), 1u);
}

TEST(TranscriptWriter, FlushMakesLinesVisibleBeforeFinish) {
  auto dir = fresh_dir("flush");
  TranscriptWriter writer(options_for(dir));
  auto s = writer.open(sample_header("s2", kT0));
  s->record(make_data(kT0 + 1, Party::client, Party::server, FrameKind::line, false, "NOOP\r\n"));
  writer.flush();
  auto lines = json_lines(s->path());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1]["text"], "NOOP\r\n");
  s->record(make_data(kT0 + 2, Party::server, Party::client, FrameKind::line, false, "250 Ok\r\n"));
  writer.flush();
  EXPECT_EQ(json_lines(s->path()).size(), 3u);
  s->finish();
}

TEST(TranscriptWriter, DestructorDrainsEverything) {
  auto dir = fresh_dir("drain");
  std::filesystem::path path;
  {
    TranscriptWriter writer(options_for(dir));
    auto s = writer.open(sample_header("s3", kT0));
    path = s->path();
    for (int i = 0; i < 2000; ++i)
      s->record(make_data(kT0 + i, Party::client, Party::server, FrameKind::line, false,
                          "NOOP " + std::to_string(i) + "\r\n"));
    // No finish(), no flush(): the handle is still alive when the writer goes away.
  }
  auto lines = json_lines(path);
  ASSERT_EQ(lines.size(), 2001u);
  EXPECT_EQ(lines.back()["text"], "NOOP 1999\r\n");
}

TEST(TranscriptWriter, HandleOutlivingWriterIsHarmless) {
  auto dir = fresh_dir("outlive");
  std::shared_ptr<SessionTranscript> s;
  {
    TranscriptWriter writer(options_for(dir));
    s = writer.open(sample_header("s4", kT0));
  }
  s->record(make_data(kT0, Party::client, Party::server, FrameKind::line, false, "QUIT\r\n"));
  s->finish();
  EXPECT_EQ(json_lines(s->path()).size(), 1u);  // header only
}

// A directory nobody may write to: a 0500 directory, unless we are root, who ignores modes.
std::filesystem::path unwritable_dir() {
  auto dir = fresh_dir("readonly");
  std::filesystem::create_directories(dir);
  ::chmod(dir.c_str(), 0500);
  if (::access(dir.c_str(), W_OK) != 0) return dir;
  if (::access("/sys", W_OK) != 0 || ::geteuid() == 0) {
    // /sys refuses new files even for root (EACCES), like a read-only mount.
    FILE* f = std::fopen("/sys/mailtap-probe", "w");
    if (!f) return "/sys";
    std::fclose(f);
  }
  return {};
}

TEST(TranscriptWriter, UnwritableDirectoryIsReportedOnceAndNothingCrashes) {
  auto dir = unwritable_dir();
  if (dir.empty()) GTEST_SKIP() << "no unwritable directory available";
  std::mutex m;
  std::vector<nlohmann::json> seen;
  WriterOptions o = options_for(dir);
  o.observer = [&](const std::string&, const nlohmann::json& line) {
    std::lock_guard lock(m);
    seen.push_back(line);
  };
  TranscriptWriter writer(o);
  auto s = writer.open(sample_header("s5", kT0));
  record_sample_smtp(*s, kT0);
  s->finish();
  writer.flush();
  EXPECT_NE(writer.last_error().find("cannot create transcript"), std::string::npos)
      << writer.last_error();
  EXPECT_FALSE(std::filesystem::exists(s->path()));
  std::lock_guard lock(m);
  int failures = 0;
  size_t events = 0;
  for (const auto& l : seen) {
    if (l.value("code", "") == "transcript_write_failed") ++failures;
    if (l.contains("seq")) ++events;
  }
  EXPECT_EQ(failures, 1);
  ASSERT_GE(seen.size(), 2u);
  EXPECT_EQ(seen[0]["type"], "session");  // the live view learns the session before its failure
  EXPECT_EQ(seen[1]["code"], "transcript_write_failed");
  EXPECT_GT(events, 20u);  // the observer (live view) still saw the whole session
  ::chmod(dir.c_str(), 0700);
}

TEST(TranscriptWriter, RecordingOffWritesNothingButFeedsTheObserver) {
  auto dir = fresh_dir("off");
  std::atomic<int> lines{0};
  std::atomic<int> finished{0};
  WriterOptions o = options_for(dir);
  o.write_files = false;
  o.observer = [&](const std::string&, const nlohmann::json&) { ++lines; };
  o.session_finished = [&](const std::string& id) {
    EXPECT_EQ(id, "s6");
    ++finished;
  };
  {
    TranscriptWriter writer(o);
    auto s = writer.open(sample_header("s6", kT0));
    s->record(make_data(kT0, Party::client, Party::server, FrameKind::line, false, "QUIT\r\n"));
    s->finish();
    writer.flush();
    EXPECT_EQ(lines.load(), 2);
    EXPECT_EQ(finished.load(), 1);
  }
  EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST(TranscriptWriter, ManySessionsFromManyThreads) {
  auto dir = fresh_dir("many");
  constexpr int kThreads = 4, kSessionsPerThread = 25, kEvents = 100;
  {
    TranscriptWriter writer(options_for(dir));
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::vector<std::shared_ptr<SessionTranscript>> sessions;
        for (int i = 0; i < kSessionsPerThread; ++i)
          sessions.push_back(writer.open(
              sample_header("t" + std::to_string(t) + "-" + std::to_string(i), kT0 + i)));
        // Interleave the sessions' events, as one event loop would.
        for (int e = 0; e < kEvents; ++e)
          for (auto& s : sessions)
            s->record(make_data(kT0 + e, Party::client, Party::server, FrameKind::line, false,
                                std::to_string(e) + "\r\n"));
        for (auto& s : sessions) s->finish();
      });
    }
    for (auto& th : threads) th.join();
    writer.flush();
    EXPECT_EQ(writer.last_error(), "");
  }
  auto files = jsonl_files(dir);
  ASSERT_EQ(files.size(), size_t{kThreads * kSessionsPerThread});
  for (const auto& f : files) {
    auto lines = json_lines(f);
    ASSERT_EQ(lines.size(), size_t{kEvents + 1}) << f;
    for (int e = 0; e < kEvents; ++e) {
      ASSERT_EQ(lines[e + 1]["text"], std::to_string(e) + "\r\n") << f;
      ASSERT_EQ(lines[e + 1]["seq"], e + 1);
    }
  }
}

TEST(TranscriptWriter, OverflowDropsDataAndRecordsAWarningWhenRoomReturns) {
  auto dir = fresh_dir("overflow");
  std::promise<void> writer_blocked;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> first{true};
  WriterOptions o = options_for(dir);
  o.max_pending_bytes = 64 * 1024;
  // The observer holds the writer thread on the header line, so the queue can only grow.
  o.observer = [&](const std::string&, const nlohmann::json&) {
    if (first.exchange(false)) {
      writer_blocked.set_value();
      released.wait();
    }
  };
  TranscriptWriter writer(o);
  auto s = writer.open(sample_header("s7", kT0));
  writer_blocked.get_future().wait();
  const std::string chunk(10 * 1024, 'x');
  for (int i = 0; i < 20; ++i)
    s->record(make_data(kT0 + i, Party::client, Party::server, FrameKind::body, false, chunk));
  s->record(make_event(kT0 + 30, EventType::close, {{"leg", "client"}, {"by", "client"}}));
  release.set_value();
  writer.flush();
  s->record(make_data(kT0 + 40, Party::client, Party::server, FrameKind::line, false, "QUIT\r\n"));
  s->finish();
  writer.flush();

  auto lines = json_lines(s->path());
  int kept = 0;
  const nlohmann::json* warning = nullptr;
  size_t warning_at = 0;
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i]["seq"], i);
    if (lines[i]["type"] == "data" && lines[i]["frame"] == "body") ++kept;
    if (lines[i].value("code", "") == "transcript_overflow") {
      EXPECT_EQ(warning, nullptr) << "one warning for one run of drops";
      warning = &lines[i];
      warning_at = i;
    }
  }
  ASSERT_NE(warning, nullptr);
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, 20);
  EXPECT_EQ((*warning)["dropped_events"], 20 - kept);
  EXPECT_EQ((*warning)["dropped_bytes"], (20 - kept) * chunk.size());
  // The close event is never dropped; the warning is recorded with the next event that got in.
  ASSERT_LT(warning_at + 1, lines.size());
  EXPECT_EQ(lines[warning_at + 1]["type"], "close");
  EXPECT_EQ(lines.back()["text"], "QUIT\r\n");
}

}  // namespace
}  // namespace mailtap::transcript
