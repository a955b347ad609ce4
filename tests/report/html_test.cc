#include "mailtap/report/html.h"

#include <gtest/gtest.h>

namespace mailtap::report {
namespace {

TEST(ReportHtml, EscapesMarkupAndQuotes) {
  EXPECT_EQ(text("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;");
  EXPECT_EQ(attr("a\"b\nc\td"), "a&quot;b&#10;c&#9;d");
  EXPECT_EQ(text("line\nnext\ttab"), "line\nnext\ttab");
}

TEST(ReportHtml, ControlCharactersBecomeVisible) {
  const std::string controls = std::string("nul") + '\0' + "bell" + '\x07' + "esc" + '\x1b';
  EXPECT_EQ(text(controls), "nul\\x00bell\\x07esc\\x1b");
  EXPECT_EQ(text("\r"), "\\x0d");
  EXPECT_EQ(text("c1 \xc2\x85 end"), "c1 \\x85 end");
}

TEST(ReportHtml, InvalidUtf8IsReplaced) {
  EXPECT_EQ(valid_utf8("ok \xff\xfe done"), "ok \xef\xbf\xbd\xef\xbf\xbd done");
  EXPECT_EQ(valid_utf8("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac");
  EXPECT_EQ(valid_utf8("overlong \xc0\xbc"), "overlong \xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(valid_utf8("surrogate \xed\xa0\x80"), "surrogate \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(valid_utf8("cut \xe2\x82"), "cut \xef\xbf\xbd\xef\xbf\xbd");
  // an overlong '<' never survives as '<'
  EXPECT_EQ(text("\xc0\xbcscript"), "\xef\xbf\xbd\xef\xbf\xbdscript");
}

TEST(ReportHtml, CspHashIsSha256Base64) {
  // sha256("") = e3b0c442...; base64 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=
  EXPECT_EQ(csp_hash(""), "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='");
  EXPECT_NE(csp_hash("a"), csp_hash("b"));
}

}  // namespace
}  // namespace mailtap::report
