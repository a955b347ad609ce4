// Test support for the IMAP and POP3 session decoders: a harness that builds transcript events the
// way the session layer does (transcript::make_data, then encode_event), runs the decoder on them
// and keeps the annotated JSON lines; and a framer that cuts a direction's wire bytes into the
// frames the session layer would produce, so tests can re-split them anywhere.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "mailtap/decode/session_decoder.h"
#include "mailtap/transcript/event.h"
#include "mailtap/transcript/transcript_writer.h"

namespace mailtap::testing {

using nlohmann::json;
using transcript::FrameKind;
using transcript::Party;

struct Frame {
  FrameKind kind;
  std::string bytes;
};

class DecoderHarness {
 public:
  explicit DecoderHarness(std::unique_ptr<decode::SessionDecoder> decoder)
      : decoder_(std::move(decoder)) {}

  Microseconds now = 1'700'000'000'000'000;

  // One data event; the clock advances by `advance_us` first. Returns the annotated line.
  json& data(Party from, Party to, FrameKind frame, std::string bytes, bool over_tls = false,
             Microseconds advance_us = 100) {
    now += advance_us;
    auto event = transcript::make_data(now, from, to, frame, over_tls, std::move(bytes));
    return run(event);
  }
  json& client(std::string bytes, bool tls = false, Microseconds advance_us = 100) {
    return data(Party::client, Party::server, FrameKind::line, std::move(bytes), tls, advance_us);
  }
  json& server(std::string bytes, bool tls = false, Microseconds advance_us = 100) {
    return data(Party::server, Party::client, FrameKind::line, std::move(bytes), tls, advance_us);
  }
  json& client_literal(std::string bytes, bool tls = false) {
    return data(Party::client, Party::server, FrameKind::literal, std::move(bytes), tls);
  }
  json& server_literal(std::string bytes, bool tls = false) {
    return data(Party::server, Party::client, FrameKind::literal, std::move(bytes), tls);
  }
  json& server_body(std::string bytes, bool tls = false) {
    return data(Party::server, Party::client, FrameKind::body, std::move(bytes), tls);
  }
  json& event(transcript::EventType type, json fields) {
    now += 10;
    auto e = transcript::make_event(now, type, std::move(fields));
    return run(e);
  }

  // All lines written so far.
  const std::vector<json>& lines() const { return lines_; }
  json& last() { return lines_.back(); }

  // The raw text of every data line from `from`, concatenated as the transcript shows it (after
  // redaction).
  std::string shown_text(Party from) const {
    std::string out;
    for (const auto& l : lines_) {
      if (l.value("type", "") != "data" || l.value("from", "") != transcript::to_string(from)) {
        continue;
      }
      out += transcript::decode_bytes(l);
    }
    return out;
  }

  // Every decoded object (parts flattened), in order.
  std::vector<json> decoded() const {
    std::vector<json> out;
    for (const auto& l : lines_) {
      if (!l.contains("decoded")) continue;
      const json& d = l["decoded"];
      if (d.contains("parts")) {
        for (const auto& p : d["parts"]) out.push_back(p);
      } else {
        out.push_back(d);
      }
    }
    return out;
  }

  // Every warning code, in order.
  std::vector<std::string> warning_codes() const {
    std::vector<std::string> out;
    for (const auto& l : lines_) {
      if (!l.contains("warnings")) continue;
      for (const auto& w : l["warnings"]) out.push_back(w.value("code", ""));
    }
    return out;
  }
  bool warned(std::string_view code) const {
    for (const auto& c : warning_codes()) {
      if (c == code) return true;
    }
    return false;
  }

 private:
  json& run(const transcript::Event& event) {
    json out = transcript::encode_event(event, ++seq_);
    decoder_->annotate(event, out);
    // What the writer does next: it must be dumpable (valid UTF-8 everywhere).
    (void)out.dump();
    lines_.push_back(std::move(out));
    return lines_.back();
  }

  std::unique_ptr<decode::SessionDecoder> decoder_;
  uint64_t seq_ = 0;
  std::vector<json> lines_;
};

// Cuts IMAP wire bytes of one direction into frames as the session layer does: one `line` frame
// per line, and after a line ending in {n}, {n+} or ~{n} `literal` frames for the next n bytes.
// Keeps its state between calls, so a literal may be fed after the line that announced it.
class ImapFramer {
 public:
  std::vector<Frame> feed(std::string_view wire) {
    std::vector<Frame> frames;
    size_t i = 0;
    while (i < wire.size()) {
      if (literal_left_ > 0) {
        size_t n = std::min(literal_left_, wire.size() - i);
        frames.push_back({FrameKind::literal, std::string(wire.substr(i, n))});
        literal_left_ -= n;
        i += n;
        continue;
      }
      size_t lf = wire.find('\n', i);
      size_t end = lf == std::string_view::npos ? wire.size() : lf + 1;
      std::string line(wire.substr(i, end - i));
      frames.push_back({FrameKind::line, line});
      i = end;
      std::string_view bare = line;
      while (!bare.empty() && (bare.back() == '\n' || bare.back() == '\r')) bare.remove_suffix(1);
      if (bare.empty() || bare.back() != '}') continue;
      size_t open = bare.rfind('{');
      if (open == std::string_view::npos) continue;
      std::string digits(bare.substr(open + 1, bare.size() - open - 2));
      if (!digits.empty() && (digits.back() == '+' || digits.back() == '-')) digits.pop_back();
      if (digits.empty() || digits.size() > 9 ||
          digits.find_first_not_of("0123456789") != std::string::npos) {
        continue;
      }
      literal_left_ = std::stoul(digits);
    }
    return frames;
  }

 private:
  size_t literal_left_ = 0;
};

inline std::vector<Frame> imap_frames(std::string_view wire) { return ImapFramer().feed(wire); }

// Every frame cut in two at `cut` (relative to the frame's start, when inside it): what a session
// layer that delivers partial lines or literal pieces would produce.
inline std::vector<Frame> split_frames(const std::vector<Frame>& frames, size_t cut) {
  std::vector<Frame> out;
  for (const auto& f : frames) {
    if (cut > 0 && cut < f.bytes.size()) {
      out.push_back({f.kind, f.bytes.substr(0, cut)});
      out.push_back({f.kind, f.bytes.substr(cut)});
    } else {
      out.push_back(f);
    }
  }
  return out;
}

// Every frame cut into one-byte pieces.
inline std::vector<Frame> byte_frames(const std::vector<Frame>& frames) {
  std::vector<Frame> out;
  for (const auto& f : frames) {
    for (char c : f.bytes) out.push_back({f.kind, std::string(1, c)});
  }
  return out;
}

}  // namespace mailtap::testing
