#include "mailtap/run/response_reader.h"

#include <optional>

namespace mailtap::run {
namespace {

using transcript::FrameKind;

std::string_view without_eol(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

std::optional<size_t> literal_size(std::string_view text) {
  if (text.empty() || text.back() != '}') return std::nullopt;
  size_t open = text.rfind('{');
  if (open == std::string_view::npos) return std::nullopt;
  std::string_view inside = text.substr(open + 1, text.size() - open - 2);
  if (!inside.empty() && inside.back() == '+') inside.remove_suffix(1);
  if (inside.empty() || inside.size() > 12) return std::nullopt;
  size_t n = 0;
  for (char c : inside) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<size_t>(c - '0');
  }
  return n;
}

bool smtp_final_line(std::string_view text) {
  return text.size() < 4 || text[3] != '-';
}

void append_body(Response& r, std::string_view bytes) {
  if (!r.frames.empty() && r.frames.back().kind == FrameKind::body)
    r.frames.back().bytes += bytes;
  else
    r.frames.push_back({FrameKind::body, std::string(bytes)});
}

}  // namespace

IoStatus ResponseReader::fill(Deadline deadline, std::string& error) {
  return conn_.receive(buf_, deadline, error);
}

IoStatus ResponseReader::read_line(std::string& line, Deadline deadline, std::string& error) {
  size_t searched = 0;
  while (true) {
    size_t nl = buf_.find('\n', searched);
    if (nl != std::string::npos) {
      line = buf_.substr(0, nl + 1);
      buf_.erase(0, nl + 1);
      return IoStatus::ok;
    }
    searched = buf_.size();
    if (buf_.size() > limits_.max_line) {
      error = "the server sent a line longer than " + std::to_string(limits_.max_line) + " bytes";
      return IoStatus::error;
    }
    IoStatus st = fill(deadline, error);
    if (st != IoStatus::ok) {
      line = std::move(buf_);  // what arrived of an unfinished line
      buf_.clear();
      return st;
    }
  }
}

IoStatus ResponseReader::read_exact(size_t n, std::string& out, Deadline deadline,
                                    std::string& error) {
  while (buf_.size() < n) {
    IoStatus st = fill(deadline, error);
    if (st != IoStatus::ok) {
      out = std::move(buf_);
      buf_.clear();
      return st;
    }
  }
  out = buf_.substr(0, n);
  buf_.erase(0, n);
  return IoStatus::ok;
}

IoStatus ResponseReader::read_imap_line(Response& r, std::string& first, Deadline deadline,
                                        std::string& error) {
  std::string line;
  IoStatus st = read_line(line, deadline, error);
  if (!line.empty()) r.frames.push_back({FrameKind::line, line});
  if (st != IoStatus::ok) return st;
  first = std::string(without_eol(line));
  while (auto n = literal_size(without_eol(line))) {
    if (*n > limits_.max_literal) {
      error = "the server announced a literal of " + std::to_string(*n) + " bytes (limit " +
              std::to_string(limits_.max_literal) + ")";
      return IoStatus::error;
    }
    std::string content;
    st = read_exact(*n, content, deadline, error);
    if (!content.empty()) r.frames.push_back({FrameKind::literal, content});
    if (st != IoStatus::ok) return st;
    st = read_line(line, deadline, error);  // the rest of the line after the literal
    if (!line.empty()) r.frames.push_back({FrameKind::line, line});
    if (st != IoStatus::ok) return st;
  }
  return IoStatus::ok;
}

Response ResponseReader::read(const Await& await, Deadline deadline) {
  Response r;
  r.await = await;
  std::string error;
  IoStatus st = IoStatus::ok;
  std::string line;
  switch (await.kind) {
    case Await::Kind::smtp_reply:
      while (true) {
        st = read_line(line, deadline, error);
        if (!line.empty()) r.frames.push_back({FrameKind::line, line});
        if (st != IoStatus::ok || smtp_final_line(without_eol(line))) break;
      }
      break;
    case Await::Kind::imap_greeting: {
      std::string first;
      st = read_imap_line(r, first, deadline, error);
      break;
    }
    case Await::Kind::imap_tagged:
      while (true) {
        std::string first;
        st = read_imap_line(r, first, deadline, error);
        if (st != IoStatus::ok) break;
        if (starts_with(first, await.tag + " ") || first == "+" || starts_with(first, "+ ")) break;
      }
      break;
    case Await::Kind::pop3_line:
    case Await::Kind::pop3_list:
    case Await::Kind::pop3_body: {
      st = read_line(line, deadline, error);
      if (!line.empty()) r.frames.push_back({FrameKind::line, line});
      if (st != IoStatus::ok || await.kind == Await::Kind::pop3_line || !starts_with(line, "+OK"))
        break;
      while (true) {
        st = read_line(line, deadline, error);
        if (st != IoStatus::ok) {
          if (!line.empty()) append_body(r, line);
          break;
        }
        if (without_eol(line) == ".") {
          r.frames.push_back({FrameKind::line, line});
          break;
        }
        if (await.kind == Await::Kind::pop3_body)
          append_body(r, line);
        else
          r.frames.push_back({FrameKind::line, line});
      }
      break;
    }
  }
  r.complete = st == IoStatus::ok;
  if (st == IoStatus::closed)
    r.problem = "the server closed the connection";
  else if (st == IoStatus::timeout)
    r.problem = "the server did not complete its response in time";
  else if (st == IoStatus::error)
    r.problem = error;
  if (!r.complete && !r.frames.empty()) r.problem += " (in the middle of a response)";
  return r;
}

std::string ResponseReader::take_buffered() {
  std::string out;
  out.swap(buf_);
  return out;
}

IoStatus ResponseReader::wait_for_close(Deadline deadline, std::string& data, std::string& error) {
  data = take_buffered();
  while (true) {
    IoStatus st = conn_.receive(data, deadline, error);
    if (st != IoStatus::ok) return st;
  }
}

}  // namespace mailtap::run
