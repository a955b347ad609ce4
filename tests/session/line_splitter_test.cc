// LineSplitter: LF-terminated lines with CRLF kept, partial lines held between feeds, a hard
// limit on what it will hold, counted with the held part.
#include "mailtap/session/line_splitter.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mailtap::session::test {
namespace {

using R = LineSplitter::Result;

std::vector<std::string> lines_of(LineSplitter& s, std::string_view in, size_t limit = 1000) {
  std::vector<std::string> out;
  std::string line;
  while (!in.empty()) {
    R r = s.next(in, limit, line);
    if (r != R::line) break;
    out.push_back(line);
  }
  return out;
}

TEST(LineSplitter, SplitsOnLfKeepingCrlf) {
  LineSplitter s;
  EXPECT_EQ(lines_of(s, "a\r\nb\nc\r\n"), (std::vector<std::string>{"a\r\n", "b\n", "c\r\n"}));
  EXPECT_EQ(s.pending(), "");
}

TEST(LineSplitter, HoldsPartialLinesAcrossFeeds) {
  LineSplitter s;
  EXPECT_TRUE(lines_of(s, "EH").empty());
  EXPECT_EQ(s.pending(), "EH");
  EXPECT_TRUE(lines_of(s, "LO x\r").empty());
  EXPECT_EQ(lines_of(s, "\nNO"), (std::vector<std::string>{"EHLO x\r\n"}));
  EXPECT_EQ(s.pending(), "NO");
  EXPECT_EQ(s.take_pending(), "NO");
  EXPECT_EQ(s.pending(), "");
}

TEST(LineSplitter, EveryCutGivesTheSameLines) {
  std::string in = "first\r\n\r\nthird line\nlast\r\n";
  LineSplitter whole;
  auto expected = lines_of(whole, in);
  ASSERT_EQ(expected.size(), 4u);
  for (size_t at = 1; at < in.size(); ++at) {
    LineSplitter s;
    auto got = lines_of(s, std::string_view(in).substr(0, at));
    auto rest = lines_of(s, std::string_view(in).substr(at));
    got.insert(got.end(), rest.begin(), rest.end());
    EXPECT_EQ(got, expected) << "cut at " << at;
  }
}

TEST(LineSplitter, LimitCountsTheWholeLineWithItsEnd) {
  std::string line;
  {
    LineSplitter s;
    std::string_view in = "12345678\r\n";  // 10 octets
    EXPECT_EQ(s.next(in, 10, line), R::line);
    EXPECT_EQ(line, "12345678\r\n");
  }
  {
    LineSplitter s;
    std::string_view in = "123456789\r\n";  // 11 octets
    EXPECT_EQ(s.next(in, 10, line), R::too_long);
  }
  {
    // The held part counts: 6 held + 5 more with the line end = 11.
    LineSplitter s;
    std::string_view a = "123456";
    EXPECT_EQ(s.next(a, 10, line), R::need_more);
    std::string_view b = "789\r\n";
    EXPECT_EQ(s.next(b, 10, line), R::too_long);
    EXPECT_EQ(s.pending(), "123456");  // nothing more was taken in
  }
  {
    // Without a line end: refused as soon as what would be held passes the limit.
    LineSplitter s;
    std::string_view a = "12345";
    EXPECT_EQ(s.next(a, 10, line), R::need_more);
    std::string_view b = "678901";
    EXPECT_EQ(s.next(b, 10, line), R::too_long);
    EXPECT_LE(s.pending().size(), 10u);
  }
}

TEST(LineSplitter, AnEndlessLineNeverHoldsMoreThanTheLimit) {
  LineSplitter s;
  std::string line;
  std::string chunk(1000, 'x');
  R r = R::need_more;
  for (int n = 0; n < 100 && r == R::need_more; ++n) {
    std::string_view in = chunk;
    r = s.next(in, 8192, line);
    EXPECT_LE(s.pending().size(), 8192u);
  }
  EXPECT_EQ(r, R::too_long);
}

}  // namespace
}  // namespace mailtap::session::test
