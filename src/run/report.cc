#include "mailtap/run/report.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

namespace mailtap::run {
namespace {

constexpr size_t kShownLines = 12;  // received lines shown per step before "... N more"

struct Paint {
  bool on;
  std::string operator()(const char* code, const std::string& text) const {
    return on ? std::string("\x1b[") + code + "m" + text + "\x1b[0m" : text;
  }
};

const char* status_word(StepResult::Status s) {
  switch (s) {
    case StepResult::Status::pass:
      return "ok";
    case StepResult::Status::fail:
      return "FAIL";
    case StepResult::Status::unchecked:
      return "--";
    case StepResult::Status::error:
      return "ERROR";
  }
  return "?";
}

const char* status_color(StepResult::Status s) {
  switch (s) {
    case StepResult::Status::pass:
      return "32";
    case StepResult::Status::fail:
      return "31;1";
    case StepResult::Status::unchecked:
      return "90";
    case StepResult::Status::error:
      return "35;1";
  }
  return "0";
}

std::string seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", s);
  return buf;
}

void lines(std::ostringstream& out, const char* title, const char* prefix,
           const std::vector<std::string>& items, size_t limit) {
  if (items.empty()) return;
  out << "    " << title << "\n";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i == limit) {
      out << "      ... " << (items.size() - limit) << " more line(s)\n";
      break;
    }
    out << "      " << prefix << items[i] << "\n";
  }
}

std::string compact(const StepResult& step) {
  std::string out;
  if (!step.sent.empty()) {
    out = "C: " + step.sent.front();
    if (step.sent.size() > 1) out += " (+" + std::to_string(step.sent.size() - 1) + ")";
  }
  if (!step.received.empty()) {
    if (!out.empty()) out += "  ->  ";
    out += step.received.front();
    if (step.received.size() > 1) out += " (+" + std::to_string(step.received.size() - 1) + ")";
  }
  if (out.size() > 160) out = out.substr(0, 157) + "...";
  return out;
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // XML 1.0 forbids most control characters, even escaped.
        if (u < 0x20 && c != '\t' && c != '\n' && c != '\r')
          out += "?";
        else
          out += c;
    }
  }
  return out;
}

std::string outcome_word(RunResult::Outcome o) {
  switch (o) {
    case RunResult::Outcome::passed:
      return "PASS";
    case RunResult::Outcome::failed:
      return "FAIL";
    case RunResult::Outcome::error:
      return "ERROR";
  }
  return "?";
}

// The first failed step, for one-line messages.
const StepResult* first_failure(const RunResult& run) {
  for (const auto& s : run.steps)
    if (s.status == StepResult::Status::fail) return &s;
  return nullptr;
}

}  // namespace

std::string format_result_line(const RunResult& run, const ReportStyle& style) {
  Paint paint{style.color};
  const char* color = run.outcome == RunResult::Outcome::passed   ? "32;1"
                      : run.outcome == RunResult::Outcome::failed ? "31;1"
                                                                  : "35;1";
  std::ostringstream out;
  out << paint(color, outcome_word(run.outcome)) << "  " << run.script << " -> " << run.target
      << " (" << to_string(run.protocol) << ", " << to_string(run.tls) << ")  "
      << run.count(StepResult::Status::pass) << " passed, " << run.count(StepResult::Status::fail)
      << " failed, " << run.steps.size() << " steps, " << seconds(run.seconds) << " s";
  if (run.outcome == RunResult::Outcome::error && !run.error.empty())
    out << "\n      could not run: " << run.error;
  else if (const StepResult* f = first_failure(run))
    out << "\n      first failure at " << f->where.str() << ": " << f->note;
  return out.str();
}

std::string format_run(const RunResult& run, const ReportStyle& style) {
  Paint paint{style.color};
  std::ostringstream out;
  out << paint("1", "== " + run.script + " -> " + run.target) << "  (" << to_string(run.protocol)
      << ", TLS " << to_string(run.tls) << ")\n";
  for (const StepResult& step : run.steps) {
    std::string word = status_word(step.status);
    out << "  "
        << paint(status_color(step.status),
                 word + std::string(6 - std::min<size_t>(6, word.size()), ' '))
        << step.where.str() << "  ";
    bool detailed = style.verbose || step.status == StepResult::Status::fail ||
                    step.status == StepResult::Status::error;
    if (!detailed) {
      out << compact(step);
      if (!step.note.empty()) out << "   [" << step.note << "]";
      out << "\n";
      continue;
    }
    out << step.note << "\n";
    lines(out, "sent:", "C: ", step.sent, 200);
    lines(out, "expected:", "S: ", step.expected, style.verbose ? 200 : kShownLines);
    lines(out, "received:", "S: ", step.received, style.verbose ? 200 : kShownLines);
    if (!step.difference.empty())
      out << "    difference (- expected, + received):\n" << step.difference;
  }
  if (run.outcome == RunResult::Outcome::error && !run.error.empty())
    out << "  " << paint("35;1", "could not run: ") << run.error << "\n";
  else if (!run.error.empty())
    out << "  stopped: " << run.error << "\n";
  if (!run.transcript_path.empty()) out << "  transcript: " << run.transcript_path << "\n";
  out << format_result_line(run, style) << "\n";
  return out.str();
}

std::string format_summary(const std::vector<RunResult>& runs, const ReportStyle& style) {
  Paint paint{style.color};
  size_t passed = 0, failed = 0, errors = 0;
  for (const auto& r : runs) {
    if (r.outcome == RunResult::Outcome::passed) ++passed;
    if (r.outcome == RunResult::Outcome::failed) ++failed;
    if (r.outcome == RunResult::Outcome::error) ++errors;
  }
  std::ostringstream out;
  out << runs.size() << (runs.size() == 1 ? " run: " : " runs: ")
      << paint(passed == runs.size() ? "32;1" : "0", std::to_string(passed) + " passed") << ", "
      << paint(failed ? "31;1" : "0", std::to_string(failed) + " failed") << ", "
      << paint(errors ? "35;1" : "0", std::to_string(errors) + " could not run");
  return out.str();
}

std::string junit_xml(const std::vector<RunResult>& runs) {
  std::map<std::string, std::vector<const RunResult*>> by_target;
  for (const auto& r : runs) by_target[r.target].push_back(&r);
  size_t failures = 0, errors = 0;
  double total = 0;
  for (const auto& r : runs) {
    failures += r.outcome == RunResult::Outcome::failed;
    errors += r.outcome == RunResult::Outcome::error;
    total += r.seconds;
  }
  std::ostringstream out;
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out << "<testsuites name=\"mailtap run\" tests=\"" << runs.size() << "\" failures=\"" << failures
      << "\" errors=\"" << errors << "\" time=\"" << seconds(total) << "\">\n";
  ReportStyle plain;
  plain.verbose = true;
  for (const auto& [target, list] : by_target) {
    size_t f = 0, e = 0;
    double t = 0;
    for (const RunResult* r : list) {
      f += r->outcome == RunResult::Outcome::failed;
      e += r->outcome == RunResult::Outcome::error;
      t += r->seconds;
    }
    out << "  <testsuite name=\"" << xml_escape(target) << "\" tests=\"" << list.size()
        << "\" failures=\"" << f << "\" errors=\"" << e << "\" time=\"" << seconds(t) << "\">\n";
    for (const RunResult* r : list) {
      out << "    <testcase classname=\"mailtap.run." << xml_escape(target) << "\" name=\""
          << xml_escape(r->script) << "\" time=\"" << seconds(r->seconds) << "\">\n";
      if (r->outcome == RunResult::Outcome::failed) {
        const StepResult* s = first_failure(*r);
        std::string message = s ? s->where.str() + ": " + s->note : "mismatch";
        out << "      <failure type=\"mismatch\" message=\"" << xml_escape(message) << "\">"
            << xml_escape(s ? s->difference : std::string()) << "</failure>\n";
      } else if (r->outcome == RunResult::Outcome::error) {
        out << "      <error type=\"could-not-run\" message=\"" << xml_escape(r->error) << "\"/>\n";
      }
      out << "      <system-out>" << xml_escape(format_run(*r, plain)) << "</system-out>\n";
      out << "    </testcase>\n";
    }
    out << "  </testsuite>\n";
  }
  out << "</testsuites>\n";
  return out.str();
}

}  // namespace mailtap::run
