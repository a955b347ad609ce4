// libFuzzer target: the framing of each protocol. The input picks a protocol and limits, then a
// sequence of (side, bytes) segments. The same segments are fed to three framings: whole, split
// at an input-chosen point, and client lines one at a time (as the Session feeds them). Checks:
// the three agree on the frames (adjacent literal/body/chunk pieces merged), line frames are one
// whole line, no frame is empty, bytes are conserved (frames + pending = input, or a prefix of
// it after an error), and nothing held exceeds the line limit.
#include <cstdio>
#include <cstdlib>

#include "mailtap/session/framing.h"
#include "session_fuzz_input.h"

namespace {

using namespace mailtap;
using namespace mailtap::session;
using mailtap::fuzz::FuzzInput;
using transcript::FrameKind;

[[noreturn]] void violation(const char* what) {
  std::fprintf(stderr, "framing invariant broken: %s\n", what);
  std::abort();
}

struct Piece {
  Side side;
  FrameKind kind;
  std::string bytes;
  bool operator==(const Piece&) const = default;
};

class Run {
 public:
  Run(Protocol p, const LineLimits& limits) : framing_(make_framing(p, limits)) {}

  // mode 0: whole; 1: cut at `cut`; 2: client lines one at a time.
  void feed(Side side, std::string_view bytes, int mode, size_t cut) {
    if (error_) return;
    in_[i(side)] += bytes;
    if (mode == 1 && cut > 0 && cut < bytes.size()) {
      // A framing that reported an error is never fed again (the session closes), so the
      // second half goes in only when the first was accepted.
      feed_once(side, bytes.substr(0, cut));
      if (!error_) feed_once(side, bytes.substr(cut));
    } else if (mode == 2 && side == Side::client) {
      while (!bytes.empty() && !error_) {
        std::vector<Frame> frames;
        size_t used = 0;
        error_ = framing_->feed(side, bytes, frames, &used);
        if (used > bytes.size()) violation("consumed more than given");
        if (used == 0 && !error_) violation("consumed nothing");
        size_t lines = 0;
        for (const auto& f : frames) lines += f.kind == FrameKind::line;
        if (lines > 1) violation("more than one line when asked for one");
        if (lines == 1 && frames.back().kind != FrameKind::line && !error_)
          violation("went on after the line");
        add(side, frames);
        bytes.remove_prefix(used);
      }
    } else {
      feed_once(side, bytes);
    }
  }

  void finish(const LineLimits& limits) {
    for (Side side : {Side::client, Side::server}) {
      bool holding = framing_->holding_partial_line(side);
      std::string pending = framing_->take_pending(side);
      if (holding && pending.empty()) violation("holding a partial line but nothing pending");
      // The largest limit of any kind, plus a held ".\r" of a body terminator.
      size_t bound = std::max({limits.client_command, limits.client_sasl, limits.server_line,
                               size_t{1} << 20}) +
                     2;
      if (pending.size() > bound) violation("holds more than the line limit");
      out_[i(side)] += pending;
      if (error_) {
        if (in_[i(side)].compare(0, out_[i(side)].size(), out_[i(side)]) != 0)
          violation("frames are not a prefix of the input after an error");
      } else if (out_[i(side)] != in_[i(side)]) {
        violation("frames and pending bytes are not the input");
      }
    }
  }

  const std::vector<Piece>& pieces() const { return pieces_; }
  bool failed() const { return error_.has_value(); }

 private:
  static size_t i(Side s) { return s == Side::client ? 0 : 1; }

  void feed_once(Side side, std::string_view bytes) {
    std::vector<Frame> frames;
    error_ = framing_->feed(side, bytes, frames);
    add(side, frames);
  }

  void add(Side side, std::vector<Frame>& frames) {
    for (auto& f : frames) {
      if (f.bytes.empty()) violation("an empty frame");
      if (f.kind == FrameKind::line &&
          (f.bytes.back() != '\n' || f.bytes.find('\n') != f.bytes.size() - 1))
        violation("a line frame that is not one whole line");
      if (side == Side::server && f.continuation) violation("a server frame marked continuation");
      out_[i(side)] += f.bytes;
      bool merge = !pieces_.empty() && f.kind != FrameKind::line && pieces_.back().side == side &&
                   pieces_.back().kind == f.kind;
      if (merge) {
        pieces_.back().bytes += f.bytes;
      } else {
        pieces_.push_back({side, f.kind, std::move(f.bytes)});
      }
    }
  }

  std::unique_ptr<Framing> framing_;
  std::optional<FramingError> error_;
  std::string in_[2], out_[2];
  std::vector<Piece> pieces_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  uint8_t setup = in.byte();
  Protocol protocol = static_cast<Protocol>(setup % 3);
  LineLimits limits;
  if (setup & 0x80) {
    limits.client_command = 16 + in.byte() % 64;
    limits.client_sasl = 32 + in.byte() % 64;
    limits.server_line = 16 + in.byte() % 64;
  }
  Run whole(protocol, limits), cut(protocol, limits), one_line(protocol, limits);
  while (!in.empty()) {
    uint8_t op = in.byte();
    Side side = (op & 1) ? Side::server : Side::client;
    std::string bytes = mailtap::fuzz::next_bytes(in, protocol, side);
    size_t at = bytes.empty() ? 0 : in.byte() % (bytes.size() + 1);
    whole.feed(side, bytes, 0, 0);
    cut.feed(side, bytes, 1, at);
    one_line.feed(side, bytes, 2, 0);
  }
  whole.finish(limits);
  cut.finish(limits);
  one_line.finish(limits);
  // Errors may come at different points only if the input differs; here it does not.
  if (whole.failed() != cut.failed() || whole.failed() != one_line.failed())
    violation("an error in one way of feeding only");
  if (!whole.failed()) {
    if (whole.pieces() != cut.pieces()) violation("a cut changed the frames");
    if (whole.pieces() != one_line.pieces()) violation("one line at a time changed the frames");
  }
  return 0;
}
