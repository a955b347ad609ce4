#include "mailtap/transcript/transcript_reader.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "transcript/transcript_test_util.h"

namespace mailtap::transcript {
namespace {

constexpr Microseconds kT0 = 1'714'566'896'000'000;

std::filesystem::path write_sample(const std::string& name) {
  return testing::write_sample_transcript(name, kT0);
}

Transcript read_string(const std::string& text) {
  std::istringstream in(text);
  return read_transcript(in, "mem.jsonl");
}

const std::string kHeader =
    R"({"type":"session","format":"mailtap-transcript","version":1,"session":"x","protocol":"smtp"})";

TEST(TranscriptReader, ReadsWhatTheWriterWrote) {
  auto path = write_sample("reader-full");
  Transcript t = read_transcript(path);
  EXPECT_EQ(t.path, path);
  EXPECT_EQ(t.header["session"], "reader-full");
  EXPECT_FALSE(t.truncated);
  auto raw = testing::json_lines(path);
  ASSERT_EQ(t.events.size(), raw.size() - 1);
  for (size_t i = 0; i < t.events.size(); ++i) EXPECT_EQ(t.events[i], raw[i + 1]);
}

TEST(TranscriptReader, ToleratesALastLineCutByAKill) {
  auto path = write_sample("reader-cut");
  std::string full = testing::slurp(path);
  size_t total = read_transcript(path).events.size();
  // Cut inside the last line, as a SIGKILL during write(2) would.
  std::string cut = full.substr(0, full.size() - 7);
  Transcript t = read_string(cut);
  EXPECT_TRUE(t.truncated);
  EXPECT_EQ(t.events.size(), total - 1);
  // A complete last line without its newline is still a complete event.
  Transcript t2 = read_string(full.substr(0, full.size() - 1));
  EXPECT_FALSE(t2.truncated);
  EXPECT_EQ(t2.events.size(), total);
}

TEST(TranscriptReader, MalformedLineInTheMiddleNamesTheLine) {
  std::string text = kHeader + "\n" + R"({"type":"data","seq":1})" + "\n" + "{oops\n" +
                     R"({"type":"close","seq":3})" + "\n";
  try {
    read_string(text);
    FAIL() << "expected an error";
  } catch (const TranscriptReadError& e) {
    EXPECT_EQ(e.line(), 3u);
    EXPECT_NE(std::string(e.what()).find("mem.jsonl:3:"), std::string::npos) << e.what();
  }
}

TEST(TranscriptReader, RejectsWhatIsNotATranscript) {
  EXPECT_THROW(read_string(""), TranscriptReadError);
  EXPECT_THROW(read_string("{\"type\":\"data\"}\n"), TranscriptReadError);
  EXPECT_THROW(read_string("hello world\n"), TranscriptReadError);
  std::string future = R"({"type":"session","format":"mailtap-transcript","version":2})"
                       "\n";
  try {
    read_string(future);
    FAIL();
  } catch (const TranscriptReadError& e) {
    EXPECT_NE(std::string(e.what()).find("newer"), std::string::npos);
  }
  EXPECT_THROW(read_transcript("/nonexistent/mailtap.jsonl"), TranscriptReadError);
}

TEST(TranscriptReader, KeepsUnknownKeys) {
  Transcript t =
      read_string(kHeader + "\n" + R"({"type":"data","seq":1,"text":"x","future_field":{"a":1}})" +
                  "\n" + R"({"type":"some_future_event","seq":2})" + "\n");
  ASSERT_EQ(t.events.size(), 2u);
  EXPECT_EQ(t.events[0]["future_field"]["a"], 1);
  EXPECT_EQ(t.events[1]["type"], "some_future_event");
}

}  // namespace
}  // namespace mailtap::transcript
