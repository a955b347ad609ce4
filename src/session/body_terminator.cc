#include "mailtap/session/body_terminator.h"

#include "mailtap/core/dot_stuffing.h"

namespace mailtap::session {

size_t BodyTerminator::scan(std::string_view in, std::string& body, bool& found) {
  found = false;
  size_t i = 0;
  size_t run_start = 0;  // start of the content run not yet appended
  auto flush_run = [&](size_t end) {
    if (end > run_start) body.append(in.substr(run_start, end - run_start));
  };
  while (i < in.size()) {
    if (!held_.empty()) {
      // We are inside a possible terminator: "." or ".\r" at a line start.
      char c = in[i];
      if (held_ == "." && c == '\r') {
        held_ = ".\r";
        ++i;
        run_start = i;
        continue;
      }
      if (held_ == ".\r" && c == '\n') {
        held_.clear();
        ++i;
        found = true;
        at_line_start_ = true;
        return i;
      }
      // Not a terminator: a dot-stuffed or dot-started line. The held bytes are content.
      body.append(held_);
      held_.clear();
      at_line_start_ = false;
      run_start = i;
      continue;
    }
    if (at_line_start_ && in[i] == '.') {
      flush_run(i);
      held_ = ".";
      ++i;
      run_start = i;
      continue;
    }
    // Not at a '.' that starts a line: go straight to the next one.
    i = skip_to_line_start_dot(in, i, at_line_start_);
  }
  flush_run(i);
  return i;
}

std::string BodyTerminator::take_held() {
  std::string h;
  h.swap(held_);
  return h;
}

}  // namespace mailtap::session
