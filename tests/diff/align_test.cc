#include "mailtap/diff/align.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mailtap::diff {
namespace {

// Aligns two word lists: equal words score 3, words with the same first letter 1 (a "changed"
// pair), others never pair.
std::vector<AlignedPair> align_words(const std::vector<std::string>& a,
                                     const std::vector<std::string>& b,
                                     size_t max_cells = 1 << 24) {
  return align(
      a.size(), b.size(),
      [&](size_t i, size_t j) { return a[i] == b[j]         ? 3
                                       : a[i][0] == b[j][0] ? 1
                                                            : -3; }, 3,
      max_cells);
}

// "a=b" for a pair, "a-" for A only, "-b" for B only.
std::string show(const std::vector<AlignedPair>& pairs, const std::vector<std::string>& a,
                 const std::vector<std::string>& b) {
  std::string out;
  for (const auto& p : pairs) {
    if (!out.empty()) out += " ";
    out += (p.a ? a[*p.a] : "") + (p.a && p.b ? "=" : p.a ? "-" : "-") + (p.b ? b[*p.b] : "");
  }
  return out;
}

TEST(DiffAlign, IdenticalSequencesPairEveryElement) {
  std::vector<std::string> s = {"EHLO", "MAIL", "RCPT", "DATA", "QUIT"};
  EXPECT_EQ(show(align_words(s, s), s, s), "EHLO=EHLO MAIL=MAIL RCPT=RCPT DATA=DATA QUIT=QUIT");
}

TEST(DiffAlign, OneExtraCommandInTheMiddleDoesNotShiftTheRest) {
  std::vector<std::string> a = {"greeting", "EHLO", "MAIL", "RCPT", "DATA", "QUIT"};
  std::vector<std::string> b = {"greeting", "EHLO", "NOOP", "MAIL", "RCPT", "DATA", "QUIT"};
  EXPECT_EQ(show(align_words(a, b), a, b),
            "greeting=greeting EHLO=EHLO -NOOP MAIL=MAIL RCPT=RCPT DATA=DATA QUIT=QUIT");
  // and the other way round
  EXPECT_EQ(show(align_words(b, a), b, a),
            "greeting=greeting EHLO=EHLO NOOP- MAIL=MAIL RCPT=RCPT DATA=DATA QUIT=QUIT");
}

TEST(DiffAlign, MissingFirstAndLastElements) {
  std::vector<std::string> a = {"CAPA", "USER", "PASS", "STAT", "QUIT"};
  std::vector<std::string> b = {"USER", "PASS", "STAT"};
  EXPECT_EQ(show(align_words(a, b), a, b), "CAPA- USER=USER PASS=PASS STAT=STAT QUIT-");
}

TEST(DiffAlign, RepeatedCommandsStayInOrder) {
  std::vector<std::string> a = {"RCPT1", "RCPT2", "RCPT3", "DATA"};
  std::vector<std::string> b = {"RCPT1", "RCPT3", "DATA"};
  EXPECT_EQ(show(align_words(a, b), a, b), "RCPT1=RCPT1 RCPT2- RCPT3=RCPT3 DATA=DATA");
}

TEST(DiffAlign, SameVerbWithOtherArgumentsPairsAsChanged) {
  std::vector<std::string> a = {"EHLO", "MAILa", "QUIT"};
  std::vector<std::string> b = {"EHLO", "MAILb", "QUIT"};
  EXPECT_EQ(show(align_words(a, b), a, b), "EHLO=EHLO MAILa=MAILb QUIT=QUIT");
}

TEST(DiffAlign, UnrelatedElementsAreNeverPairedAndAOnlyComesFirst) {
  std::vector<std::string> a = {"EHLO", "VRFY", "QUIT"};
  std::vector<std::string> b = {"EHLO", "NOOP", "QUIT"};
  EXPECT_EQ(show(align_words(a, b), a, b), "EHLO=EHLO VRFY- -NOOP QUIT=QUIT");
}

TEST(DiffAlign, EmptySides) {
  std::vector<std::string> none, two = {"A", "B"};
  EXPECT_EQ(show(align_words(none, none), none, none), "");
  EXPECT_EQ(show(align_words(two, none), two, none), "A- B-");
  EXPECT_EQ(show(align_words(none, two), none, two), "-A -B");
}

TEST(DiffAlign, TooLargeForTheMatrixFallsBackToPairingInOrder) {
  std::vector<std::string> a = {"x", "A", "B", "C", "y"};
  std::vector<std::string> b = {"x", "C", "A", "y"};
  // the middle (3 x 2) exceeds 4 cells: paired in order, the leftover alone
  auto pairs = align_words(a, b, 4);
  ASSERT_EQ(pairs.size(), 5u);
  EXPECT_EQ(*pairs[0].a, 0u);
  EXPECT_EQ(*pairs[0].b, 0u);
  EXPECT_EQ(*pairs[1].a, 1u);
  EXPECT_EQ(*pairs[1].b, 1u);
  EXPECT_FALSE(pairs[3].b.has_value());
  EXPECT_EQ(*pairs[4].a, 4u);
  EXPECT_EQ(*pairs[4].b, 3u);
}

}  // namespace
}  // namespace mailtap::diff
