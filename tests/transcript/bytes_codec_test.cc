// is_transcript_text() checks eight bytes at a time; these tests hold it to a plain byte-by-byte
// reading of the rule (printable UTF-8 plus tab, CR and LF; no C0/C1 controls, no DEL, no invalid
// or overlong UTF-8), at every alignment.
#include "mailtap/transcript/bytes_codec.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>

namespace mailtap::transcript {
namespace {

bool allowed(uint32_t cp) {
  if (cp < 0x20) return cp == '\t' || cp == '\n' || cp == '\r';
  if (cp == 0x7f) return false;
  return !(cp >= 0x80 && cp <= 0x9f);
}

// The rule, one byte at a time, written independently of the library.
bool reference_is_text(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (!allowed(c)) return false;
      ++i;
      continue;
    }
    int extra = c >= 0xf0 && c < 0xf8   ? 3
                : c >= 0xe0 && c < 0xf0 ? 2
                : c >= 0xc0 && c < 0xe0 ? 1
                                        : -1;
    if (extra < 0 || i + static_cast<size_t>(extra) >= s.size()) return false;
    uint32_t cp = c & (extra == 1 ? 0x1f : extra == 2 ? 0x0f : 0x07);
    for (int k = 1; k <= extra; ++k) {
      auto d = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    const uint32_t min = extra == 1 ? 0x80 : extra == 2 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || !allowed(cp)) return false;
    i += static_cast<size_t>(extra) + 1;
  }
  return true;
}

TEST(TranscriptText, EveryByteValueAtEveryPositionOfAPrintableRun) {
  const std::string base = "a1 FETCH 1 (BODY[]) 0123456789 abcdefghijklmnopqrstuvwxyz~ !";
  for (int value = 0; value < 256; ++value) {
    for (size_t pos = 0; pos < base.size(); ++pos) {
      std::string s = base;
      s[pos] = static_cast<char>(value);
      ASSERT_EQ(is_transcript_text(s), reference_is_text(s))
          << "byte 0x" << std::hex << value << " at " << std::dec << pos;
    }
  }
}

TEST(TranscriptText, ControlsAndDelAreFoundInsideLongLines) {
  std::string line(1000, 'x');
  EXPECT_TRUE(is_transcript_text(line + "\r\n"));
  for (char bad : {'\0', '\x01', '\x1b', '\x7f'}) {
    for (size_t pos : {size_t{0}, size_t{7}, size_t{8}, size_t{500}, size_t{999}}) {
      std::string s = line;
      s[pos] = bad;
      EXPECT_FALSE(is_transcript_text(s)) << int(bad) << " at " << pos;
    }
  }
}

TEST(TranscriptText, Utf8AcrossWordBoundaries) {
  for (size_t pad = 0; pad < 9; ++pad) {
    std::string prefix(pad, 'p');
    EXPECT_TRUE(is_transcript_text(prefix + "Gr\xc3\xbc\xc3\x9f"
                                            "e \xe2\x82\xac \xf0\x9f\x93\xa7 ok"));
    EXPECT_FALSE(is_transcript_text(prefix + "\xc2\x85 C1 control"));       // NEL
    EXPECT_FALSE(is_transcript_text(prefix + "overlong \xc0\xaf slash"));   // overlong '/'
    EXPECT_FALSE(is_transcript_text(prefix + "truncated \xe2\x82"));        // cut at the end
    EXPECT_FALSE(is_transcript_text(prefix + "surrogate \xed\xa0\x80 x"));  // U+D800
  }
}

TEST(TranscriptText, AgreesWithTheReferenceOnRandomMixes) {
  std::mt19937 rng(20261122);
  const std::string alphabet =
      std::string("abcXYZ 019.\r\n\t\"\\") + "\x7f\x01\xc3\xa9\xe2\x82\xac\xff\x80";
  for (int round = 0; round < 20000; ++round) {
    std::string s(rng() % 40, ' ');
    for (char& c : s) c = alphabet[rng() % alphabet.size()];
    ASSERT_EQ(is_transcript_text(s), reference_is_text(s)) << round;
  }
}

}  // namespace
}  // namespace mailtap::transcript
