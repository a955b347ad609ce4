// One direction of an IMAP conversation, reassembled into logical lines (RFC 3501 4.3, 7.5): wire
// lines joined by the literals they announce. Bytes are taken as a stream and literals counted,
// as the peer counts them: the session layer's frame boundaries may fall anywhere (a line in
// several events, a literal in one-byte pieces) and the result does not change. A literal's bytes
// are data, never a line, whatever they read like.
//
// Memory is bounded: a line is kept up to Limits::max_line bytes (the rest counted, not kept), at
// most Limits::max_segments lines per logical line, and literal content only as a head and a
// running summary (imap::Literal).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include "mailtap/decode/imap_syntax.h"

namespace mailtap::decode::imap {

class Stream {
 public:
  struct Limits {
    size_t max_line = 64 * 1024;
    size_t max_segments = 256;
    size_t summarized_literals = 8;  // literals per logical line that get a size/SHA-256 summary
  };

  // A part of one event's bytes, in order. An event yields several pieces when it holds the end of
  // a line and a literal, or several coalesced lines.
  struct Piece {
    enum class Kind {
      line,          // a wire line completed (stored as segments[segment], without CRLF)
      partial_line,  // bytes of a line whose end has not arrived yet
      literal,       // literal content (literals[segment])
    };
    Kind kind = Kind::line;
    size_t event_begin = 0;  // byte range of the event this piece covers
    size_t event_end = 0;
    size_t segment = 0;   // index of the segment (line kinds) or literal (literal kind)
    uint64_t offset = 0;  // where event_begin falls inside that line or literal
    bool logical_line_complete = false;  // line: no literal follows; the logical line is whole
    bool literal_complete = false;       // literal: its last byte is in this piece
    bool stored = true;                  // false when beyond max_segments (not kept)
    std::string marker_error;            // line: why a literal-shaped ending was refused
  };
  // What feed() calls for each piece: a reference to any callable (a lambda, a std::function),
  // which must outlive the call. Unlike std::function it never allocates (feed() runs per event
  // and its handler captures more than std::function keeps inline).
  class PieceHandler {
   public:
    template <typename F,
              typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, PieceHandler>>>
    PieceHandler(F&& f)  // NOLINT(google-explicit-constructor): passed like a std::function
        : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
          call_([](void* object, const Piece& piece) {
            (*static_cast<std::remove_reference_t<F>*>(object))(piece);
          }) {}
    void operator()(const Piece& piece) const { call_(object_, piece); }

   private:
    void* object_;
    void (*call_)(void*, const Piece&);
  };

  Stream() = default;
  explicit Stream(Limits limits) : limits_(limits) {}

  // Takes one event's bytes; calls `on_piece` for each piece, in order. current() is up to date
  // when the handler runs. A new logical line starts with the first line after a complete one.
  void feed(std::string_view bytes, const PieceHandler& on_piece);

  const LogicalLine& current() const { return line_; }
  LogicalLine& current() { return line_; }
  bool in_literal() const { return literal_remaining_ > 0; }
  uint64_t literal_remaining() const { return literal_remaining_; }
  // Bytes of the line in progress held so far (0 between lines).
  size_t partial_size() const { return partial_size_; }
  std::string_view partial() const { return partial_; }
  // Whether a logical line is in progress (a line ended with a literal marker).
  bool mid_logical_line() const { return !line_complete_ && segment_count_ > 0; }

  // The peer refused a synchronizing literal before it was sent (a tagged NO/BAD instead of "+"):
  // the command ends without it, so the next bytes are a new line, not literal content.
  void cancel_literal();
  // Forgets everything in progress (e.g. when TLS starts on the leg).
  void reset();

 private:
  void complete_line(size_t event_begin, size_t event_end, const PieceHandler& on_piece);
  void start_logical_line_if_needed();

  Limits limits_;
  LogicalLine line_;
  bool line_complete_ = true;  // the last logical line ended: the next line starts a new one
  size_t segment_count_ = 0;   // segments of the logical line, stored or not
  std::string partial_;        // the line in progress, up to limits_.max_line bytes
  size_t partial_size_ = 0;    // its real size
  std::string tail_;           // its last bytes when longer than the limit (to find a marker)
  uint64_t literal_remaining_ = 0;
  uint64_t literal_offset_ = 0;
  size_t literal_index_ = 0;
};

}  // namespace mailtap::decode::imap
