// BodyTerminator: finds the "." line that ends a dot-terminated body in arbitrary pieces, never
// holding more than ".\r", keeping dot-stuffing as on the wire, consuming nothing after the end.
#include "mailtap/session/body_terminator.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <utility>
#include <vector>

#include "support/session_invariants.h"

namespace mailtap::session::test {
namespace {

struct Scan {
  std::string body;
  size_t consumed = 0;  // of the whole input, terminator included
  bool found = false;
  size_t max_held = 0;
};

// Feeds `in` cut at the given offsets (sorted, inside the input).
Scan scan_pieces(std::string_view in, const std::vector<size_t>& cuts) {
  BodyTerminator t;
  Scan s;
  size_t start = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(in.size());
  for (size_t end : ends) {
    std::string_view piece = in.substr(start, end - start);
    while (!piece.empty() && !s.found) {
      size_t used = t.scan(piece, s.body, s.found);
      EXPECT_LE(used, piece.size());
      if (!s.found) {
        EXPECT_EQ(used, piece.size()) << "consumed only part of a piece without the end";
      }
      s.consumed += used;
      piece.remove_prefix(used);
      s.max_held = std::max(s.max_held, t.held().size());
    }
    if (s.found) break;
    start = end;
  }
  if (!s.found) s.body += t.held();  // what is still held is content as far as we know
  return s;
}

void expect_body(std::string_view in, std::string_view body, bool found, size_t consumed) {
  SCOPED_TRACE("input \"" + printable(in) + "\"");
  auto check = [&](const Scan& s, const std::string& how) {
    EXPECT_EQ(s.found, found) << how;
    EXPECT_EQ(s.body, body) << how;
    if (found) {
      EXPECT_EQ(s.consumed, consumed) << how;
    }
    EXPECT_LE(s.max_held, 2u) << how;
  };
  check(scan_pieces(in, {}), "whole");
  for (size_t at = 1; at < in.size(); ++at)
    check(scan_pieces(in, {at}), "split at " + std::to_string(at));
  for (size_t a = 1; a < in.size(); ++a)
    for (size_t b = a + 1; b < in.size(); ++b)
      check(scan_pieces(in, {a, b}), "split at " + std::to_string(a) + "," + std::to_string(b));
  std::vector<size_t> every;
  for (size_t at = 1; at < in.size(); ++at) every.push_back(at);
  check(scan_pieces(in, every), "byte by byte");
}

TEST(BodyTerminator, FindsTheEndAndStopsThere) {
  expect_body("Subject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n", "Subject: x\r\n\r\nhello\r\n", true, 24);
}

TEST(BodyTerminator, EmptyBody) {
  expect_body(".\r\nNOOP\r\n", "", true, 3);
}

TEST(BodyTerminator, DotStuffingIsKeptAsOnTheWire) {
  expect_body("..\r\n..x\r\n.x\r\n.\r\n", "..\r\n..x\r\n.x\r\n", true, 16);
}

TEST(BodyTerminator, AlmostTerminatorsAreContent) {
  // ".\r" followed by something else, a dot not at a line start, " ." at a line start.
  expect_body("a.\r\n.\rb\r\n .\r\nx.\r\n.\r\n", "a.\r\n.\rb\r\n .\r\nx.\r\n", true, 20);
}

TEST(BodyTerminator, BareLfTerminatorIsNotTheEnd) {
  // ".\n" alone is not the end of a body (RFC 5321 4.1.1.4 and RFC 1939 3 say CRLF.CRLF).
  expect_body("a\r\n.\nb\r\n.\r\n", "a\r\n.\nb\r\n", true, 11);
}

TEST(BodyTerminator, NoEndYet) {
  expect_body("line\r\n..\r\nmore", "line\r\n..\r\nmore", false, 0);
}

TEST(BodyTerminator, HeldBytesAndReset) {
  BodyTerminator t;
  std::string body;
  bool found = false;
  EXPECT_EQ(t.scan("abc\r\n.", body, found), 6u);
  EXPECT_FALSE(found);
  EXPECT_EQ(body, "abc\r\n");
  EXPECT_EQ(t.held(), ".");
  EXPECT_EQ(t.scan("\r", body, found), 1u);
  EXPECT_EQ(t.held(), ".\r");
  EXPECT_EQ(t.take_held(), ".\r");
  EXPECT_EQ(t.held(), "");
  t.reset();  // a new body starts at a line start
  body.clear();
  EXPECT_EQ(t.scan(".\r\n", body, found), 3u);
  EXPECT_TRUE(found);
  EXPECT_EQ(body, "");
}

TEST(BodyTerminator, TwoBodiesInARowAfterReset) {
  BodyTerminator t;
  std::string body;
  bool found = false;
  std::string_view in = "one\r\n.\r\ntwo\r\n.\r\n";
  size_t used = t.scan(in, body, found);
  ASSERT_TRUE(found);
  EXPECT_EQ(body, "one\r\n");
  in.remove_prefix(used);
  t.reset();
  body.clear();
  used = t.scan(in, body, found);
  ASSERT_TRUE(found);
  EXPECT_EQ(body, "two\r\n");
  EXPECT_EQ(used, in.size());
}

TEST(BodyTerminator, LargeBodyPassesThroughInOnePiece) {
  std::string in = std::string(1 << 20, 'm') + "\r\n.\r\n";
  BodyTerminator t;
  std::string body;
  bool found = false;
  EXPECT_EQ(t.scan(in, body, found), in.size());
  EXPECT_TRUE(found);
  EXPECT_EQ(body.size(), (size_t{1} << 20) + 2);
}

// The definition, one byte at a time: the body ends at the first ".\r\n" that starts a line (at
// the very start, or after '\n'). Returns the body (dot-stuffing kept) and how many bytes the
// terminator's end is from the start; npos when there is none.
std::pair<std::string, size_t> reference_end(std::string_view in) {
  for (size_t i = 0; i + 3 <= in.size(); ++i) {
    bool line_start = i == 0 || in[i - 1] == '\n';
    if (line_start && in.substr(i, 3) == ".\r\n") return {std::string(in.substr(0, i)), i + 3};
  }
  return {std::string(in), std::string_view::npos};
}

// Random bodies made of the bytes that matter ('.', '\r', '\n') and filler, cut into random
// pieces: the scanner (which jumps from dot to dot) must agree with the definition above on where
// the body ends and on every byte of it.
TEST(BodyTerminator, AgreesWithTheByteByByteDefinitionOnRandomPieces) {
  std::mt19937 rng(20261123);
  // Mostly the bytes that matter, or mostly filler: long runs without a line-start dot take the
  // scanner's 16-byte path, short pieces its byte path.
  const std::string dense = "..\r\n\nab=";
  const std::string sparse = ".\r\nabcdefghijklmnopqrstuvwxyz0123456789";
  for (int round = 0; round < 20000; ++round) {
    const std::string& alphabet = round % 2 ? dense : sparse;
    std::string in(rng() % 200, ' ');
    for (char& c : in) c = alphabet[rng() % alphabet.size()];
    const unsigned cut_one_in = round % 3 == 0 ? 4 : 64;
    std::vector<size_t> cuts;
    for (size_t at = 1; at < in.size(); ++at)
      if (rng() % cut_one_in == 0) cuts.push_back(at);
    auto [body, end] = reference_end(in);
    Scan s = scan_pieces(in, cuts);
    SCOPED_TRACE("input \"" + printable(in) + "\"");
    ASSERT_EQ(s.found, end != std::string_view::npos);
    ASSERT_EQ(s.body, body);
    if (s.found) {
      ASSERT_EQ(s.consumed, end);
    }
    ASSERT_LE(s.max_held, 2u);
  }
}

}  // namespace
}  // namespace mailtap::session::test
