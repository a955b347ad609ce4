// next_line_start_dot: the scan every dot-terminated-body reader shares (the session's terminator,
// the POP3 body reader, the message summary), against its definition.
#include "mailtap/core/dot_stuffing.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace mailtap {
namespace {

size_t by_definition(std::string_view in, size_t from) {
  for (size_t p = from + 1; p < in.size(); ++p)
    if (in[p] == '.' && in[p - 1] == '\n') return p;
  return std::string_view::npos;
}

TEST(NextLineStartDot, FindsOnlyDotsThatStartALine) {
  EXPECT_EQ(next_line_start_dot("a.b\r\n.x", 0), 5u);
  EXPECT_EQ(next_line_start_dot(".x\n.", 0), 3u);  // not the one at `from` itself
  EXPECT_EQ(next_line_start_dot("a\n", 0), std::string_view::npos);
  EXPECT_EQ(next_line_start_dot("", 0), std::string_view::npos);
  std::string far = std::string(1000, 'x') + "\n." + std::string(40, '.');
  EXPECT_EQ(next_line_start_dot(far, 3), 1001u);
}

// Random strings of the bytes that matter and filler, long and short, from every start: the
// 16-byte path and the byte path must both agree with the definition.
TEST(NextLineStartDot, AgreesWithTheDefinitionEverywhere) {
  std::mt19937 rng(5);
  const std::string dense = "..\n\n\rab";
  const std::string sparse = ".\nabcdefghijklmnopqrstuvwxyz";
  for (int round = 0; round < 4000; ++round) {
    const std::string& alphabet = round % 2 ? dense : sparse;
    std::string in(rng() % 120, ' ');
    for (char& c : in) c = alphabet[rng() % alphabet.size()];
    for (size_t from = 0; from < in.size(); ++from)
      ASSERT_EQ(next_line_start_dot(in, from), by_definition(in, from))
          << "from " << from << " in \"" << in << "\"";
  }
}

}  // namespace
}  // namespace mailtap
