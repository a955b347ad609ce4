#include "mailtap/decode/pop3_stream.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "decode/dot_stuff.h"

namespace mailtap::decode::pop3 {
namespace {

struct BodyRun {
  std::string content_sha;
  uint64_t size = 0;
  uint64_t wire = 0;
  std::string after;  // the bytes after the terminator, read as lines
  bool terminated = false;
};

// Feeds `wire` (a dot-stuffed body, its terminator, then more lines) in the given pieces.
BodyRun run_body(const std::vector<std::string>& pieces) {
  BodyReader body;
  LineReader lines;
  MessageSummarizer sink(true);
  BodyRun out;
  for (const std::string& piece : pieces) {
    size_t pos = 0;
    while (pos < piece.size()) {
      if (!out.terminated) {
        auto r = body.read(piece, pos, &sink);
        EXPECT_LE(r.body_begin, r.body_end);
        if (r.terminated) {
          out.terminated = true;
          EXPECT_LE(r.body_end, r.term_end);
          EXPECT_EQ(r.term_end, pos);
        }
        continue;
      }
      auto line = lines.read(piece, pos);
      if (line) out.after += line->text + "|";
    }
  }
  auto s = sink.summary();
  out.content_sha = s["sha256"];
  out.size = s["size"];
  out.wire = body.wire_size();
  return out;
}

// A body with stuffed dots (a "." content line is ".." on the wire), its terminator, then replies.
const std::string kWire =
    "Subject: x\r\n\r\n..leading\r\n..\r\n.x\r\nlast\r\n.\r\n+OK next\r\n-ERR after\r\n";

TEST(Pop3BodyReader, FindsTheTerminatorAtEverySplit) {
  BodyRun whole = run_body({kWire});
  ASSERT_TRUE(whole.terminated);
  EXPECT_EQ(whole.after, "+OK next|-ERR after|");
  EXPECT_EQ(whole.size, std::string("Subject: x\r\n\r\n.leading\r\n.\r\nx\r\nlast\r\n").size());
  for (size_t a = 0; a <= kWire.size(); ++a) {
    for (size_t b = a; b <= kWire.size(); ++b) {
      BodyRun r = run_body({kWire.substr(0, a), kWire.substr(a, b - a), kWire.substr(b)});
      ASSERT_EQ(r.content_sha, whole.content_sha) << a << "," << b;
      ASSERT_EQ(r.wire, whole.wire) << a << "," << b;
      ASSERT_EQ(r.after, whole.after) << a << "," << b;
    }
  }
}

TEST(Pop3BodyReader, UnstuffsAndStopsAtTheFirstDotLine) {
  BodyRun r = run_body({"..a\r\nb\r\n.\r\n+OK\r\n"});
  EXPECT_TRUE(r.terminated);
  EXPECT_EQ(r.size, 7u);  // ".a\r\nb\r\n"
  EXPECT_EQ(r.wire, 8u);
  EXPECT_EQ(r.after, "+OK|");
}

TEST(Pop3BodyReader, BareLfTerminatorAndDotLinesThatAreNotTerminators) {
  BodyRun r = run_body({".x\n.\r.\n.\n-ERR\n"});
  EXPECT_TRUE(r.terminated);
  EXPECT_EQ(r.wire, 7u);  // ".x\n" then ".\r.\n" are body
  EXPECT_EQ(r.after, "-ERR|");
}

TEST(Pop3BodyReader, EveryByteAloneGivesTheSameResult) {
  BodyRun whole = run_body({kWire});
  std::vector<std::string> bytes;
  for (char c : kWire) bytes.emplace_back(1, c);
  BodyRun r = run_body(bytes);
  EXPECT_EQ(r.content_sha, whole.content_sha);
  EXPECT_EQ(r.after, whole.after);
}

// What the reader feeds the summary (the content, its stuffing dots already taken out, so the
// summary does not scan for dots a second time) against the RFC 1939 rule applied here line by
// line, on random bodies full of dots cut into random pieces.
TEST(Pop3BodyReader, SummaryIsTheUnstuffedContentOnRandomBodies) {
  std::mt19937 rng(1939);
  for (int round = 0; round < 3000; ++round) {
    // Content lines, then their wire form: a '.' doubled at each line start.
    std::string content;
    const int length = static_cast<int>(rng() % 120);
    for (int i = 0; i < length; ++i) {
      const char c = "..\r\nab"[rng() % 6];
      content += c;
    }
    if (!content.empty() && content.back() != '\n') content += "\r\n";
    const std::string wire = testing::dot_stuff(content);
    const std::string all = wire + ".\r\n+OK after\r\n";
    std::vector<std::string> pieces;
    for (size_t at = 0; at < all.size();) {
      const size_t n = std::min<size_t>(all.size() - at, 1 + rng() % 9);
      pieces.push_back(all.substr(at, n));
      at += n;
    }

    BodyReader body;
    MessageSummarizer sink(true);
    bool terminated = false;
    for (const std::string& piece : pieces) {
      size_t pos = 0;
      if (!terminated) terminated = body.read(piece, pos, &sink).terminated;
    }
    MessageSummarizer reference(false);
    reference.feed(content);
    const auto got = sink.summary();
    const auto want = reference.summary();
    ASSERT_TRUE(terminated) << round;
    ASSERT_EQ(got["size"], content.size()) << round;
    ASSERT_EQ(got["sha256"], want["sha256"]) << round;
    ASSERT_EQ(got["wire_size"], wire.size()) << round;
    ASSERT_EQ(body.wire_size(), wire.size()) << round;
  }
}

TEST(Pop3LineReader, LinesAcrossEventsAndBoundedLength) {
  LineReader reader;
  std::string a = "USER al";
  std::string b = "ice\r\nPASS x\r\n";
  size_t pos = 0;
  EXPECT_FALSE(reader.read(a, pos));
  EXPECT_EQ(reader.pending(), "USER al");
  pos = 0;
  auto line = reader.read(b, pos);
  ASSERT_TRUE(line);
  EXPECT_EQ(line->text, "USER alice");
  EXPECT_EQ(line->offset, 7u);
  EXPECT_EQ(line->event_begin, 0u);
  EXPECT_EQ(line->event_end, 5u);
  line = reader.read(b, pos);
  ASSERT_TRUE(line);
  EXPECT_EQ(line->text, "PASS x");
  EXPECT_EQ(line->offset, 0u);

  std::string huge(100000, 'z');
  pos = 0;
  EXPECT_FALSE(reader.read(huge, pos));
  EXPECT_LE(reader.pending().size(), LineReader::kMaxLine);
  EXPECT_EQ(reader.pending_size(), huge.size());
  std::string end = "\r\n";
  pos = 0;
  line = reader.read(end, pos);
  ASSERT_TRUE(line);
  EXPECT_TRUE(line->truncated);
  EXPECT_EQ(line->text.size(), LineReader::kMaxLine);
}

}  // namespace
}  // namespace mailtap::decode::pop3
