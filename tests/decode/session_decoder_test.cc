#include "mailtap/decode/session_decoder.h"

#include <gtest/gtest.h>

#include "mailtap/transcript/transcript_writer.h"

namespace mailtap::decode {
namespace {

using transcript::FrameKind;
using transcript::Party;

TEST(SessionDecoderFactory, SmtpSessionsGetTheSmtpDecoder) {
  auto decoder = make_session_decoder(Protocol::smtp, {});
  ASSERT_NE(decoder, nullptr);
  transcript::Event e =
      transcript::make_data(1, Party::client, Party::server, FrameKind::line, false, "EHLO a\r\n");
  nlohmann::json out = transcript::encode_event(e, 1);
  decoder->annotate(e, out);
  EXPECT_EQ(out["decoded"]["command"], "EHLO");
}

TEST(SessionDecoderFactory, EveryProtocolGetsADecoderThatAcceptsEvents) {
  for (Protocol p : {Protocol::smtp, Protocol::imap, Protocol::pop3}) {
    auto decoder = make_session_decoder(p, {});
    ASSERT_NE(decoder, nullptr);
    transcript::Event e = transcript::make_data(1, Party::server, Party::client, FrameKind::line,
                                                false, "garbage \xff\r\n");
    nlohmann::json out = transcript::encode_event(e, 1);
    decoder->annotate(e, out);
    EXPECT_NO_THROW((void)out.dump());
  }
}

}  // namespace
}  // namespace mailtap::decode
