// SMTP framing: client command lines, DATA bodies after a 354, BDAT chunks; server reply lines.
// Replies are paired with commands in order (PIPELINING), which is how a 354 is known to answer
// DATA and a 334 to answer AUTH.
#include <deque>

#include "mailtap/session/body_terminator.h"
#include "mailtap/session/framing.h"
#include "mailtap/session/line_splitter.h"
#include "session/framing_factories.h"
#include "session/text_util.h"

namespace mailtap::session {
namespace {

using transcript::FrameKind;

enum class Awaiting { greeting, data, auth, message, other };

// A reply the server owes, and the verb of the command it answers ("" for the greeting).
struct Owed {
  Awaiting what;
  std::string verb;
};

class SmtpFraming final : public Framing {
 public:
  explicit SmtpFraming(const LineLimits& limits) : limits_(limits) {
    if (limits_.client_command == 0) limits_.client_command = 512;
    if (limits_.server_line == 0) limits_.server_line = 2048;
    awaiting_.push_back({Awaiting::greeting, {}});
  }

  std::optional<FramingError> feed(Side from, std::string_view bytes, std::vector<Frame>& out,
                                   size_t* consumed) override {
    std::string_view in = bytes;
    auto error =
        from == Side::client ? feed_client(in, out, consumed != nullptr) : feed_server(in, out);
    if (consumed) *consumed = bytes.size() - in.size();  // after an error: what was not read
    return error;
  }

  bool holding_partial_line(Side from) const override {
    return from == Side::server ? !server_lines_.pending().empty()
                                : !client_lines_.pending().empty();
  }

  std::string take_pending(Side from) override {
    if (from == Side::server) {
      server_continues_ = false;
      return server_lines_.take_pending();
    }
    std::string held = client_lines_.take_pending() + body_end_.take_held();
    // The client's stream starts afresh (inside TLS, or not at all): no body or chunk under way.
    mode_ = Mode::command;
    chunk_left_ = 0;
    sasl_ = false;
    return held;
  }

  bool retract_last_client_command() override {
    if (!awaiting_.empty()) awaiting_.pop_back();
    return false;
  }

  size_t replies_owed() const override { return awaiting_.size(); }
  bool client_mid_message() const override { return mode_ != Mode::command; }
  bool server_mid_reply() const override { return server_continues_; }

 private:
  // With `one_line`, returns after the first complete line (`in` is advanced past what was used).
  std::optional<FramingError> feed_client(std::string_view& in, std::vector<Frame>& out,
                                          bool one_line) {
    while (!in.empty()) {
      switch (mode_) {
        case Mode::command: {
          std::string line;
          bool auth = line_starts_with(client_lines_.pending(), in, "AUTH ");
          size_t limit = sasl_ || auth ? limits_.client_sasl : limits_.client_command;
          auto r = client_lines_.next(in, limit, line);
          if (r == LineSplitter::Result::need_more) return std::nullopt;
          if (r == LineSplitter::Result::too_long)
            return too_long("command line from the client", limit);
          bool sasl_response = sasl_;
          if (auto err = on_client_line(line)) {
            client_lines_.put_back(std::move(line));  // refused, not lost: recorded from pending
            return err;
          }
          out.push_back({FrameKind::line, std::move(line)});
          out.back().continuation = sasl_response;
          if (one_line) return std::nullopt;
          break;
        }
        case Mode::body: {
          std::string body;
          bool found = false;
          if (!client_lines_.pending().empty()) {
            // Bytes the client sent after DATA but before the 354, held as the start of a line:
            // they begin the message, so they go before anything it sent later. A held partial
            // line has no line end, so it cannot complete the terminator.
            std::string early = client_lines_.take_pending();
            std::string_view rest(early);
            body_end_.scan(rest, body, found);
          }
          size_t used = body_end_.scan(in, body, found);
          in.remove_prefix(used);
          if (!body.empty()) out.push_back({FrameKind::body, std::move(body)});
          if (found) {
            out.push_back({FrameKind::line, ".\r\n"});
            mode_ = Mode::command;
            awaiting_.push_back({Awaiting::message, "."});
            if (one_line) return std::nullopt;
          }
          break;
        }
        case Mode::chunk: {
          size_t n = static_cast<size_t>(std::min<uint64_t>(chunk_left_, in.size()));
          out.push_back({FrameKind::chunk, std::string(in.substr(0, n))});
          in.remove_prefix(n);
          chunk_left_ -= n;
          if (chunk_left_ == 0) mode_ = Mode::command;
          break;
        }
      }
    }
    return std::nullopt;
  }

  std::optional<FramingError> on_client_line(std::string_view line) {
    if (sasl_) return std::nullopt;  // a SASL response, not a command
    std::string verb = upper(word(line, 0));
    if (verb == "DATA") {
      awaiting_.push_back({Awaiting::data, verb});
    } else if (verb == "AUTH") {
      awaiting_.push_back({Awaiting::auth, verb});
    } else if (verb == "BDAT") {
      std::string_view size = word(line, 1);
      if (!all_digits(size) || size.size() > 15)
        return FramingError{"BDAT with an invalid chunk size", "bad_chunk_size"};
      chunk_left_ = std::stoull(std::string(size));
      if (chunk_left_ > 0) mode_ = Mode::chunk;
      awaiting_.push_back({Awaiting::other, verb});
    } else {
      awaiting_.push_back({Awaiting::other, verb});
    }
    return std::nullopt;
  }

  std::optional<FramingError> feed_server(std::string_view& in, std::vector<Frame>& out) {
    while (!in.empty()) {
      std::string line;
      auto r = server_lines_.next(in, limits_.server_line, line);
      if (r == LineSplitter::Result::need_more) return std::nullopt;
      if (r == LineSplitter::Result::too_long)
        return too_long("reply line from the server", limits_.server_line);
      std::string answers = awaiting_.empty() ? std::string() : awaiting_.front().verb;
      on_server_line(line);
      out.push_back({FrameKind::line, std::move(line)});
      out.back().answers = std::move(answers);
    }
    return std::nullopt;
  }

  void on_server_line(std::string_view line) {
    std::string_view text = trim_crlf(line);
    bool final_line = text.size() < 4 || text[3] != '-';
    server_continues_ = !final_line;
    if (!final_line) return;
    std::string_view code = text.substr(0, std::min<size_t>(3, text.size()));
    Awaiting front = awaiting_.empty() ? Awaiting::other : awaiting_.front().what;
    if (front == Awaiting::auth && code == "334") {
      sasl_ = true;  // the next client line answers the challenge
      return;
    }
    sasl_ = false;
    if (!awaiting_.empty()) awaiting_.pop_front();
    if (front == Awaiting::data && code == "354") {
      mode_ = Mode::body;
      body_end_.reset();
    }
  }

  static FramingError too_long(std::string_view what, size_t limit) {
    return FramingError{std::string(what) + " longer than " + std::to_string(limit) + " octets",
                        "line_too_long"};
  }

  enum class Mode { command, body, chunk };
  LineLimits limits_;
  Mode mode_ = Mode::command;
  bool sasl_ = false;
  bool server_continues_ = false;  // the last server line was not the last of its reply ("250-")
  uint64_t chunk_left_ = 0;
  BodyTerminator body_end_;
  LineSplitter client_lines_, server_lines_;
  std::deque<Owed> awaiting_;
};

}  // namespace

std::unique_ptr<Framing> make_smtp_framing(const LineLimits& limits) {
  return std::make_unique<SmtpFraming>(limits);
}

}  // namespace mailtap::session
