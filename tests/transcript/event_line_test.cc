// append_data_event_line writes a data event's line without building its JSON object: it must be
// byte for byte what the writer wrote before, encode_event() with the decoder's keys set on it and
// then append_json_line().
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "mailtap/transcript/bytes_codec.h"
#include "mailtap/transcript/json_line.h"
#include "mailtap/transcript/transcript_writer.h"

namespace mailtap::transcript {
namespace {

using nlohmann::json;

// The old way: the whole line as an object, the annotation's keys set on it as decoders did
// (a redaction's "text" drops "b64" and the other way round).
std::string reference_line(const Event& e, uint64_t seq, const json& annotation) {
  json line = encode_event(e, seq);
  if (annotation.is_object()) {
    for (const auto& [key, value] : annotation.items()) {
      if (key == "text") line.erase("b64");
      if (key == "b64") line.erase("text");
      line[key] = value;
    }
  }
  std::string out;
  append_json_line(out, line);
  return out;
}

std::string direct_line(const Event& e, uint64_t seq, const json& annotation) {
  std::string out = "prefix:";  // appends, never replaces
  append_data_event_line(out, e, seq, annotation);
  EXPECT_EQ(out.rfind("prefix:", 0), 0u);
  return out.substr(7);
}

std::vector<std::string> sample_bytes() {
  return {
      "",
      "a1 NOOP\r\n",
      "* OK [CAPABILITY IMAP4rev1] ready\r\n",
      "quote \" backslash \\ tab \t bare lf\n",
      std::string("nul \0 byte\r\n", 12),
      "\x01\x02\x7f control",
      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\r\n",
      "bad \xff\xfe utf-8\r\n",
      std::string(70000, 'x') + "\r\n",
  };
}

std::vector<json> sample_annotations(uint64_t seq) {
  return {
      json(),
      json::object(),
      {{"seq", seq}},
      {{"seq", seq}, {"note", "a note"}, {"decoded", {{"verb", "NOOP"}, {"n", 3}}}},
      {{"seq", seq},
       {"warnings", json::array({{{"code", "w"}, {"message", "m \xff bad"}}})},
       {"note", "bad \xc3 utf-8 note"}},
      {{"seq", seq}, {"text", "a1 LOGIN alice ***\r\n"}, {"redacted", true}},
      {{"seq", seq}, {"b64", "AAEC"}, {"redacted", true}},
      // Keys before, between and after the event's own, and ones that collide with them.
      {{"a", 1}, {"c", nullptr}, {"fz", "x"}, {"len", -1}, {"tls", "maybe"}, {"zz", {1, 2}}},
      {{"t", 0}, {"type", "other"}, {"from", "x"}, {"frame", 1.5}},
  };
}

TEST(EventLine, SameBytesAsTheEncodedObject) {
  const FrameKind frames[] = {FrameKind::line, FrameKind::literal, FrameKind::body};
  uint64_t seq = 1;
  for (const std::string& bytes : sample_bytes()) {
    for (FrameKind frame : frames) {
      Event e = make_data(1'700'000'000'123'456 + static_cast<int64_t>(seq), Party::server,
                          Party::client, frame, seq % 2 == 0, bytes);
      for (const json& annotation : sample_annotations(seq)) {
        EXPECT_EQ(direct_line(e, seq, annotation), reference_line(e, seq, annotation))
            << "bytes " << json(bytes).dump(-1, ' ', false, json::error_handler_t::replace)
            << " annotation " << annotation.dump(-1, ' ', false, json::error_handler_t::replace);
      }
      ++seq;
    }
  }
}

TEST(EventLine, RandomBytesAndKeys) {
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> length(0, 40);
  const char* keys[] = {"b64",      "decoded",  "frame", "from", "len", "note",
                        "redacted", "seq",      "t",     "text", "tls", "to",
                        "type",     "warnings", "",      "a",    "tz",  "u"};
  for (int round = 0; round < 2000; ++round) {
    std::string bytes;
    int n = length(rng);
    for (int i = 0; i < n; ++i) {
      // Mostly printable, some controls and high bytes.
      int b = byte(rng);
      bytes += static_cast<char>(b < 200 ? 0x20 + b % 95 : b);
    }
    Event e =
        make_data(round, Party::client, Party::mailtap, FrameKind::line, round % 3 == 0, bytes);
    json annotation = json::object();
    for (int k = length(rng) % 5; k > 0; --k) {
      annotation[keys[static_cast<size_t>(byte(rng)) % std::size(keys)]] =
          byte(rng) % 2 ? json(bytes) : json(byte(rng));
    }
    // A redaction sets one of the two (the contract of SessionDecoder::annotate).
    if (annotation.contains("text")) annotation.erase("b64");
    EXPECT_EQ(direct_line(e, static_cast<uint64_t>(round), annotation),
              reference_line(e, static_cast<uint64_t>(round), annotation))
        << "round " << round;
  }
}

// The one-pass check-and-escape agrees with is_transcript_text + append_json_text on bytes chosen
// to hit every rule: ASCII controls, DEL, quotes, C1 controls (U+0080..U+009F), overlong forms,
// surrogates, code points past U+10FFFF, sequences cut short, at every offset of a 16-byte block.
TEST(EventLine, OnePassTextMatchesCheckThenEscape) {
  const std::vector<std::string> atoms = {"a",
                                          "Z ",
                                          "\"",
                                          "\\",
                                          "\r\n",
                                          "\n",
                                          "\t",
                                          "\x01",
                                          "\x1f",
                                          "\x7f",
                                          "\xc2\x80",
                                          "\xc2\x9f",
                                          "\xc2\xa0",
                                          "\xc3\xa9",
                                          "\xc0\xaf",
                                          "\xe2\x82\xac",
                                          "\xed\xa0\x80",
                                          "\xf0\x9f\x98\x80",
                                          "\xf4\x90\x80\x80",
                                          "\xe2\x82",
                                          "\xf0\x9f",
                                          "\x80",
                                          "\xff",
                                          "0123456789abcdef"};
  std::mt19937 rng(99);
  for (int round = 0; round < 20000; ++round) {
    std::string bytes;
    const int n = static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) {
      // Mostly plain text, so the sixteen-byte blocks and the runs between escapes both occur.
      bytes += rng() % 3 == 0 ? atoms[rng() % atoms.size()] : std::string(rng() % 20, 'x');
    }
    std::string one_pass = "<";
    const bool ok = append_if_transcript_text(one_pass, bytes);
    ASSERT_EQ(ok, is_transcript_text(bytes)) << "round " << round;
    if (ok) {
      std::string reference = "<";
      append_json_text(reference, bytes);
      ASSERT_EQ(one_pass, reference) << "round " << round;
    }
  }
}

}  // namespace
}  // namespace mailtap::transcript
