// IMAP client commands (RFC 3501 6, RFC 9051 6 and the common extensions) parsed from a logical
// line and explained: the tag, the command, its arguments, the fields a reader cares about
// (user, mailbox, sequence set, items...), a plain-language note, and where its secrets sit on the
// wire so the raw text can be redacted.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mailtap/decode/imap_syntax.h"
#include "mailtap/decode/session_decoder.h"

namespace mailtap::decode::imap {

// A secret on the wire: the span of a value inside a segment, or (is_literal) a whole literal.
struct Secret {
  bool is_literal = false;
  size_t literal = 0;
  Span span;
  std::string value;  // the secret itself (a literal's head)
};

struct Command {
  std::string tag;
  std::string name;  // upper-case; "UID FETCH" etc. for UID commands
  std::vector<Value> args;
  std::string syntax_error;  // arguments that did not parse (what did is in args)
  nlohmann::json decoded;    // {"tag","command","args", ...command-specific fields}
  std::string note;          // "a1 LOGIN: the client logs in as alice (password redacted)"
  std::vector<Secret> secrets;
};

// Parses a logical line sent by the client as a tagged command: "tag SP command [SP args]".
// Also works on a logical line still waiting for a literal (its last literal then has no content).
// Empty when the line does not start with a tag and a command name.
std::optional<Command> parse_command(const LogicalLine& line);

// Fills cmd.decoded, cmd.note and cmd.secrets. Secrets appear in decoded as show_secret() gives
// them (redaction tokens unless options.reveal_secrets).
void describe_command(Command& cmd, const LogicalLine& line, const DecodeOptions& options);

// What the literal with this index carries, judged from the command's start (known as soon as the
// line announcing the literal has arrived): a secret (LOGIN password), a message (APPEND) or a
// plain value (a mailbox name, a search string...).
enum class LiteralRole { value, secret, message };
LiteralRole client_literal_role(const Command& cmd, size_t literal_index);

// "message 3", "messages 1:5", "all messages": a sequence set as words.
std::string describe_sequence_set(std::string_view set, bool uid);

}  // namespace mailtap::decode::imap
