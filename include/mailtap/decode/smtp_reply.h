// SMTP replies (RFC 5321 4.2): lines "250-..." continue a reply, "250 ..." ends it. The assembler
// takes one line at a time (lines of one reply may arrive in separate events) and hands back the
// complete reply on its last line. Bounded: at most kMaxLines line texts of kMaxLineText bytes are
// kept per reply, whatever the server sends.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace mailtap::decode {

struct SmtpReply {
  int code = -1;                   // the first line's code; -1 when it had none
  std::vector<std::string> lines;  // each line's text after "ddd-" / "ddd " (valid UTF-8, clipped)
  size_t line_count = 0;           // lines received, including those not kept
  bool malformed = false;          // a line without a 3-digit code and a '-'/' ' separator
  bool mixed_codes = false;        // lines of one reply with different codes
  std::optional<std::string> enhanced;  // RFC 3463 code from the first line, e.g. "2.1.0"
};

class SmtpReplyAssembler {
 public:
  static constexpr size_t kMaxLines = 128;
  static constexpr size_t kMaxLineText = 1024;

  // `line` without its CRLF. Returns the reply when this line completes it. A malformed line ends
  // the reply it is part of (so that a broken server cannot hold the assembler open forever).
  std::optional<SmtpReply> feed(std::string_view line);
  bool in_progress() const { return active_; }
  // The code of the reply being assembled (after its first line), else -1.
  int pending_code() const { return active_ ? current_.code : -1; }

 private:
  SmtpReply current_;
  bool active_ = false;
};

// The EHLO reply's first line is "domain greeting"; each further line an extension keyword with
// parameters. Returns {"domain", "greeting", "capabilities": {"SIZE": 10240000, "AUTH": ["PLAIN",
// "LOGIN"], "STARTTLS": true, "AUTH=": [...] (the legacy form), ...}, "keywords": [in order]}.
nlohmann::json parse_ehlo_capabilities(const SmtpReply& reply);

// Plain language for one capability keyword ("PIPELINING" -> "commands may be sent in batches").
std::string describe_capability(std::string_view keyword);

}  // namespace mailtap::decode
