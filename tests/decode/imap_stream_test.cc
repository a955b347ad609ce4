#include "mailtap/decode/imap_stream.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mailtap::decode::imap {
namespace {

using namespace std::string_literals;

// What a stream made of some bytes: each complete logical line as its segments and the heads of
// its literals, joined into one readable string.
std::vector<std::string> logical_lines(const std::vector<std::string>& pieces) {
  Stream stream;
  std::vector<std::string> out;
  for (const auto& piece : pieces) {
    stream.feed(piece, [&](const Stream::Piece& p) {
      if (p.kind != Stream::Piece::Kind::line || !p.logical_line_complete) return;
      const LogicalLine& line = stream.current();
      std::string s;
      for (size_t i = 0; i < line.segments.size(); ++i) {
        s += "[" + line.segments[i] + "]";
        if (i < line.literals.size()) {
          s += "<" + line.literals[i].head + ":" + std::to_string(line.literals[i].received) + ">";
        }
      }
      out.push_back(s);
    });
  }
  return out;
}

const std::string kWire =
    "a1 LOGIN {5}\r\nalice {6+}\r\nsecret\r\n"
    "a2 APPEND INBOX (\\Seen) ~{14}\r\nb STARTTLS\r\n\0x\r\n"s
    "a3 NOOP\r\n"
    "a4 SEARCH TEXT {0}\r\n\r\n"s;

TEST(ImapStream, LogicalLinesJoinLinesAndLiterals) {
  auto lines = logical_lines({kWire});
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "[a1 LOGIN {5}]<alice:5>[ {6+}]<secret:6>[]");
  EXPECT_EQ(lines[1], "[a2 APPEND INBOX (\\Seen) ~{14}]<b STARTTLS\r\n\0x:14>[]"s);
  EXPECT_EQ(lines[2], "[a3 NOOP]");
  EXPECT_EQ(lines[3], "[a4 SEARCH TEXT {0}]<:0>[]");
}

TEST(ImapStream, EverySplitAndEveryByteGiveTheSameLines) {
  auto whole = logical_lines({kWire});
  for (size_t a = 0; a <= kWire.size(); ++a) {
    for (size_t b = a; b <= kWire.size(); b += 3) {
      auto split = logical_lines({kWire.substr(0, a), kWire.substr(a, b - a), kWire.substr(b)});
      ASSERT_EQ(split, whole) << a << "," << b;
    }
  }
  std::vector<std::string> bytes;
  for (char c : kWire) bytes.emplace_back(1, c);
  EXPECT_EQ(logical_lines(bytes), whole);
}

TEST(ImapStream, PiecesMapBackToTheEventBytes) {
  Stream stream;
  std::string event1 = "a1 LOGIN al";
  std::string event2 = "ice {3}\r\npw";
  std::string event3 = "d\r\n";
  std::vector<Stream::Piece> pieces;
  auto collect = [&](const Stream::Piece& p) { pieces.push_back(p); };
  stream.feed(event1, collect);
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_EQ(pieces[0].kind, Stream::Piece::Kind::partial_line);
  EXPECT_EQ(stream.partial(), "a1 LOGIN al");
  pieces.clear();
  stream.feed(event2, collect);
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_EQ(pieces[0].kind, Stream::Piece::Kind::line);
  EXPECT_EQ(pieces[0].offset, 11u);  // 11 bytes of the line came before
  EXPECT_EQ(pieces[0].event_begin, 0u);
  EXPECT_EQ(pieces[0].event_end, 9u);
  EXPECT_FALSE(pieces[0].logical_line_complete);
  EXPECT_EQ(pieces[1].kind, Stream::Piece::Kind::literal);
  EXPECT_EQ(pieces[1].event_begin, 9u);
  EXPECT_EQ(pieces[1].event_end, 11u);
  EXPECT_FALSE(pieces[1].literal_complete);
  EXPECT_TRUE(stream.in_literal());
  pieces.clear();
  stream.feed(event3, collect);
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_EQ(pieces[0].kind, Stream::Piece::Kind::literal);
  EXPECT_EQ(pieces[0].offset, 2u);
  EXPECT_TRUE(pieces[0].literal_complete);
  EXPECT_EQ(pieces[1].kind, Stream::Piece::Kind::line);
  EXPECT_TRUE(pieces[1].logical_line_complete);
  EXPECT_EQ(stream.current().literals[0].head, "pwd");
}

TEST(ImapStream, CancelledLiteralEndsTheCommand) {
  Stream stream;
  stream.feed("a1 APPEND INBOX {100}\r\n", [](const Stream::Piece&) {});
  EXPECT_TRUE(stream.in_literal());
  stream.cancel_literal();
  EXPECT_FALSE(stream.in_literal());
  bool complete = false;
  stream.feed("a2 NOOP\r\n", [&](const Stream::Piece& p) {
    complete = p.kind == Stream::Piece::Kind::line && p.logical_line_complete;
  });
  EXPECT_TRUE(complete);
  ASSERT_EQ(stream.current().segments.size(), 1u);
  EXPECT_EQ(stream.current().segments[0], "a2 NOOP");
}

TEST(ImapStream, LongLinesAreClippedButKeepTheirLiteralMarker) {
  Stream::Limits limits;
  limits.max_line = 100;
  Stream stream(limits);
  std::string line = "a1 APPEND INBOX " + std::string(5000, 'x') + " {4}\r\nabcd\r\n";
  bool complete = false;
  stream.feed(line, [&](const Stream::Piece& p) {
    if (p.kind == Stream::Piece::Kind::line && p.logical_line_complete) complete = true;
  });
  EXPECT_TRUE(complete);
  const LogicalLine& l = stream.current();
  EXPECT_TRUE(l.truncated);
  ASSERT_EQ(l.literals.size(), 1u);
  EXPECT_EQ(l.literals[0].head, "abcd");
  EXPECT_LE(l.segments[0].size(), 110u);
}

TEST(ImapStream, SegmentsAreBounded) {
  Stream::Limits limits;
  limits.max_segments = 4;
  Stream stream(limits);
  std::string wire = "a1 X";
  for (int i = 0; i < 50; ++i) wire += " {1}\r\nz";
  wire += "\r\n";
  bool complete = false;
  stream.feed(wire, [&](const Stream::Piece& p) {
    if (p.kind == Stream::Piece::Kind::line && p.logical_line_complete) complete = true;
  });
  EXPECT_TRUE(complete);
  EXPECT_EQ(stream.current().segments.size(), 4u);
  EXPECT_TRUE(stream.current().truncated);
}

TEST(ImapLiteralMarker, Forms) {
  auto m = literal_marker("a1 LOGIN {5}");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->size, 5u);
  EXPECT_TRUE(m->synchronizing);
  EXPECT_EQ(m->offset, 9u);
  m = literal_marker("a1 LOGIN {5+}");
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->synchronizing);
  EXPECT_EQ(m->kind, LiteralKind::non_sync);
  m = literal_marker("a APPEND x ~{12}");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->kind, LiteralKind::binary);
  EXPECT_EQ(m->offset, 11u);
  m = literal_marker("* 1 FETCH (BODY[] {919}");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->size, 919u);
  EXPECT_FALSE(literal_marker("a1 LOGIN x{5}"));
  EXPECT_FALSE(literal_marker("a1 LOGIN {}"));
  EXPECT_FALSE(literal_marker("a1 LOGIN {5x}"));
  EXPECT_FALSE(literal_marker("a1 NOOP"));
  std::string why;
  EXPECT_FALSE(literal_marker("a1 APPEND x {99999999999999999999}", &why));
  EXPECT_NE(why.find("absurd"), std::string::npos);
}

}  // namespace
}  // namespace mailtap::decode::imap
