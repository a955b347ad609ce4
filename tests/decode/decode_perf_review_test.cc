// Review guards for the session-4 performance changes in src/decode (c6a82bc, 49dccb4, bdaba56,
// d092306, 196c116): the inline first decoded unit and note of an annotation, the recycled line
// buffer of imap::Stream, the non-owning Stream::PieceHandler, the vector of pending IMAP commands,
// the lazily created mailbox state of a SELECT, and json_safe's eight-byte fast path. Each test
// compares against an independent expectation (the same lines decoded one at a time, or bytes
// written by hand), so a behaviour change fails it.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "imap_test_support.h"
#include "mailtap/decode/imap_decoder.h"
#include "mailtap/decode/imap_session_state.h"
#include "mailtap/decode/imap_stream.h"
#include "mailtap/decode/smtp_decoder.h"

namespace mailtap::decode {
namespace {

using namespace std::string_literals;
using mailtap::testing::DecoderHarness;
using nlohmann::json;
using transcript::FrameKind;
using transcript::Party;

// ---- Annotation: first unit inline, the rest after it --------------------------------------

// The annotated line of `line` when it is the only thing in its event, after `before` (each its
// own event) in a fresh IMAP decoder.
json imap_alone(const std::vector<std::string>& before, const std::string& line,
                Party from = Party::client) {
  DecoderHarness h(make_imap_decoder({}));
  for (const auto& b : before) h.client(b);
  return from == Party::client ? h.client(line) : h.server(line);
}

TEST(DecodePerfReview, ImapTwoCommandsInOneEventKeepBothPartsAndNotesInOrder) {
  DecoderHarness h(make_imap_decoder({}));
  const json& line = h.client("a1 NOOP\r\na2 CAPABILITY\r\na3 CHECK\r\n");
  const json one = imap_alone({}, "a1 NOOP\r\n");
  const json two = imap_alone({"a1 NOOP\r\n"}, "a2 CAPABILITY\r\n");
  const json three = imap_alone({"a1 NOOP\r\n", "a2 CAPABILITY\r\n"}, "a3 CHECK\r\n");
  ASSERT_TRUE(line.contains("decoded"));
  ASSERT_TRUE(line["decoded"].contains("parts")) << line.dump();
  ASSERT_EQ(line["decoded"]["parts"].size(), 3u) << line.dump();
  EXPECT_EQ(line["decoded"]["parts"][0], one["decoded"]);
  EXPECT_EQ(line["decoded"]["parts"][1], two["decoded"]);
  EXPECT_EQ(line["decoded"]["parts"][2], three["decoded"]);
  EXPECT_EQ(line["note"], one["note"].get<std::string>() + "; " + two["note"].get<std::string>() +
                              "; " + three["note"].get<std::string>());
}

TEST(DecodePerfReview, ImapPrefixIsKeptWithOneNoteAndWithSeveral) {
  // Bytes mailtap itself sent to the server carry a prefix before the (joined) notes.
  DecoderHarness one(make_imap_decoder({}));
  const json& single = one.data(Party::mailtap, Party::server, FrameKind::line, "m1 STARTTLS\r\n");
  const json plain = imap_alone({}, "m1 STARTTLS\r\n");
  EXPECT_EQ(single["note"], "mailtap -> server: " + plain["note"].get<std::string>());
  EXPECT_EQ(single["decoded"], plain["decoded"]);

  DecoderHarness two(make_imap_decoder({}));
  const json& both =
      two.data(Party::mailtap, Party::server, FrameKind::line, "m1 NOOP\r\nm2 NOOP\r\n");
  const json first = imap_alone({}, "m1 NOOP\r\n");
  const json second = imap_alone({"m1 NOOP\r\n"}, "m2 NOOP\r\n");
  EXPECT_EQ(both["note"], "mailtap -> server: " + first["note"].get<std::string>() + "; " +
                              second["note"].get<std::string>());
}

TEST(DecodePerfReview, SmtpTwoUnitsInOneEventKeepBothItemsAndNotesInOrder) {
  // A multi-line reply and its end in one server event: every line is one unit.
  DecoderHarness h(make_smtp_decoder({}));
  h.server("220 mx.example ESMTP\r\n");
  h.client("EHLO client.example\r\n");
  const json& line = h.server("250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n");

  DecoderHarness split(make_smtp_decoder({}));
  split.server("220 mx.example ESMTP\r\n");
  split.client("EHLO client.example\r\n");
  const json a = split.server("250-mx.example\r\n");
  const json b = split.server("250-PIPELINING\r\n");
  const json c = split.server("250 SIZE 1000\r\n");
  ASSERT_TRUE(line.contains("decoded")) << line.dump();
  ASSERT_TRUE(line["decoded"].contains("items")) << line.dump();
  ASSERT_EQ(line["decoded"]["items"].size(), 3u) << line.dump();
  EXPECT_EQ(line["decoded"]["items"][0], a["decoded"]);
  EXPECT_EQ(line["decoded"]["items"][1], b["decoded"]);
  // The last unit answers EHLO: its latency differs (one event instead of three), the rest not.
  json last = line["decoded"]["items"][2];
  json alone = c["decoded"];
  last.erase("latency_us");
  alone.erase("latency_us");
  EXPECT_EQ(last, alone);
  EXPECT_EQ(line["note"], a["note"].get<std::string>() + " | " + b["note"].get<std::string>() +
                              " | " + c["note"].get<std::string>());
}

// ---- imap::Stream: a recycled line buffer starts empty ------------------------------------

struct CompleteLine {
  std::vector<std::string> segments;
  size_t literals;
  bool truncated;
};

std::vector<CompleteLine> complete_lines(imap::Stream& stream,
                                         const std::vector<std::string>& events) {
  std::vector<CompleteLine> out;
  for (const auto& e : events) {
    stream.feed(e, [&](const imap::Stream::Piece& p) {
      if (p.kind != imap::Stream::Piece::Kind::line || !p.logical_line_complete) return;
      const imap::LogicalLine& line = stream.current();
      out.push_back({line.segments, line.literals.size(), line.truncated});
    });
  }
  return out;
}

TEST(DecodePerfReview, StreamRecycledBufferHoldsNothingOfTheLineBefore) {
  imap::Stream stream;
  // A long first line (its buffer is recycled: <= 1 KiB), then a short line split over events,
  // then a line with a literal, then plain lines again: nothing carries over.
  const std::string long_line = "a1 " + std::string(900, 'x') + "\r\n";
  auto lines = complete_lines(stream, {long_line, "a2 N", "OOP\r\n", "a3 LOGIN {3}\r\n", "abc",
                                       " pw\r\n", "a4 NOOP\r\n", "", "a5 CHECK\r\na6 X\r\n"});
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[0].segments, std::vector<std::string>{long_line.substr(0, long_line.size() - 2)});
  EXPECT_EQ(lines[1].segments, std::vector<std::string>{"a2 NOOP"});
  EXPECT_EQ(lines[1].literals, 0u);
  EXPECT_EQ(lines[2].segments, (std::vector<std::string>{"a3 LOGIN {3}", " pw"}));
  EXPECT_EQ(lines[2].literals, 1u);
  EXPECT_EQ(lines[3].segments, std::vector<std::string>{"a4 NOOP"});
  EXPECT_EQ(lines[3].literals, 0u);
  EXPECT_EQ(lines[4].segments, std::vector<std::string>{"a5 CHECK"});
  EXPECT_EQ(lines[5].segments, std::vector<std::string>{"a6 X"});
}

TEST(DecodePerfReview, StreamTruncatedLineDoesNotMarkTheNextOne) {
  imap::Stream::Limits limits;
  limits.max_line = 16;
  limits.max_segments = 2;
  imap::Stream stream(limits);
  auto lines = complete_lines(stream, {"a1 " + std::string(40, 'y') + "\r\n", "a2 NOOP\r\n",
                                       "a3 X {1}\r\nA {1}\r\nB {1}\r\nC\r\n", "a4 NOOP\r\n"});
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_TRUE(lines[0].truncated);
  EXPECT_EQ(lines[0].segments, std::vector<std::string>{"a1 " + std::string(13, 'y')});
  EXPECT_FALSE(lines[1].truncated);
  EXPECT_EQ(lines[1].segments, std::vector<std::string>{"a2 NOOP"});
  EXPECT_TRUE(lines[2].truncated);  // more segments than kept
  EXPECT_EQ(lines[2].segments.size(), 2u);
  EXPECT_FALSE(lines[3].truncated);
  EXPECT_EQ(lines[3].segments, std::vector<std::string>{"a4 NOOP"});
  EXPECT_EQ(lines[3].literals, 0u);
}

TEST(DecodePerfReview, StreamGivesTheSameLinesWhateverTheRecycledCapacity) {
  // Lines of growing and shrinking lengths, each fed whole and byte by byte: the same result.
  std::string wire;
  std::vector<std::string> expected;
  for (size_t n : {1u, 30u, 1000u, 2u, 1500u, 3u, 1024u, 0u, 700u, 5u}) {
    std::string l = "t" + std::to_string(n) + " " + std::string(n, static_cast<char>('a' + n % 26));
    expected.push_back(l);
    wire += l + "\r\n";
  }
  imap::Stream whole;
  auto a = complete_lines(whole, {wire});
  imap::Stream bytewise;
  std::vector<std::string> bytes;
  for (char c : wire) bytes.emplace_back(1, c);
  auto b = complete_lines(bytewise, bytes);
  ASSERT_EQ(a.size(), expected.size());
  ASSERT_EQ(b.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(a[i].segments, std::vector<std::string>{expected[i]}) << i;
    EXPECT_EQ(b[i].segments, std::vector<std::string>{expected[i]}) << i;
  }
}

// ---- Stream::PieceHandler: any callable, called in place ------------------------------------

TEST(DecodePerfReview, PieceHandlerTakesNamedLambdasAndStdFunctions) {
  imap::Stream stream;
  int lines = 0;
  auto count = [&lines](const imap::Stream::Piece& p) {
    if (p.kind == imap::Stream::Piece::Kind::line) ++lines;
  };
  stream.feed("a1 NOOP\r\n", count);  // an lvalue lambda
  const std::function<void(const imap::Stream::Piece&)> f = count;
  stream.feed("a2 NOOP\r\n", f);  // a const std::function
  int calls = 0;
  stream.feed("a3 NOOP\r\na4 NOOP\r\n", [calls](const imap::Stream::Piece&) mutable {
    ++calls;  // a mutable temporary: its own copy of calls changes, not ours
  });
  EXPECT_EQ(calls, 0);
  imap::Stream::PieceHandler handler(count);  // kept while `count` lives
  imap::Stream::PieceHandler copy = handler;
  stream.feed("a5 NOOP\r\n", copy);
  EXPECT_EQ(lines, 3);
}

// ---- pending IMAP commands in a vector: pairing survives growth and removal ------------------

TEST(DecodePerfReview, ImapManyPendingCommandsArePairedWithTheirCompletions) {
  DecoderHarness h(make_imap_decoder({}));
  h.server("* OK ready\r\n");
  // 40 commands in flight (the vector grows several times), answered in reverse order with an
  // untagged response before each, so pointers into the list are taken after every change.
  for (int i = 0; i < 40; ++i) h.client("c" + std::to_string(i) + " NOOP\r\n");
  for (int i = 39; i >= 0; --i) {
    const json& done = h.server("c" + std::to_string(i) + " OK NOOP done\r\n");
    ASSERT_EQ(done["decoded"].value("command", ""), "NOOP") << done.dump();
    ASSERT_FALSE(done.contains("warnings")) << done.dump();
  }
  // Nothing is left pending: a second completion of any tag is unknown.
  h.server("c7 OK again\r\n");
  EXPECT_TRUE(h.warned("imap_unknown_tag"));
}

TEST(DecodePerfReview, ImapPendingOverflowDropsTheOldestOnly) {
  DecoderHarness h(make_imap_decoder({}));
  h.server("* OK ready\r\n");
  for (int i = 0; i < 1001; ++i) h.client("p" + std::to_string(i) + " NOOP\r\n");
  EXPECT_TRUE(h.warned("imap_pending_overflow"));
  const json& oldest = h.server("p0 OK done\r\n");
  ASSERT_TRUE(oldest.contains("warnings")) << oldest.dump();
  EXPECT_EQ(oldest["warnings"][0]["code"], "imap_unknown_tag");
  const json& next = h.server("p1 OK done\r\n");
  EXPECT_FALSE(next.contains("warnings")) << next.dump();
  EXPECT_EQ(next["decoded"].value("command", ""), "NOOP");
  const json& newest = h.server("p1000 OK done\r\n");
  EXPECT_FALSE(newest.contains("warnings")) << newest.dump();
}

// ---- SELECT's mailbox state: created when first needed --------------------------------------

TEST(DecodePerfReview, SelectWithoutUntaggedDataStillNamesTheMailbox) {
  DecoderHarness h(make_imap_decoder({}));
  h.server("* OK ready\r\n");
  h.client("s1 SELECT INBOX\r\n");
  const json& done = h.server("s1 OK SELECT completed\r\n");
  ASSERT_TRUE(done["decoded"].contains("mailbox")) << done.dump();
  EXPECT_EQ(done["decoded"]["mailbox"], json({{"name", "INBOX"}}));
}

TEST(DecodePerfReview, SelectStateGathersItsUntaggedDataAndIsNotShared) {
  DecoderHarness h(make_imap_decoder({}));
  h.server("* OK ready\r\n");
  h.client("s1 SELECT INBOX\r\n");
  h.server("* FLAGS (\\Seen \\Answered)\r\n");
  h.server("* 3 EXISTS\r\n");
  h.server("* OK [UIDVALIDITY 7] UIDs valid\r\n");
  const json& first = h.server("s1 OK [READ-WRITE] SELECT completed\r\n");
  const json mailbox = first["decoded"]["mailbox"];
  EXPECT_EQ(mailbox["name"], "INBOX");
  EXPECT_EQ(mailbox["exists"], 3);
  EXPECT_EQ(mailbox["uidvalidity"], 7);
  EXPECT_EQ(mailbox["flags"], json({"\\Seen", "\\Answered"}));
  EXPECT_EQ(mailbox["access"], "read-write");
  // A second SELECT starts from nothing.
  h.client("s2 EXAMINE Archive\r\n");
  const json& second = h.server("s2 OK [READ-ONLY] EXAMINE completed\r\n");
  EXPECT_EQ(second["decoded"]["mailbox"], json({{"name", "Archive"}, {"access", "read-only"}}));
}

// ---- json_safe's fast path: every byte that is not plain ASCII is still escaped ---------------

// The note of a SMTP command whose argument carries `odd` at `at` inside a 24-byte run of 'q's
// (so the byte falls on every lane of an eight-byte word).
json smtp_helo_with(std::string odd, size_t at) {
  DecoderHarness h(make_smtp_decoder({}));
  h.server("220 mx.example ESMTP\r\n");
  std::string arg(24, 'q');
  arg.replace(at, 1, odd);
  return h.client("HELO " + arg + "\r\n");
}

TEST(DecodePerfReview, JsonSafeEscapesAnOddByteInEveryLaneOfAWord) {
  const json plain = smtp_helo_with("Z", 0);
  ASSERT_TRUE(plain.contains("note"));
  const std::string plain_note = plain["note"];
  ASSERT_NE(plain_note.find("Zqqq"), std::string::npos) << plain_note;
  struct Case {
    std::string byte;
    std::string shown;
  };
  const std::vector<Case> cases = {{"\x01", "\\x01"}, {"\x1f", "\\x1F"}, {"\x7f", "\\x7F"},
                                   {"\x80", "\\x80"}, {"\xff", "\\xFF"}, {"\xc3\xa9", "\xc3\xa9"},
                                   {"~", "~"}};
  for (const auto& c : cases) {
    for (size_t at = 0; at < 24; ++at) {
      const json line = smtp_helo_with(c.byte, at);
      const json reference = smtp_helo_with("Z", at);
      std::string expected = reference["note"];
      const size_t z = expected.find('Z');
      ASSERT_NE(z, std::string::npos);
      expected.replace(z, 1, c.shown);
      EXPECT_EQ(line["note"], expected) << "byte " << json(c.shown).dump() << " at " << at;
      EXPECT_NO_THROW((void)line.dump());
    }
  }
}

// ---- memory of the pending list once commands complete ---------------------------------------

// The pending list gives back what it held for completed commands while others are still pending
// (an idle IMAP session often has one: IDLE). With std::deque (before c6a82bc) the freed room went
// with the commands; a vector keeps its largest capacity until the list is empty: after a burst of
// 1000 pipelined commands, ~190 KiB for as long as one command stays open.
// DISABLED: fails at e2ab32f (capacity 1024 x 192 bytes kept; reported to the lead as a review
// finding of c6a82bc). Enable it with the fix.
TEST(DecodePerfReview, PendingListHoldsLittleOnceABurstHasCompleted) {
  imap::PendingCommands pending;
  for (int i = 0; i < 1000; ++i) {
    imap::PendingCommand c;
    c.tag = "t" + std::to_string(i);
    c.name = "NOOP";
    pending.add(std::move(c));
  }
  for (int i = 0; i < 999; ++i) ASSERT_TRUE(pending.take("t" + std::to_string(i)).has_value());
  ASSERT_EQ(pending.all().size(), 1u);
  EXPECT_LE(pending.held_bytes(), 4096u) << "bytes kept for one pending command";
}

// A flood of commands that are never answered: the oldest are forgotten one by one (by moving the
// start of the list, not by shifting the others), and what the list holds stays bounded by about
// twice its cap however long the flood goes on.
TEST(DecodePerfReview, PendingListStaysBoundedInAnEndlessFlood) {
  imap::PendingCommands pending;
  size_t forgotten = 0;
  for (int i = 0; i < 100000; ++i) {
    imap::PendingCommand c;
    c.tag = "f" + std::to_string(i);
    c.name = "NOOP";
    if (!pending.add(std::move(c))) ++forgotten;
  }
  EXPECT_EQ(forgotten, 100000u - imap::PendingCommands::kMaxPending);
  ASSERT_EQ(pending.all().size(), imap::PendingCommands::kMaxPending);
  EXPECT_EQ(pending.all().front().tag, "f99000");
  EXPECT_EQ(pending.all().back().tag, "f99999");
  EXPECT_EQ(pending.find("f98999"), nullptr);
  EXPECT_NE(pending.find("f99000"), nullptr);
  EXPECT_LE(pending.held_bytes(),
            4 * imap::PendingCommands::kMaxPending * sizeof(imap::PendingCommand));
}

// Completions in the order sent (the usual case), out of order, and from the middle: each takes
// exactly its own command, and the rest stay findable across the list's compactions.
TEST(DecodePerfReview, PendingListTakesInAnyOrderAcrossCompactions) {
  imap::PendingCommands pending;
  for (int i = 0; i < 500; ++i) {
    imap::PendingCommand c;
    c.tag = "t" + std::to_string(i);
    c.name = i % 2 ? "FETCH" : "NOOP";
    pending.add(std::move(c));
  }
  for (int i = 0; i < 200; ++i) {  // in order
    auto c = pending.take("t" + std::to_string(i));
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->tag, "t" + std::to_string(i));
  }
  for (int i = 499; i >= 400; --i) ASSERT_TRUE(pending.take("t" + std::to_string(i)).has_value());
  ASSERT_TRUE(pending.take("t300").has_value());  // from the middle
  EXPECT_FALSE(pending.take("t300").has_value());
  EXPECT_FALSE(pending.take("t0").has_value());
  ASSERT_EQ(pending.all().size(), 199u);
  EXPECT_EQ(pending.all().front().tag, "t200");
  for (int i = 200; i < 400; ++i) {
    if (i == 300) continue;
    ASSERT_NE(pending.find("t" + std::to_string(i)), nullptr) << i;
  }
  for (int i = 200; i < 400; ++i) {
    if (i == 300) continue;
    ASSERT_TRUE(pending.take("t" + std::to_string(i)).has_value()) << i;
  }
  EXPECT_TRUE(pending.empty());
  EXPECT_EQ(pending.held_bytes(), 0u);
}

}  // namespace
}  // namespace mailtap::decode
