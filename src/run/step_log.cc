#include "run/step_log.h"

namespace mailtap::run {

void StepLog::sent(const SourceLocation& where, std::string shown) {
  if (current_.sent.empty()) current_.where = where;
  current_.sent.push_back(std::move(shown));
}

StepResult StepLog::take(const SourceLocation& where) {
  StepResult step = std::move(current_);
  current_ = StepResult{};
  if (step.where.line == 0) step.where = where;
  return step;
}

bool StepLog::push(StepResult step) {
  if (!pending_note_.empty()) {
    step.note += (step.note.empty() ? "" : "; ") + pending_note_;
    pending_note_.clear();
  }
  bool failed = step.status == StepResult::Status::fail;
  if (failed)
    recorder_.event(
        transcript::EventType::warning,
        {{"code", "run_expectation_failed"}, {"message", step.where.str() + ": " + step.note}});
  steps_.push_back(std::move(step));
  return failed;
}

bool StepLog::add(StepResult::Status status, const SourceLocation& where,
                  std::vector<std::string> received, const std::string& note) {
  StepResult step;
  step.status = status;
  step.where = where;
  step.received = std::move(received);
  step.note = note;
  return push(std::move(step));
}

void StepLog::note_tls(const std::string& note) {
  if (steps_.empty()) {
    pending_note_ = note;
    return;
  }
  std::string& last = steps_.back().note;
  if (last.find("TLS up") != std::string::npos) return;
  last += (last.empty() ? "" : "; ") + note;
}

size_t RunResult::count(StepResult::Status status) const {
  size_t n = 0;
  for (const auto& s : steps)
    if (s.status == status) ++n;
  return n;
}

int RunResult::exit_status() const {
  switch (outcome) {
    case Outcome::passed:
      return 0;
    case Outcome::failed:
      return 1;
    case Outcome::error:
      return 2;
  }
  return 2;
}

std::vector<ReceivedLine> response_lines(const std::vector<Response>& responses) {
  std::vector<ReceivedLine> out;
  for (size_t i = 0; i < responses.size(); ++i)
    for (auto& line : responses[i].lines()) out.push_back({std::move(line), i});
  return out;
}

std::vector<std::string> all_lines(const std::vector<Response>& responses) {
  std::vector<std::string> out;
  for (const Response& r : responses)
    for (auto& line : r.lines()) out.push_back(std::move(line));
  return out;
}

std::string first_problem(const std::vector<Response>& responses) {
  for (const Response& r : responses)
    if (!r.complete) return r.problem;
  return {};
}

}  // namespace mailtap::run
