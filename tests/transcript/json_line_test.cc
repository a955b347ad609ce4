// append_json_text / append_json_line must write exactly what nlohmann's dump writes: readers,
// tools and tests compare transcript lines byte for byte.
#include "mailtap/transcript/json_line.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "mailtap/transcript/transcript_writer.h"

namespace mailtap::transcript {
namespace {

using nlohmann::json;

std::string dumped(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string fast_text(std::string_view s) {
  std::string out = "prefix:";  // appends, never overwrites
  append_json_text(out, s);
  EXPECT_EQ(out.substr(0, 7), "prefix:");
  return out.substr(7);
}

TEST(JsonLine, TextEscapesLikeNlohmann) {
  std::vector<std::string> cases = {"",
                                    "a",
                                    "hello world\r\n",
                                    "\"",
                                    "\\",
                                    "tab\there",
                                    "quote \" and backslash \\ in the middle of a long run",
                                    "\x7f del stays",
                                    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7 utf-8",
                                    std::string("nul\0inside", 10)};
  for (int c = 0; c < 0x20; ++c) cases.push_back("x" + std::string(1, static_cast<char>(c)) + "y");
  // Every special at every offset around the sixteen- and eight-byte steps, alone and as a
  // line end (CR LF is written as one escape pair), also split across a block boundary.
  for (char special : {'"', '\\', '\r', '\n', '\t', '\x01', '\x1f', '\x7f'}) {
    for (size_t at = 0; at < 40; ++at) {
      std::string s(40, 'a');
      s[at] = special;
      cases.push_back(s);
      if (at + 1 < s.size()) {
        s[at] = '\r';
        s[at + 1] = '\n';
        cases.push_back(s);
      }
    }
  }
  cases.push_back("\r");
  cases.push_back("ends with CR\r");
  cases.push_back("\r\r\n\n\r\n");
  for (const auto& s : cases) EXPECT_EQ(fast_text(s), dumped(json(s))) << json(s).dump();
}

TEST(JsonLine, RandomTextMatchesNlohmann) {
  std::mt19937 rng(20240611);
  const std::vector<std::string> pieces = {
      "a",    "Z",   "0", " ", "\r\n",     "\n",           "\t",
      "\"",   "\\",  "/", "{", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x93\xa7",
      "\x1b", "\x7f"};
  for (int round = 0; round < 2000; ++round) {
    std::string s;
    size_t n = rng() % 300;
    for (size_t i = 0; i < n; ++i) s += pieces[rng() % pieces.size()];
    ASSERT_EQ(fast_text(s), dumped(json(s))) << json(s).dump();
  }
}

json sample_line(const std::string& text) {
  Event e = make_data(1'700'000'000'000'000, Party::server, Party::client, FrameKind::literal, true,
                      text);
  json line = encode_event(e, 42);
  line["decoded"] = {{"literal", {{"offset", 0}, {"size", text.size()}}},
                     {"note \xc3\xa9", "a \"quoted\" note\twith\ttabs"}};
  line["note"] = "literal data for * 1 FETCH";
  line["warnings"] = json::array({{{"code", "x"}, {"message", "m\r\n"}}});
  return line;
}

TEST(JsonLine, LineWithKnownTextMatchesDump) {
  std::string text;
  for (int i = 0; i < 200; ++i)
    text += "line " + std::to_string(i) + " with \"quotes\" \\ \xc3\xa9\r\n";
  json line = sample_line(text);
  std::string out;
  append_json_line(out, line, text);
  EXPECT_EQ(out, dumped(line));
  EXPECT_EQ(json::parse(out)["text"], text);
}

TEST(JsonLine, FallsBackWhenTheTextIsNotTheKnownOne) {
  std::string text(1000, 'x');
  json line = sample_line(text);
  line["text"] = "[redacted]";
  std::string out;
  append_json_line(out, line, text);
  EXPECT_EQ(out, dumped(line));
  // Short texts, non-objects and invalid UTF-8 elsewhere in the line come out as dump() too.
  std::string short_out;
  append_json_line(short_out, sample_line("short\r\n"), "short\r\n");
  EXPECT_EQ(short_out, dumped(sample_line("short\r\n")));
  json bad = sample_line(text);
  bad["note"] = std::string("bad \xff utf-8");
  std::string bad_out;
  append_json_line(bad_out, bad, text);
  EXPECT_EQ(bad_out, dumped(bad));
  std::string array_out;
  append_json_line(array_out, json::array({1, "two"}), text);
  EXPECT_EQ(array_out, "[1,\"two\"]");
}

// Any JSON value, written without nlohmann's serializer, must come out as dump() writes it:
// strings with invalid UTF-8 (replaced by U+FFFD), overlong forms and surrogates, controls,
// negative and huge integers, floats, nesting, empty containers.
json random_value(std::mt19937& rng, int depth) {
  static const std::vector<std::string> pieces = {"a",
                                                  "Z",
                                                  "0",
                                                  " ",
                                                  "\r\n",
                                                  "\"",
                                                  "\\",
                                                  "\xc3\xa9",
                                                  "\x7f",
                                                  "\x01",
                                                  "\xff",
                                                  "\xc0\xaf",
                                                  "\xed\xa0\x80",
                                                  "\xf4\x90\x80\x80",
                                                  "\xe2\x82",
                                                  "\xf0\x9f\x93\xa7",
                                                  "\xc2\x85",
                                                  "plain text run"};
  auto random_string = [&] {
    std::string s;
    for (size_t i = rng() % 12; i > 0; --i) s += pieces[rng() % pieces.size()];
    return s;
  };
  switch (depth > 3 ? rng() % 6 : rng() % 8) {
    case 0:
      return random_string();
    case 1:
      return static_cast<int64_t>(rng()) - static_cast<int64_t>(rng()) * 4096;
    case 2:
      return static_cast<uint64_t>(rng()) << 32 | rng();
    case 3:
      return rng() % 2 == 0;
    case 4:
      return nullptr;
    case 5:
      return static_cast<double>(rng() % 100000) / 7.0;
    case 6: {
      json object = json::object();
      for (size_t i = rng() % 5; i > 0; --i) object[random_string()] = random_value(rng, depth + 1);
      return object;
    }
    default: {
      json array = json::array();
      for (size_t i = rng() % 5; i > 0; --i) array.push_back(random_value(rng, depth + 1));
      return array;
    }
  }
}

TEST(JsonLine, AnyValueMatchesDump) {
  std::mt19937 rng(20261122);
  for (int round = 0; round < 3000; ++round) {
    json value = random_value(rng, 0);
    std::string out;
    append_json_line(out, value);
    ASSERT_EQ(out, dumped(value)) << round;
  }
  for (const json& edge : {json::object(), json::array(), json(""), json(INT64_MIN),
                           json(UINT64_MAX), json(0), json(-0.0), json(1e300)}) {
    std::string out;
    append_json_line(out, edge);
    EXPECT_EQ(out, dumped(edge));
  }
}

}  // namespace
}  // namespace mailtap::transcript
