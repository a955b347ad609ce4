// A mail message seen in pieces (SMTP DATA/BDAT, IMAP FETCH/APPEND literals, POP3 RETR/TOP), summed
// up without keeping it: size, SHA-256 of the content and the main headers (From, To, Cc, Subject,
// Date, Message-ID) parsed from the first 64 KiB. Pieces may be split anywhere, even inside a CRLF
// or a header. For SMTP DATA and POP3 bodies the wire form is dot-stuffed (RFC 5321 4.5.2,
// RFC 1939 3): with `dot_stuffed` a leading "." on each line is removed before hashing.
// Memory is bounded (a 64 KiB header window at most), whatever the message size.
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace mailtap::decode {

class MessageSummarizer {
 public:
  static constexpr size_t kHeaderWindow = 64 * 1024;

  explicit MessageSummarizer(bool dot_stuffed);
  ~MessageSummarizer();
  MessageSummarizer(const MessageSummarizer&) = delete;
  MessageSummarizer& operator=(const MessageSummarizer&) = delete;

  void feed(std::string_view wire_bytes);
  // For a reader that already took the stuffing dots out while looking for the terminator (POP3):
  // `content` and the number of wire bytes it came from, so the body is scanned once. A message
  // is fed through one of the two, not both.
  void feed_unstuffed(std::string_view content, uint64_t wire_bytes);

  // Content bytes (after dot-unstuffing) and wire bytes seen so far.
  uint64_t size() const { return size_; }
  uint64_t wire_size() const { return wire_size_; }

  // {"size", "wire_size" (only when dot_stuffed), "sha256" (hex of the content),
  //  "headers": {"from","to","cc","subject","date","message_id"} (those present; RFC 2047
  //  encoded words in Subject/From/To decoded), "header_bytes" (length of the header block, when
  //  its end was seen in the window)}. Can be called more than once; feeding after it is allowed.
  nlohmann::json summary() const;

  // A short line for notes: "1234 bytes, Subject: Hello, From: a@example.com".
  std::string describe() const;

  // Starts over for a new message.
  void reset();

 private:
  void absorb_content(std::string_view content);
  nlohmann::json parse_headers() const;

  bool dot_stuffed_;
  bool at_line_start_ = true;  // dot-unstuffing state across pieces
  uint64_t size_ = 0;
  uint64_t wire_size_ = 0;
  struct FreeMdCtx {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  };
  std::unique_ptr<EVP_MD_CTX, FreeMdCtx> sha_;
  std::string header_window_;     // the first kHeaderWindow content bytes (or up to the blank line)
  bool header_done_ = false;      // blank line seen or window full
  bool header_complete_ = false;  // the blank line ending the header block was seen
};

}  // namespace mailtap::decode
