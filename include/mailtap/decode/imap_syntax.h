// IMAP syntax (RFC 3501 9, RFC 9051 9) as a transcript decoder needs it: a command or response is a
// "logical line", i.e. one or more wire lines joined by literals ({n}, {n+}, {n-}, ~{n}). The reader
// turns a logical line into values (atoms, quoted strings, literals, parenthesised lists) and
// remembers where each one sat on the wire, so a password can be replaced in the raw text.
// Literal content is never kept whole: a short head (for values such as a user name or a mailbox)
// and, for the first few literals of a line, a running summary (size, SHA-256, message headers).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "mailtap/decode/message_summary.h"

namespace mailtap::decode::imap {

// {n} waits for the server's "+" (synchronizing); {n+}/{n-} do not (LITERAL+/LITERAL-, RFC 7888);
// ~{n} is a binary literal (RFC 3516), synchronizing unless written ~{n+}.
enum class LiteralKind { sync, non_sync, binary };

struct LiteralMarker {
  uint64_t size = 0;
  LiteralKind kind = LiteralKind::sync;
  bool synchronizing = true;
  size_t offset = 0;  // where the marker ('{' or '~') starts in the line
};

// Largest literal size taken as real. A bigger number is an absurd literal (RFC 3501 allows any
// number32, but nothing sane sends more than this); it is reported and not waited for.
inline constexpr uint64_t kMaxLiteralSize = uint64_t{1} << 40;

// The marker a line (without its CRLF) ends with, if any. `error` receives a reason when the line
// ends with something shaped like a marker that is not a valid one (e.g. {99999999999999999999}).
std::optional<LiteralMarker> literal_marker(std::string_view line, std::string* error = nullptr);

// What a decoder keeps of one literal's content.
struct Literal {
  static constexpr size_t kHeadLimit = 4096;

  LiteralMarker marker;
  uint64_t received = 0;
  std::string head;                               // the first kHeadLimit bytes
  std::unique_ptr<MessageSummarizer> summarizer;  // only for the first few literals of a line

  bool complete() const { return received >= marker.size; }
  bool head_is_whole() const { return received <= kHeadLimit && complete(); }
  void absorb(std::string_view bytes);
};

// A command or response as it arrived: wire lines without their CRLF, and the literal that
// follows each line but the last (literals[i] follows segments[i]).
struct LogicalLine {
  std::vector<std::string> segments;
  std::vector<Literal> literals;
  bool truncated = false;  // a segment was clipped or segments were dropped (bounded memory)
};

// Where a value sat on the wire: a byte range inside one segment (for a literal value, the
// literal's index instead).
struct Span {
  size_t segment = 0;
  size_t begin = 0;
  size_t end = 0;
};

struct Value {
  enum class Kind { atom, quoted, literal, list };
  static constexpr size_t kNoLiteral = static_cast<size_t>(-1);

  Kind kind = Kind::atom;
  std::string text;              // atom or unescaped quoted string; literal: its head
  size_t literal = kNoLiteral;   // index into LogicalLine::literals
  std::vector<Value> items;      // list
  Span span;

  bool is_atom(std::string_view upper_name) const;  // case-insensitive atom comparison
  bool is_nil() const { return is_atom("NIL"); }
  bool is_string() const { return kind == Kind::quoted || kind == Kind::literal; }
  // Atom or string content as text (a literal's head).
  const std::string& str() const { return text; }
  std::optional<uint64_t> number() const;
};

// Reads values from a logical line, one segment after another.
class Reader {
 public:
  static constexpr size_t kMaxDepth = 32;
  static constexpr size_t kMaxValues = 20000;

  explicit Reader(const LogicalLine& line);

  bool at_end() const;
  // True when the current segment has no more bytes (the next value, if any, follows a literal).
  bool at_segment_end() const;
  char peek() const;  // '\0' at the end
  // Skips one or more spaces; false when there was none.
  bool skip_spaces();
  // An atom (any run of non-special characters; "[...]" sections kept inside, e.g.
  // BODY[HEADER.FIELDS (FROM TO)]<0.100>), a quoted string, a literal or a list.
  std::optional<Value> read_value();
  // An atom only: tag, command name, status. Stops at space, '(' , ')' and '['.
  std::optional<std::string> read_word();
  // The raw rest of the current segment (response text after the status or code).
  std::string read_rest_of_segment();
  // A bracketed response code "[NAME args]" as raw text without the brackets.
  std::optional<std::string> read_bracketed();

  const std::string& error() const { return error_; }
  Span position() const { return {segment_, offset_, offset_}; }

 private:
  std::optional<Value> read_list(size_t depth);
  std::optional<Value> read_value_at(size_t depth);
  std::optional<Value> read_quoted();
  std::optional<Value> read_literal();
  std::optional<Value> read_atom();
  std::string_view segment() const;
  bool fail(std::string message);

  const LogicalLine& line_;
  size_t segment_ = 0;
  size_t offset_ = 0;
  size_t values_ = 0;
  std::string error_;
};

// All values up to the end of the logical line (stops at the first syntax error, kept in `error`).
std::vector<Value> read_all(const LogicalLine& line, std::string* error = nullptr);

// JSON for a value: atoms and strings as strings, NIL as null, lists as arrays, a literal as its
// text when short and printable, otherwise {"literal": size, "sha256": ...}.
nlohmann::json to_json(const Value& value, const LogicalLine& line);
// A short readable form for notes: atoms and strings as written (quoted when they hold spaces),
// lists in parentheses, literals as {size}; clipped to about `max` bytes.
std::string to_text(const Value& value, size_t max = 120);

// A mailbox name as people read it: modified UTF-7 (RFC 3501 5.1.3, "&AOQ-" for "ä") decoded to
// UTF-8. IMAP4rev2 and UTF8=ACCEPT sessions send UTF-8 directly, which passes through unchanged; a
// name that is not valid modified UTF-7 is returned as it is.
std::string decode_mailbox_name(std::string_view name);

}  // namespace mailtap::decode::imap
