// Review guards for the session-4 changes to the JSON writer (981358c, 6103a50, 19e6e05): the
// shared escaping loop, the short plain-ASCII path (64 bytes and under) and the walk over an
// object's std::map. Every string is compared with what nlohmann itself writes, with the byte that
// needs care put at every position around the 8-, 16- and 64-byte boundaries.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mailtap/transcript/bytes_codec.h"
#include "mailtap/transcript/json_line.h"
#include "mailtap/transcript/transcript_writer.h"

namespace mailtap::transcript {
namespace {

using nlohmann::json;

std::string nlohmann_dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Valid UTF-8 as nlohmann judges it (its strict dump throws otherwise).
bool is_valid_utf8_for_test(const std::string& s) {
  try {
    (void)json(s).dump();
    return true;
  } catch (const json::type_error&) {
    return false;
  }
}

// Plain text of `length` bytes with `odd` at `at`.
std::string with_byte_at(size_t length, size_t at, const std::string& odd) {
  std::string s;
  for (size_t i = 0; i < length; ++i) s += static_cast<char>('a' + i % 26);
  if (at < length) s.replace(at, 1, odd);
  return s;
}

const std::vector<std::string>& odd_bytes() {
  static const std::vector<std::string> bytes = {"\"",
                                                 "\\",
                                                 "\x7f",
                                                 "\x1f",
                                                 "\t",
                                                 "\r",
                                                 "\n",
                                                 "\r\n",
                                                 std::string(1, '\0'),
                                                 "/",
                                                 "~",
                                                 " ",
                                                 "\xc3\xa9",
                                                 "\xe2\x82\xac",
                                                 "\xf0\x9f\x98\x80",  // valid UTF-8
                                                 "\x80",
                                                 "\xff",
                                                 "\xc3",
                                                 "\xed\xa0\x80",
                                                 "\xc2\x85"};  // invalid, a surrogate, a C1 control
  return bytes;
}

TEST(JsonLineReview, StringsOfEveryLengthAroundTheShortPathAreWrittenAsNlohmannDoes) {
  for (size_t length :
       {0u, 1u, 7u, 8u, 9u, 15u, 16u, 17u, 31u, 32u, 33u, 63u, 64u, 65u, 66u, 80u}) {
    for (const auto& odd : odd_bytes()) {
      for (size_t at = 0; at <= length; ++at) {
        const std::string s = with_byte_at(length, at, odd);
        std::string ours;
        append_json_string(ours, s);
        ASSERT_EQ(ours, nlohmann_dump(json(s)))
            << "length " << length << " at " << at << " odd " << nlohmann_dump(json(odd));
      }
    }
  }
}

TEST(JsonLineReview, ValidTextAndTranscriptTextAreWrittenAsNlohmannDoes) {
  for (size_t length : {0u, 5u, 8u, 15u, 16u, 17u, 24u, 31u, 32u, 33u, 47u, 64u, 65u, 100u}) {
    for (const auto& odd : odd_bytes()) {
      for (size_t at = 0; at <= length; ++at) {
        const std::string s = with_byte_at(length, at, odd);
        const std::string expected = nlohmann_dump(json(s));
        if (is_valid_utf8_for_test(s)) {
          std::string text;
          append_json_text(text, s);
          ASSERT_EQ(text, expected) << "length " << length << " at " << at;
        }
        std::string transcript;
        const bool ok = append_if_transcript_text(transcript, s);
        ASSERT_EQ(ok, is_transcript_text(s))
            << "length " << length << " at " << at << " odd " << nlohmann_dump(json(odd));
        if (ok) {
          ASSERT_EQ(transcript, expected) << "length " << length << " at " << at;
        }
      }
    }
  }
}

TEST(JsonLineReview, ObjectsArraysAndOddKeysAreWrittenInNlohmannsOrder) {
  json j = json::object();
  j["zeta"] = json::array({1, -2, "three", nullptr, true, json::object()});
  j["alpha"] = {{"nested \"key\"", "v\\"}, {std::string(70, 'k'), std::string(70, 'v')}};
  j["caf\xc3\xa9"] = "\xe2\x82\xac";
  j["bad\xff"] = "also \xfe bad";
  j[""] = json::array();
  j["Upper"] = 18446744073709551615ULL;
  j["neg"] = -9223372036854775807LL - 1;
  std::string ours;
  append_json_line(ours, j);
  EXPECT_EQ(ours, nlohmann_dump(j));
}

TEST(JsonLineReview, DataLineWithAnnotationKeysOnBothSidesOfEveryOwnKey) {
  // Keys sorted before, between and after the data line's own keys, one equal to an own key.
  const Event e = make_data(1'700'000'000'000'000, Party::client, Party::server, FrameKind::line,
                            true, "a1 NOOP \"x\"\r\n");
  json annotation = {{"seq", 5},        {"a", 1},         {"decoded", {{"k", "v"}}},
                     {"fz", "between"}, {"note", "n\t1"}, {"tm", json::array({1, 2})},
                     {"frame", "line"}, {"zzz", nullptr}, {"tls", false}};
  std::string direct;
  append_data_event_line(direct, e, 5, annotation);
  json merged = encode_event(e, 5);
  for (const auto& [key, value] : annotation.items()) merged[key] = value;
  EXPECT_EQ(direct, nlohmann_dump(merged));
}

}  // namespace
}  // namespace mailtap::transcript
