// POP3 framing: client command lines; server status lines, dot-terminated lists (CAPA, LIST, UIDL,
// AUTH) framed as lines and message bodies (RETR, TOP) streamed as `body` frames. Whether a reply
// is multi-line follows from the command it answers, paired in order.
#include <deque>

#include "mailtap/session/body_terminator.h"
#include "mailtap/session/framing.h"
#include "mailtap/session/line_splitter.h"
#include "session/framing_factories.h"
#include "session/text_util.h"

namespace mailtap::session {
namespace {

using transcript::FrameKind;

enum class Awaiting { single, list, body, sasl };

// A reply the server owes, and the verb of the command it answers ("" for the greeting).
struct Owed {
  Awaiting what;
  std::string verb;
};

class Pop3Framing final : public Framing {
 public:
  explicit Pop3Framing(const LineLimits& limits) : limits_(limits) {
    if (limits_.client_command == 0) limits_.client_command = 512;
    if (limits_.server_line == 0) limits_.server_line = 4096;
    awaiting_.push_back({Awaiting::single, {}});  // the greeting
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
    // The side's stream starts afresh (inside TLS, or not at all).
    sasl_ = false;
    if (from == Side::client) return client_lines_.take_pending();
    mode_ = Mode::status;
    return server_lines_.take_pending() + body_end_.take_held();
  }

  bool retract_last_client_command() override {
    if (!awaiting_.empty()) awaiting_.pop_back();
    return false;
  }

  // A list or body under way is the rest of a reply already dequeued.
  size_t replies_owed() const override {
    return awaiting_.size() + (mode_ == Mode::status ? 0 : 1);
  }
  bool server_mid_reply() const override { return mode_ != Mode::status; }

 private:
  // With `one_line`, returns after the first complete line (`in` is advanced past what was used).
  std::optional<FramingError> feed_client(std::string_view& in, std::vector<Frame>& out,
                                          bool one_line) {
    while (!in.empty()) {
      bool auth = line_starts_with(client_lines_.pending(), in, "AUTH ");
      size_t limit = sasl_ || auth ? limits_.client_sasl : limits_.client_command;
      std::string line;
      auto r = client_lines_.next(in, limit, line);
      if (r == LineSplitter::Result::need_more) return std::nullopt;
      if (r == LineSplitter::Result::too_long)
        return FramingError{"command line from the client longer than " + std::to_string(limit) +
                                " octets",
                            "line_too_long"};
      bool sasl_response = sasl_;
      if (!sasl_response) awaiting_.push_back({classify(line), upper(word(line, 0))});
      out.push_back({FrameKind::line, std::move(line)});
      out.back().continuation = sasl_response;
      if (one_line) return std::nullopt;
    }
    return std::nullopt;
  }

  static Awaiting classify(std::string_view line) {
    std::string verb = upper(word(line, 0));
    bool has_arg = !word(line, 1).empty();
    if (verb == "RETR" || verb == "TOP") return Awaiting::body;
    if (verb == "CAPA") return Awaiting::list;
    if ((verb == "LIST" || verb == "UIDL") && !has_arg) return Awaiting::list;
    if (verb == "AUTH") return has_arg ? Awaiting::sasl : Awaiting::list;
    return Awaiting::single;
  }

  std::optional<FramingError> feed_server(std::string_view& in, std::vector<Frame>& out) {
    while (!in.empty()) {
      if (mode_ == Mode::body) {
        std::string body;
        bool found = false;
        in.remove_prefix(body_end_.scan(in, body, found));
        if (!body.empty()) {
          out.push_back({FrameKind::body, std::move(body)});
          out.back().answers = replying_to_;
        }
        if (found) {
          out.push_back({FrameKind::line, ".\r\n"});
          out.back().answers = replying_to_;
          mode_ = Mode::status;
        }
        continue;
      }
      std::string line;
      auto r = server_lines_.next(in, limits_.server_line, line);
      if (r == LineSplitter::Result::need_more) return std::nullopt;
      if (r == LineSplitter::Result::too_long)
        return FramingError{"response line from the server longer than " +
                                std::to_string(limits_.server_line) + " octets",
                            "line_too_long"};
      if (mode_ == Mode::list) {
        if (line == ".\r\n" || line == ".\n") mode_ = Mode::status;
      } else {
        replying_to_ = awaiting_.empty() ? std::string() : awaiting_.front().verb;
        on_status_line(line);
      }
      out.push_back({FrameKind::line, std::move(line)});
      out.back().answers = replying_to_;
    }
    return std::nullopt;
  }

  void on_status_line(std::string_view line) {
    Awaiting front = awaiting_.empty() ? Awaiting::single : awaiting_.front().what;
    if (front == Awaiting::sasl && line.size() >= 1 && line[0] == '+' &&
        (line.size() == 1 || line[1] == ' ' || line[1] == '\r' || line[1] == '\n')) {
      sasl_ = true;  // a challenge: the next client line is a SASL response
      return;
    }
    sasl_ = false;
    if (!awaiting_.empty()) awaiting_.pop_front();
    if (line.rfind("+OK", 0) != 0) return;
    if (front == Awaiting::list) mode_ = Mode::list;
    if (front == Awaiting::body) {
      mode_ = Mode::body;
      body_end_.reset();
    }
  }

  enum class Mode { status, list, body };
  LineLimits limits_;
  Mode mode_ = Mode::status;
  bool sasl_ = false;
  BodyTerminator body_end_;
  LineSplitter client_lines_, server_lines_;
  std::deque<Owed> awaiting_;
  std::string replying_to_;  // the verb the current reply (status line and list or body) answers
};

}  // namespace

std::unique_ptr<Framing> make_pop3_framing(const LineLimits& limits) {
  return std::make_unique<Pop3Framing>(limits);
}

}  // namespace mailtap::session
