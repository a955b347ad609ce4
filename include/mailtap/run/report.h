// What `mailtap run` shows: every step (sent, expected, received, pass or fail with the
// difference), one progress line per script, a summary, and a JUnit XML report for CI systems.
#pragma once

#include <string>
#include <vector>

#include "mailtap/run/runner.h"

namespace mailtap::run {

struct ReportStyle {
  bool verbose = false;  // every step in full, not only the failed ones
  bool color = false;    // ANSI colours
};

// The account of one run, step by step, ending with its result line.
std::string format_run(const RunResult& run, const ReportStyle& style);
// "PASS  script -> host:port  (12 steps, 0.41 s)"
std::string format_result_line(const RunResult& run, const ReportStyle& style);
// "3 runs: 2 passed, 1 failed, 0 could not run"
std::string format_summary(const std::vector<RunResult>& runs, const ReportStyle& style);

// JUnit XML: one <testsuite> per target, one <testcase> per script, <failure> for a mismatch and
// <error> for a run that could not be played, the step log in <system-out>.
std::string junit_xml(const std::vector<RunResult>& runs);

}  // namespace mailtap::run
