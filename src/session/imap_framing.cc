// IMAP framing: lines in both directions, and literals ({n}, {n+}, {n-}, ~{n}) streamed as
// `literal` frames. A literal's bytes are data, never a command, whatever they read.
#include <charconv>
#include <string>
#include <vector>

#include "mailtap/session/framing.h"
#include "mailtap/session/line_splitter.h"
#include "session/framing_factories.h"
#include "session/text_util.h"

namespace mailtap::session {
namespace {

using transcript::FrameKind;

// RFC 3501/9051: a literal's length is a 32-bit number.
constexpr uint64_t kMaxLiteral = 4294967295ULL;

struct Direction {
  LineSplitter lines;
  uint64_t literal_left = 0;
  bool after_literal = false;  // the next line continues the command (or response) of a literal
  std::string tag;             // tag of the command (or response) under way
};

class ImapFraming final : public Framing {
 public:
  explicit ImapFraming(const LineLimits& limits) : limits_(limits) {
    if (limits_.client_command == 0) limits_.client_command = 8192;
    if (limits_.server_line == 0) limits_.server_line = 1 << 20;
  }

  std::optional<FramingError> feed(Side from, std::string_view bytes, std::vector<Frame>& out,
                                   size_t* consumed) override {
    std::string_view in = bytes;
    auto error = feed_side(from, in, out, consumed != nullptr && from == Side::client);
    if (consumed) *consumed = bytes.size() - in.size();
    return error;
  }

  bool holding_partial_line(Side from) const override {
    return !(from == Side::client ? client_ : server_).lines.pending().empty();
  }

  std::string take_pending(Side from) override {
    Direction& d = from == Side::client ? client_ : server_;
    // The side's stream starts afresh (inside TLS, or not at all): no literal under way.
    d.literal_left = 0;
    d.after_literal = false;
    if (from == Side::client) sync_literal_pending_ = false;
    return d.lines.take_pending();
  }

  bool retract_last_client_command() override {
    if (last_command_counted_ && !open_tags_.empty()) open_tags_.pop_back();
    last_command_counted_ = false;
    if (sync_literal_pending_) {
      sync_literal_pending_ = false;
      client_.literal_left = 0;
      client_.after_literal = false;
      return false;
    }
    return client_.literal_left > 0 || client_.after_literal;
  }

  size_t replies_owed() const override { return open_tags_.size(); }
  bool client_mid_message() const override {
    return client_.literal_left > 0 || client_.after_literal;
  }
  bool server_mid_reply() const override {
    return server_.literal_left > 0 || server_.after_literal;
  }

 private:
  // With `one_line`, returns after the first complete line (`in` is advanced past what was used).
  std::optional<FramingError> feed_side(Side from, std::string_view& in, std::vector<Frame>& out,
                                        bool one_line) {
    Direction& d = from == Side::client ? client_ : server_;
    size_t limit = from == Side::client ? limits_.client_command : limits_.server_line;
    while (!in.empty()) {
      if (d.literal_left > 0) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(d.literal_left, in.size()));
        out.push_back({FrameKind::literal, std::string(in.substr(0, n))});
        in.remove_prefix(n);
        d.literal_left -= n;
        if (from == Side::client) sync_literal_pending_ = false;  // it is under way
        continue;
      }
      std::string line;
      auto r = d.lines.next(in, limit, line);
      if (r == LineSplitter::Result::need_more) return std::nullopt;
      if (r == LineSplitter::Result::too_long)
        return FramingError{std::string(from == Side::client ? "command line from the client"
                                                             : "response line from the server") +
                                " longer than " + std::to_string(limit) + " octets",
                            "line_too_long"};
      auto literal = literal_size(line);
      if (!literal) {
        d.lines.put_back(std::move(line));  // refused, not lost: take_pending returns it
        return literal.error;
      }
      bool continuation = d.after_literal;
      if (!continuation) d.tag = std::string(word(line, 0));
      if (from == Side::server && !continuation) on_server_line(line);
      if (from == Side::client && !continuation) count_command(line);
      d.literal_left = literal.size;
      d.after_literal = literal.announced;
      if (from == Side::client) sync_literal_pending_ = literal.synchronizing && literal.size > 0;
      out.push_back({FrameKind::line, std::move(line)});
      out.back().continuation = from == Side::client && continuation;
      if (one_line) return std::nullopt;
    }
    return std::nullopt;
  }

  // Tags of commands the server has not completed yet. A line of one word is no command (IDLE's
  // DONE, a SASL response); the list is bounded, so a server that never answers costs nothing.
  void count_command(std::string_view line) {
    last_command_counted_ = !word(line, 1).empty() && open_tags_.size() < kMaxOpenTags;
    if (last_command_counted_) open_tags_.emplace_back(word(line, 0));
  }

  void complete_tag(std::string_view tag) {
    for (auto it = open_tags_.begin(); it != open_tags_.end(); ++it) {
      if (*it == tag) {
        open_tags_.erase(it);
        // With every command answered the list's memory goes: an idle session holds none.
        if (open_tags_.empty()) std::vector<std::string>().swap(open_tags_);
        return;
      }
    }
  }

  // A client that announced a synchronizing literal waits for "+" before sending it. When the
  // server ends that command instead (a tagged NO or BAD), no literal follows: the client's next
  // line is a new command, not literal data.
  void on_server_line(std::string_view line) {
    std::string_view tag = word(line, 0);
    if (tag != "+" && tag != "*") complete_tag(tag);
    if (!sync_literal_pending_) return;
    if (tag == "+" || tag == "*" || tag != client_.tag) return;
    sync_literal_pending_ = false;
    client_.literal_left = 0;
    client_.after_literal = false;
  }

  struct LiteralSize {
    uint64_t size = 0;
    std::optional<FramingError> error;
    bool announced = false;      // the line ends with a literal announcement
    bool synchronizing = false;  // {n} or ~{n}: sent only after the server's "+"
    explicit operator bool() const { return !error; }
  };

  // The literal announced at the end of `line`, 0 when none.
  static LiteralSize literal_size(std::string_view line) {
    std::string_view s = trim_crlf(line);
    if (s.empty() || s.back() != '}') return {};
    size_t open = s.rfind('{');
    if (open == std::string_view::npos) return {};
    std::string_view inner = s.substr(open + 1, s.size() - open - 2);
    bool synchronizing = true;
    if (!inner.empty() && (inner.back() == '+' || inner.back() == '-')) {
      inner.remove_suffix(1);
      synchronizing = false;
    }
    if (!all_digits(inner)) return {};  // "{abc}" in text is not a literal
    uint64_t n = 0;
    auto [p, ec] = std::from_chars(inner.data(), inner.data() + inner.size(), n);
    if (ec != std::errc() || p != inner.data() + inner.size() || n > kMaxLiteral) {
      return {0,
              FramingError{"literal size {" + std::string(inner.substr(0, 32)) +
                               "} is larger than IMAP allows (4294967295)",
                           "bad_literal"},
              false, false};
    }
    return {n, std::nullopt, true, synchronizing};
  }

  LineLimits limits_;
  Direction client_, server_;
  bool sync_literal_pending_ = false;  // the client announced {n} and waits for "+"
  static constexpr size_t kMaxOpenTags = 1024;
  std::vector<std::string> open_tags_;
  bool last_command_counted_ = false;
};

}  // namespace

std::unique_ptr<Framing> make_imap_framing(const LineLimits& limits) {
  return std::make_unique<ImapFraming>(limits);
}

}  // namespace mailtap::session
