#include "mailtap/session/line_splitter.h"

namespace mailtap::session {

LineSplitter::Result LineSplitter::next(std::string_view& in, size_t limit, std::string& line) {
  size_t nl = in.find('\n');
  if (nl == std::string_view::npos) {
    if (pending_.size() + in.size() > limit) return Result::too_long;
    pending_.append(in);
    in = {};
    return Result::need_more;
  }
  size_t len = nl + 1;
  if (pending_.size() + len > limit) return Result::too_long;
  if (pending_.empty()) {
    line.assign(in.data(), len);
  } else {
    pending_.append(in.data(), len);
    line.swap(pending_);
    pending_.clear();
  }
  in.remove_prefix(len);
  return Result::line;
}

std::string LineSplitter::take_pending() {
  std::string p;
  p.swap(pending_);
  return p;
}

}  // namespace mailtap::session
