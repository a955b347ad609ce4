#include "mailtap/decode/pop3_stream.h"

#include <algorithm>

#include "mailtap/core/dot_stuffing.h"

namespace mailtap::decode::pop3 {

std::optional<LineReader::Line> LineReader::read(std::string_view bytes, size_t& pos) {
  size_t start = pos;
  size_t lf = bytes.find('\n', pos);
  size_t end = lf == std::string_view::npos ? bytes.size() : lf;
  std::string_view part = bytes.substr(pos, end - pos);
  uint64_t offset = partial_size_;
  if (partial_.size() < kMaxLine) partial_.append(part.substr(0, kMaxLine - partial_.size()));
  partial_size_ += part.size();
  if (lf == std::string_view::npos) {
    pos = bytes.size();
    return std::nullopt;
  }
  pos = lf + 1;
  Line line;
  line.truncated = partial_size_ > kMaxLine;
  line.text = std::move(partial_);
  if (!line.truncated && !line.text.empty() && line.text.back() == '\r') line.text.pop_back();
  line.event_begin = start;
  line.event_end = pos;
  line.offset = offset;
  partial_.clear();
  partial_size_ = 0;
  return line;
}

void LineReader::reset() {
  partial_.clear();
  partial_size_ = 0;
}

BodyReader::Result BodyReader::read(std::string_view bytes, size_t& pos, MessageSummarizer* sink) {
  Result r;
  r.body_begin = pos;
  // Body bytes as they are on the wire; `stuffed`: they start with a line's first '.', which is
  // not content (RFC 1939 3). The summary gets the content, so it need not look for dots again.
  auto emit = [&](std::string_view data, bool stuffed = false) {
    if (sink != nullptr) sink->feed_unstuffed(stuffed ? data.substr(1) : data, data.size());
    wire_size_ += data.size();
  };
  // Where a dot held at a line start sits in this event (npos: held from an earlier event).
  size_t dot = std::string_view::npos;
  size_t run = pos;  // start of the bytes not yet given to the sink
  size_t i = pos;
  const char* const data = bytes.data();
  const size_t size = bytes.size();
  while (i < size) {
    if (!held_.empty()) {
      const char c = data[i];
      held_ += c;
      ++i;
      run = i;  // held bytes are emitted (or dropped as the terminator) from held_
      if (held_ == ".\r") continue;
      if (held_ == ".\r\n" || held_ == ".\n") {
        held_.clear();
        at_line_start_ = true;
        r.terminated = true;
        r.term_end = i;
        r.body_end = dot == std::string_view::npos ? r.body_begin : dot;
        pos = i;
        return r;
      }
      // A stuffed dot, or a line that merely starts with one: body after all.
      std::string held = std::move(held_);
      held_.clear();
      emit(held, true);
      at_line_start_ = c == '\n';
      dot = std::string_view::npos;
      run = i;
      continue;
    }
    if (at_line_start_ && data[i] == '.') {
      emit(bytes.substr(run, i - run));
      held_ = ".";
      dot = i;
      ++i;
      run = i;
      continue;
    }
    // Only a '.' at a line start matters: go straight to the next one (the body of a message is
    // nearly all the bytes this reader sees).
    i = skip_to_line_start_dot(bytes, i, at_line_start_);
  }
  emit(bytes.substr(run, i - run));
  pos = i;
  r.body_end = i;
  return r;
}

void BodyReader::reset() {
  at_line_start_ = true;
  held_.clear();
  wire_size_ = 0;
}

}  // namespace mailtap::decode::pop3
