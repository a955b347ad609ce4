// IMAP server responses (RFC 3501 7, RFC 9051 7) parsed from a logical line and explained on their
// own: continuation requests ("+ ..."), status responses (OK/NO/BAD/PREAUTH/BYE, tagged or not)
// with their response codes, and untagged data (CAPABILITY, LIST, STATUS, SEARCH, ESEARCH, FLAGS,
// EXISTS, RECENT, EXPUNGE, FETCH, ID, ENABLED, NAMESPACE ...). What depends on the session (which
// command a response answers, latency, mailbox state) is added by the session decoder.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mailtap/decode/imap_syntax.h"

namespace mailtap::decode::imap {

struct Response {
  enum class Kind { continuation, untagged, tagged };
  Kind kind = Kind::untagged;
  std::string tag;                 // tagged: the command's tag
  std::string status;              // OK, NO, BAD, PREAUTH, BYE (upper-case); empty for data
  std::optional<uint64_t> number;  // "* 3 EXISTS", "* 1 FETCH (...)"
  std::string type;                // upper-case: "OK", "CAPABILITY", "EXISTS", "FETCH", "LIST"...
  std::string code;                // response code name, upper-case ("UIDVALIDITY"); may be empty
  std::string code_args;           // the code's arguments as sent ("1594507084")
  std::string text;                // human-readable text; for a continuation, all after "+ "
  std::string code_note;           // the response code in plain language (set by describe)
  std::vector<Value> values;       // untagged data after the type
  std::vector<std::string> capabilities;  // from CAPABILITY data or a [CAPABILITY ...] code
  std::string syntax_error;
  nlohmann::json decoded;          // {"kind", "tag"|"status"|"type", "code", "text", ...}
  std::string note;                // "* 3 EXISTS: the mailbox holds 3 messages"
};

// Empty when the line is not shaped like a response at all ("+", "*" or a tag first).
std::optional<Response> parse_response(const LogicalLine& line);
void describe_response(Response& response, const LogicalLine& line);

// Plain language for a response code ("TRYCREATE" -> "the mailbox does not exist; create it
// first"); empty when unknown.
std::string describe_response_code(std::string_view code, std::string_view args);

// For notes on literal content arriving from the server: the FETCH item the literal answers
// ("BODY[]", "RFC822.HEADER", "BINARY[1]") judged from the end of the line that announced it;
// empty when it is not a message part.
std::string fetch_item_before_literal(std::string_view line);

}  // namespace mailtap::decode::imap
