// Shared by the session and framing fuzz targets: reading a fuzz input as a sequence of choices,
// and per-protocol words, so that random bytes quickly become plausible conversations (STARTTLS,
// replies, literals, bodies) while raw bytes still reach every corner.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mailtap/core/protocol.h"
#include "mailtap/core/side.h"

namespace mailtap::fuzz {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  uint8_t byte() { return empty() ? 0 : data_[pos_++]; }
  std::string_view take(size_t n) {
    n = std::min(n, size_ - pos_);
    std::string_view out(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return out;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

inline const std::vector<std::string>& words(Protocol p, Side from) {
  static const std::vector<std::string> smtp_client{"EHLO x\r\n",
                                                    "STARTTLS\r\n",
                                                    "AUTH PLAIN\r\n",
                                                    "AUTH PLAIN AGEAYg==\r\n",
                                                    "DATA\r\n",
                                                    ".\r\n",
                                                    "..\r\n",
                                                    "BDAT 5\r\n",
                                                    "BDAT 3 LAST\r\n",
                                                    "RSET\r\n",
                                                    "QUIT\r\n",
                                                    "MAIL FROM:<a@b>\r\n",
                                                    "\r\n",
                                                    "x\r\n",
                                                    "\x16\x03\x01\x00\x05\x01"};
  static const std::vector<std::string> smtp_server{
      "220 hi\r\n",  "220-hi\r\n", "250-x\r\n",         "250 STARTTLS\r\n", "250-STARTTLS\r\n",
      "250 ok\r\n",  "354 go\r\n", "334 \r\n",          "235 ok\r\n",       "454 no\r\n",
      "421 bye\r\n", "554 no\r\n", "250 AUTH LOGIN\r\n"};
  static const std::vector<std::string> imap_client{"a STARTTLS\r\n",
                                                    "a1 LOGIN u p\r\n",
                                                    "a2 LOGIN {5}\r\n",
                                                    "a3 LOGIN {5+}\r\n",
                                                    "hello",
                                                    "b COMPRESS DEFLATE\r\n",
                                                    "c CAPABILITY\r\n",
                                                    "d APPEND INBOX {12}\r\n",
                                                    "b STARTTLS\r\n",
                                                    "e APPEND INBOX {99999999999999999999}\r\n",
                                                    " {3+}\r\n",
                                                    "\r\n",
                                                    "x AUTHENTICATE PLAIN\r\n"};
  static const std::vector<std::string> imap_server{
      "* OK ready\r\n",
      "* PREAUTH hi\r\n",
      "* BYE\r\n",
      "+ go\r\n",
      "a OK go\r\n",
      "a NO no\r\n",
      "mailtap1 OK go\r\n",
      "mailtap1 BAD x\r\n",
      "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED COMPRESS=DEFLATE\r\n",
      "* OK [CAPABILITY IMAP4rev1] x\r\n",
      "* 1 FETCH (BODY[] {5}\r\n",
      "a2 NO\r\n",
      ")\r\n"};
  static const std::vector<std::string> pop3_client{
      "STLS\r\n",    "CAPA\r\n",       "USER a\r\n", "PASS b\r\n", "RETR 1\r\n",   "LIST\r\n",
      "TOP 1 0\r\n", "AUTH PLAIN\r\n", "AUTH\r\n",   "QUIT\r\n",   "APOP a b\r\n", "x\r\n"};
  static const std::vector<std::string> pop3_server{
      "+OK hi\r\n", "+OK\r\n", "-ERR\r\n",   "+ \r\n",   ".\r\n",
      "STLS\r\n",   "..x\r\n", "+OK go\r\n", "USER\r\n", "1 2\r\n"};
  switch (p) {
    case Protocol::smtp:
      return from == Side::client ? smtp_client : smtp_server;
    case Protocol::imap:
      return from == Side::client ? imap_client : imap_server;
    case Protocol::pop3:
      return from == Side::client ? pop3_client : pop3_server;
  }
  return smtp_client;
}

// Some bytes from `from`: raw input bytes, or a few protocol words, as the input chooses.
inline std::string next_bytes(FuzzInput& in, Protocol p, Side from) {
  uint8_t how = in.byte();
  if (how & 0x80) return std::string(in.take(how & 0x7f));
  std::string out;
  const auto& w = words(p, from);
  for (int n = 0; n <= (how & 3); ++n) out += w[in.byte() % w.size()];
  return out;
}

}  // namespace mailtap::fuzz
