#include "mailtap/decode/imap_stream.h"

#include <algorithm>

namespace mailtap::decode::imap {
namespace {

// Enough of a long line's end to find a literal marker in it ("~{1099511627776+}").
constexpr size_t kTailKeep = 64;
// Largest line buffer and segment list carried over from one logical line to the next.
constexpr size_t kRecycleLine = 1024;
constexpr size_t kRecycleSegments = 4;

}  // namespace

void Stream::start_logical_line_if_needed() {
  if (partial_size_ != 0 || !line_complete_) return;
  // The finished line's first segment lends its buffer to the line now starting, and the segment
  // list keeps its room: no allocation per ordinary line. Only small ones are kept, so an idle
  // session holds no more than it did (the finished line itself).
  if (!line_.segments.empty() && partial_.capacity() < line_.segments.front().capacity() &&
      line_.segments.front().capacity() <= kRecycleLine) {
    partial_.swap(line_.segments.front());
    partial_.clear();
  }
  if (line_.segments.capacity() > kRecycleSegments) {
    std::vector<std::string>().swap(line_.segments);
  } else {
    line_.segments.clear();
  }
  if (!line_.literals.empty()) std::vector<Literal>().swap(line_.literals);
  line_.truncated = false;
  segment_count_ = 0;
  line_complete_ = false;
}

void Stream::feed(std::string_view bytes, const PieceHandler& on_piece) {
  size_t i = 0;
  while (i < bytes.size()) {
    if (literal_remaining_ > 0) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(literal_remaining_, bytes.size() - i));
      Piece piece;
      piece.kind = Piece::Kind::literal;
      piece.event_begin = i;
      piece.event_end = i + n;
      piece.segment = literal_index_;
      piece.offset = literal_offset_;
      piece.stored = literal_index_ < line_.literals.size();
      if (piece.stored) line_.literals[literal_index_].absorb(bytes.substr(i, n));
      literal_remaining_ -= n;
      literal_offset_ += n;
      piece.literal_complete = literal_remaining_ == 0;
      i += n;
      on_piece(piece);
      continue;
    }
    start_logical_line_if_needed();
    size_t lf = bytes.find('\n', i);
    size_t end = lf == std::string_view::npos ? bytes.size() : lf;
    std::string_view part = bytes.substr(i, end - i);
    size_t offset = partial_size_;
    if (partial_.size() < limits_.max_line) {
      partial_.append(part.substr(0, limits_.max_line - partial_.size()));
    }
    if (partial_size_ + part.size() > limits_.max_line) {
      tail_.append(part);
      if (tail_.size() > kTailKeep) tail_.erase(0, tail_.size() - kTailKeep);
    }
    partial_size_ += part.size();
    if (lf == std::string_view::npos) {
      Piece piece;
      piece.kind = Piece::Kind::partial_line;
      piece.event_begin = i;
      piece.event_end = bytes.size();
      piece.segment = segment_count_;
      piece.offset = offset;
      i = bytes.size();
      on_piece(piece);
      break;
    }
    size_t begin = i;
    i = lf + 1;
    complete_line(begin, i, on_piece);
  }
}

void Stream::complete_line(size_t event_begin, size_t event_end, const PieceHandler& on_piece) {
  Piece piece;
  piece.kind = Piece::Kind::line;
  piece.event_begin = event_begin;
  piece.event_end = event_end;
  piece.segment = segment_count_;
  // The bytes of this line that arrived in earlier events.
  piece.offset = partial_size_ - std::min<size_t>(partial_size_, event_end - event_begin - 1);

  bool truncated = partial_size_ > limits_.max_line;
  std::string segment = std::move(partial_);
  std::string tail = truncated ? std::move(tail_) : std::string();
  std::string& last = truncated ? tail : segment;
  if (!last.empty() && last.back() == '\r') last.pop_back();
  partial_.clear();
  tail_.clear();
  partial_size_ = 0;

  auto marker = literal_marker(last, &piece.marker_error);
  if (truncated) {
    // Keep the head of a long line; if its end announces a literal, keep that marker too so the
    // literal is still read as one.
    line_.truncated = true;
    if (marker) {
      segment += ' ';
      segment += tail.substr(marker->offset);
      marker->offset = segment.size() - (tail.size() - marker->offset);
    }
  }

  size_t index = segment_count_++;
  piece.stored = index < limits_.max_segments;
  if (piece.stored) {
    line_.segments.push_back(std::move(segment));
  } else {
    line_.truncated = true;
  }
  if (marker) {
    if (piece.stored) {
      Literal literal;
      literal.marker = *marker;
      if (index < limits_.summarized_literals) {
        literal.summarizer = std::make_unique<MessageSummarizer>(false);
      }
      line_.literals.push_back(std::move(literal));
    }
    literal_remaining_ = marker->size;
    literal_offset_ = 0;
    literal_index_ = index;
  }
  piece.logical_line_complete = !marker.has_value();
  line_complete_ = piece.logical_line_complete;
  on_piece(piece);
}

void Stream::cancel_literal() {
  if (literal_remaining_ == 0 || literal_offset_ != 0) return;
  literal_remaining_ = 0;
  line_complete_ = true;
}

void Stream::reset() {
  line_ = LogicalLine{};
  line_complete_ = true;
  segment_count_ = 0;
  partial_.clear();
  partial_size_ = 0;
  tail_.clear();
  literal_remaining_ = 0;
  literal_offset_ = 0;
  literal_index_ = 0;
}

}  // namespace mailtap::decode::imap
