// Test harness for the SMTP decoder: builds events as the session layer does (transcript::make_data),
// encodes them as the writer does (transcript::encode_event) and lets the decoder annotate them.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "mailtap/decode/smtp_decoder.h"
#include "mailtap/transcript/event.h"
#include "mailtap/transcript/transcript_writer.h"

namespace mailtap::decode::testing {

using transcript::FrameKind;
using transcript::Party;

class SmtpSession {
 public:
  explicit SmtpSession(DecodeOptions options = {})
      : decoder_(make_smtp_decoder(options)) {}

  // A data event at the current time; time advances by `step_us` before it.
  nlohmann::json data(Party from, Party to, FrameKind frame, const std::string& bytes, bool tls) {
    now_ += step_us;
    transcript::Event e = transcript::make_data(now_, from, to, frame, tls, bytes);
    return annotate(e);
  }
  nlohmann::json annotate(const transcript::Event& e) {
    nlohmann::json out = transcript::encode_event(e, seq_++);
    decoder_->annotate(e, out);
    // Whatever the decoder wrote must be writable as a transcript line.
    (void)out.dump();
    return out;
  }

  nlohmann::json client(const std::string& line, bool tls = false) {
    return data(Party::client, Party::server, FrameKind::line, line, tls);
  }
  nlohmann::json server(const std::string& line, bool tls = false) {
    return data(Party::server, Party::client, FrameKind::line, line, tls);
  }
  nlohmann::json body(const std::string& bytes, bool tls = false) {
    return data(Party::client, Party::server, FrameKind::body, bytes, tls);
  }
  nlohmann::json chunk(const std::string& bytes, bool tls = false) {
    return data(Party::client, Party::server, FrameKind::chunk, bytes, tls);
  }
  nlohmann::json close() {
    now_ += step_us;
    return annotate(transcript::make_event(now_, transcript::EventType::close,
                                           {{"leg", "client"}, {"by", "client"}}));
  }

  Microseconds now() const { return now_; }
  Microseconds step_us = 1000;

 private:
  std::unique_ptr<SessionDecoder> decoder_;
  uint64_t seq_ = 1;
  Microseconds now_ = 1'600'000'000'000'000;
};

inline bool has_warning(const nlohmann::json& event, const std::string& code) {
  if (!event.contains("warnings")) return false;
  for (const auto& w : event["warnings"]) {
    if (w.value("code", std::string()) == code) return true;
  }
  return false;
}

inline std::string note(const nlohmann::json& event) { return event.value("note", std::string()); }

}  // namespace mailtap::decode::testing
