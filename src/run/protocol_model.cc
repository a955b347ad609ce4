#include "mailtap/run/protocol_model.h"

#include <cctype>

#include "run/protocol_models.h"

namespace mailtap::run {

std::vector<std::string> Response::lines() const {
  std::string all;
  for (const auto& f : frames) all += f.bytes;
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < all.size()) {
    size_t nl = all.find('\n', pos);
    size_t end = nl == std::string::npos ? all.size() : nl;
    std::string line = all.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(std::move(line));
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return out;
}

std::string Response::first_line() const {
  auto all = lines();
  return all.empty() ? std::string() : all.front();
}

std::string Response::last_line() const {
  auto all = lines();
  return all.empty() ? std::string() : all.back();
}

std::unique_ptr<ProtocolModel> make_protocol_model(Protocol protocol) {
  switch (protocol) {
    case Protocol::smtp:
      return detail::make_smtp_model();
    case Protocol::imap:
      return detail::make_imap_model();
    case Protocol::pop3:
      return detail::make_pop3_model();
  }
  return nullptr;
}

namespace detail {

std::string_view next_segment(std::string_view bytes, size_t& pos) {
  size_t nl = bytes.find('\n', pos);
  size_t end = nl == std::string_view::npos ? bytes.size() : nl + 1;
  std::string_view seg = bytes.substr(pos, end - pos);
  pos = end;
  return seg;
}

std::string_view without_eol(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

std::string word(std::string_view line, size_t index) {
  size_t pos = 0;
  for (size_t i = 0;; ++i) {
    while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
    size_t start = pos;
    while (pos < line.size() && line[pos] != ' ' && line[pos] != '\t') ++pos;
    if (start == pos) return {};
    if (i == index) return std::string(line.substr(start, pos - start));
  }
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

void append_frame(std::vector<session::Frame>& frames, transcript::FrameKind kind,
                  std::string_view bytes) {
  // Consecutive body/chunk/literal pieces are one frame, like the proxy records them.
  if (kind != transcript::FrameKind::line && !frames.empty() && frames.back().kind == kind)
    frames.back().bytes += bytes;
  else
    frames.push_back({kind, std::string(bytes)});
}

}  // namespace detail
}  // namespace mailtap::run
