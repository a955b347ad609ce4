#include <gtest/gtest.h>

#include <string>

#include "mailtap/transcript/bytes_codec.h"
#include "mailtap/transcript/session_header.h"
#include "mailtap/transcript/transcript_writer.h"

namespace mailtap::transcript {
namespace {

Event data_event(std::string bytes) {
  return make_data(1'700'000'000'123'456, Party::client, Party::server, FrameKind::line, true,
                   std::move(bytes));
}

// Encodes, goes through a real JSON text round trip (as a file would), and rebuilds the bytes.
std::string round_trip(const std::string& bytes, nlohmann::json* encoded = nullptr) {
  nlohmann::json j = encode_event(data_event(bytes), 7);
  nlohmann::json reparsed = nlohmann::json::parse(j.dump());
  if (encoded) *encoded = reparsed;
  return decode_bytes(reparsed);
}

TEST(TranscriptCodec, PrintableLineIsStoredAsText) {
  nlohmann::json j;
  EXPECT_EQ(round_trip("EHLO localhost\r\n", &j), "EHLO localhost\r\n");
  EXPECT_EQ(j["text"], "EHLO localhost\r\n");
  EXPECT_FALSE(j.contains("b64"));
  EXPECT_EQ(j["len"], 16);
  EXPECT_EQ(j["seq"], 7);
  EXPECT_EQ(j["t"], 1'700'000'000'123'456);
  EXPECT_EQ(j["type"], "data");
  EXPECT_EQ(j["from"], "client");
  EXPECT_EQ(j["to"], "server");
  EXPECT_EQ(j["frame"], "line");
  EXPECT_EQ(j["tls"], true);
}

TEST(TranscriptCodec, CrLfTabAndBareLfStayText) {
  nlohmann::json j;
  std::string s = "a\tb\r\nc\nd\re";
  EXPECT_EQ(round_trip(s, &j), s);
  EXPECT_TRUE(j.contains("text"));
}

TEST(TranscriptCodec, Utf8IsText) {
  nlohmann::json j;
  std::string s =
      "Subject: Gr\xc3\xbc\xc3\x9f"
      "e \xe2\x82\xac \xf0\x9f\x93\xa7\r\n";
  EXPECT_EQ(round_trip(s, &j), s);
  EXPECT_TRUE(j.contains("text"));
}

TEST(TranscriptCodec, BinaryAndControlBytesAreBase64) {
  for (std::string s :
       {std::string("\x16\x03\x01\x02\x00", 5), std::string("a\0b", 3), std::string("bell\x07\r\n"),
        std::string("esc\x1b[0m"), std::string("del\x7f"), std::string("c1 \xc2\x85 nel")}) {
    nlohmann::json j;
    EXPECT_EQ(round_trip(s, &j), s);
    EXPECT_TRUE(j.contains("b64")) << j.dump();
    EXPECT_FALSE(j.contains("text"));
    EXPECT_EQ(j["len"], s.size());
  }
}

TEST(TranscriptCodec, InvalidUtf8IsBase64) {
  for (std::string s : {std::string("caf\xe9\r\n"),       // Latin-1
                        std::string("\xc0\xaf"),          // overlong '/'
                        std::string("\xed\xa0\x80"),      // surrogate
                        std::string("\xf4\x90\x80\x80"),  // past U+10FFFF
                        std::string("trunc \xe2\x82"),    // cut sequence
                        std::string("\x80 lone continuation")}) {
    nlohmann::json j;
    EXPECT_EQ(round_trip(s, &j), s);
    EXPECT_TRUE(j.contains("b64")) << s;
  }
}

TEST(TranscriptCodec, EveryByteValueRoundTrips) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t n = 0; n <= all.size(); n += 37) {
    EXPECT_EQ(round_trip(all.substr(0, n)), all.substr(0, n));
  }
  EXPECT_EQ(round_trip(""), "");
}

TEST(TranscriptCodec, Base64KnownVectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_decode("Zm9vYg==").value(), "foob");
  EXPECT_FALSE(base64_decode("Zm9").has_value());
  EXPECT_FALSE(base64_decode("Zm9v!!==").has_value());
  EXPECT_THROW(decode_bytes(nlohmann::json{{"b64", "%%%%"}}), std::invalid_argument);
}

TEST(TranscriptCodec, FieldsAreMergedButNeverOverrideEncoderKeys) {
  Event e = data_event("QUIT\r\n");
  e.fields = {{"seq", 99}, {"text", "forged"}, {"from", "mailtap"}, {"note", "quit"}};
  nlohmann::json j = encode_event(e, 3);
  EXPECT_EQ(j["seq"], 3);
  EXPECT_EQ(j["text"], "QUIT\r\n");
  EXPECT_EQ(j["from"], "client");
  EXPECT_EQ(j["note"], "quit");

  Event tls = make_event(5, EventType::tls,
                         {{"leg", "client"}, {"version", "TLSv1.3"}, {"type", "x"}, {"t", 1}});
  nlohmann::json k = encode_event(tls, 4);
  EXPECT_EQ(k["type"], "tls");
  EXPECT_EQ(k["t"], 5);
  EXPECT_EQ(k["leg"], "client");
  EXPECT_EQ(k["version"], "TLSv1.3");
  EXPECT_FALSE(k.contains("len"));
  EXPECT_FALSE(k.contains("text"));
}

TEST(TranscriptCodec, EnumNames) {
  EXPECT_EQ(to_string(Party::mailtap), "mailtap");
  EXPECT_EQ(to_string(EventType::starttls), "starttls");
  EXPECT_EQ(to_string(EventType::close), "close");
  EXPECT_EQ(to_string(FrameKind::literal), "literal");
  EXPECT_EQ(to_string(FrameKind::chunk), "chunk");
}

TEST(TranscriptHeader, FirstLineDescribesTheSession) {
  SessionHeader h;
  h.session_id = "s000001-abc";
  h.protocol = Protocol::imap;
  h.listener = "imap";
  h.listen = "127.0.0.1:1143";
  h.client_address = "127.0.0.1:5555";
  h.upstream = "mail.example.com:993";
  h.client_tls = TlsMode::starttls;
  h.upstream_tls = TlsMode::implicit;
  h.upstream_insecure = true;
  h.started_us = 1'714'566'896'123'456;  // 2024-05-01T12:34:56.123456Z
  h.extra = {{"note", "hello"}, {"type", "must not win"}};
  nlohmann::json j = to_json(h);
  EXPECT_EQ(j["type"], "session");
  EXPECT_EQ(j["format"], "mailtap-transcript");
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["session"], "s000001-abc");
  EXPECT_EQ(j["protocol"], "imap");
  EXPECT_EQ(j["client"], "127.0.0.1:5555");
  EXPECT_EQ(j["started"], "2024-05-01T12:34:56.123456Z");
  EXPECT_EQ(j["t"], 1'714'566'896'123'456);
  EXPECT_EQ(j["mailtap_version"], MAILTAP_VERSION);
  EXPECT_EQ(j["note"], "hello");
  EXPECT_EQ(j["listener"]["name"], "imap");
  EXPECT_EQ(j["listener"]["listen"], "127.0.0.1:1143");
  EXPECT_EQ(j["listener"]["client_tls"], "starttls");
  EXPECT_EQ(j["listener"]["upstream"], "mail.example.com:993");
  EXPECT_EQ(j["listener"]["upstream_tls"], "implicit");
  EXPECT_EQ(j["listener"]["upstream_insecure"], true);
}

}  // namespace
}  // namespace mailtap::transcript
