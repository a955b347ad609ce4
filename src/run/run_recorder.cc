#include "run/run_recorder.h"

#include "mailtap/core/clock.h"
#include "mailtap/transcript/transcript_writer.h"

namespace mailtap::run {

RunRecorder::RunRecorder(transcript::TranscriptWriter* writer, const Session& session) {
  if (!writer) return;
  transcript::SessionHeader header;
  header.session_id = session.id.empty() ? "run" : session.id;
  header.protocol = session.protocol;
  header.listener = "mailtap run";
  header.upstream = session.target;
  header.client_tls = session.tls;
  header.upstream_tls = session.tls;
  header.upstream_insecure = session.insecure;
  header.started_us = system_now_us();
  header.extra = {{"runner", {{"script", session.script}}}};
  transcript_ = writer->open(header);
}

RunRecorder::~RunRecorder() {
  finish();
}

void RunRecorder::data(transcript::Party from, transcript::Party to, const session::Frame& frame,
                       bool over_tls) {
  if (!transcript_ || frame.bytes.empty()) return;
  transcript_->record(
      transcript::make_data(system_now_us(), from, to, frame.kind, over_tls, frame.bytes));
}

void RunRecorder::event(transcript::EventType type, nlohmann::json fields) {
  if (transcript_)
    transcript_->record(transcript::make_event(system_now_us(), type, std::move(fields)));
}

std::string RunRecorder::finish() {
  if (!transcript_) return {};
  std::string path = transcript_->path().string();
  transcript_->finish();
  transcript_.reset();
  return path;
}

}  // namespace mailtap::run
