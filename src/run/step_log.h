// Internal: the steps of a run as they are reported. Collects what was sent since the last step,
// turns responses into the lines a step shows, carries a note to the next step (implicit TLS
// comes before the first one), and puts a warning in the run's transcript for every failure.
#pragma once

#include <string>
#include <vector>

#include "mailtap/run/expectation.h"
#include "mailtap/run/protocol_model.h"
#include "mailtap/run/runner.h"
#include "run/run_recorder.h"

namespace mailtap::run {

class StepLog {
 public:
  StepLog(std::vector<StepResult>& steps, RunRecorder& recorder)
      : steps_(steps), recorder_(recorder) {}

  // A line went to the server (`shown`: as reports show it, secrets as their template).
  void sent(const SourceLocation& where, std::string shown);
  bool has_unreported_sends() const { return !current_.sent.empty(); }
  // The step being built, with what was sent since the last one; `where` if none was sent.
  StepResult take(const SourceLocation& where);
  // Adds a step; true when it is a failure.
  bool push(StepResult step);
  bool add(StepResult::Status status, const SourceLocation& where,
           std::vector<std::string> received, const std::string& note);
  // Notes about TLS: on the last step, or on the next one when there is none yet.
  void note_tls(const std::string& note);

 private:
  std::vector<StepResult>& steps_;
  RunRecorder& recorder_;
  StepResult current_;
  std::string pending_note_;
};

// Every line of the responses, each with the index of its response (for status-only matches).
std::vector<ReceivedLine> response_lines(const std::vector<Response>& responses);
std::vector<std::string> all_lines(const std::vector<Response>& responses);
// Why the first incomplete response is incomplete; "" when all are complete.
std::string first_problem(const std::vector<Response>& responses);

}  // namespace mailtap::run
