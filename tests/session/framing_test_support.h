// Framing tests in the manner of Envoy's codec tests: a script of (side, bytes) steps is fed whole,
// split at every byte of every step, one byte at a time, and with consecutive same-side steps
// coalesced; every way must give the same frames, and those must be the expected ones. Frames
// are compared per side after merging adjacent pieces of a literal, body or chunk, which may be
// cut anywhere; lines are never merged, a line frame is always one whole line.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mailtap/session/framing.h"
#include "support/session_invariants.h"

namespace mailtap::session::test {

struct Step {
  Side side;
  std::string bytes;
};
using Script = std::vector<Step>;

struct Piece {
  Side side;
  transcript::FrameKind kind;
  std::string bytes;
  bool operator==(const Piece&) const = default;
};

inline Piece cl(std::string b) {
  return {Side::client, transcript::FrameKind::line, std::move(b)};
}
inline Piece sl(std::string b) {
  return {Side::server, transcript::FrameKind::line, std::move(b)};
}
inline Piece cbody(std::string b) {
  return {Side::client, transcript::FrameKind::body, std::move(b)};
}
inline Piece sbody(std::string b) {
  return {Side::server, transcript::FrameKind::body, std::move(b)};
}
inline Piece clit(std::string b) {
  return {Side::client, transcript::FrameKind::literal, std::move(b)};
}
inline Piece slit(std::string b) {
  return {Side::server, transcript::FrameKind::literal, std::move(b)};
}
inline Piece cchunk(std::string b) {
  return {Side::client, transcript::FrameKind::chunk, std::move(b)};
}

inline std::string describe(const Piece& p) {
  return std::string(p.side == Side::client ? "C " : "S ") + std::string(to_string(p.kind)) +
         " \"" + printable(p.bytes, 400) + "\"";
}

inline std::string describe(const std::vector<Piece>& pieces) {
  std::string out;
  for (const auto& p : pieces) out += "    " + describe(p) + "\n";
  return out;
}

struct FramingRun {
  std::vector<Piece> pieces;  // merged as described above
  std::optional<FramingError> error;
  std::string pending[2];  // take_pending after the script
};

// Feeds `script`, cutting step `split_step` at `split_at` (0: no cut), or every step into single
// bytes when `bytewise`.
inline FramingRun run_framing(Protocol protocol, const Script& script, const LineLimits& limits,
                              size_t split_step = SIZE_MAX, size_t split_at = 0,
                              bool bytewise = false) {
  FramingRun run;
  auto framing = make_framing(protocol, limits);
  std::vector<Frame> frames;
  auto add = [&](Side side) {
    for (auto& f : frames) {
      EXPECT_FALSE(f.bytes.empty()) << "an empty frame";
      if (f.kind == transcript::FrameKind::line) {
        EXPECT_EQ(f.bytes.back(), '\n') << "a line frame without its line end";
        EXPECT_EQ(f.bytes.find('\n'), f.bytes.size() - 1) << "a line frame with two lines";
      }
      bool merge = !run.pieces.empty() && f.kind != transcript::FrameKind::line &&
                   run.pieces.back().side == side && run.pieces.back().kind == f.kind;
      if (merge) {
        run.pieces.back().bytes += f.bytes;
      } else {
        run.pieces.push_back({side, f.kind, std::move(f.bytes)});
      }
    }
    frames.clear();
  };
  auto feed = [&](Side side, std::string_view bytes) {
    if (run.error) return;
    run.error = framing->feed(side, bytes, frames);
    add(side);
  };
  for (size_t n = 0; n < script.size(); ++n) {
    const Step& s = script[n];
    if (bytewise) {
      for (char c : s.bytes) feed(s.side, std::string_view(&c, 1));
    } else if (n == split_step && split_at > 0 && split_at < s.bytes.size()) {
      feed(s.side, std::string_view(s.bytes).substr(0, split_at));
      feed(s.side, std::string_view(s.bytes).substr(split_at));
    } else {
      feed(s.side, s.bytes);
    }
  }
  run.pending[0] = framing->take_pending(Side::client);
  run.pending[1] = framing->take_pending(Side::server);
  return run;
}

inline Script coalesce(const Script& script) {
  Script out;
  for (const auto& s : script) {
    if (!out.empty() && out.back().side == s.side)
      out.back().bytes += s.bytes;
    else
      out.push_back(s);
  }
  return out;
}

// Every way of feeding `script` gives `expected` (and no error, and nothing pending).
inline void expect_frames(Protocol protocol, const Script& script,
                          const std::vector<Piece>& expected, const LineLimits& limits = {}) {
  auto check = [&](const FramingRun& run, const std::string& how) {
    if (run.error) {
      ADD_FAILURE() << how << ": error " << run.error->code << ": " << run.error->message;
      return false;
    }
    if (run.pieces != expected) {
      ADD_FAILURE() << how << ": frames differ\n  expected:\n"
                    << describe(expected) << "  got:\n"
                    << describe(run.pieces);
      return false;
    }
    if (!run.pending[0].empty() || !run.pending[1].empty()) {
      ADD_FAILURE() << how << ": bytes left pending: \"" << printable(run.pending[0]) << "\" / \""
                    << printable(run.pending[1]) << "\"";
      return false;
    }
    return true;
  };
  if (!check(run_framing(protocol, script, limits), "whole")) return;
  if (!check(run_framing(protocol, script, limits, SIZE_MAX, 0, true), "byte by byte")) return;
  if (!check(run_framing(protocol, coalesce(script), limits), "coalesced")) return;
  for (size_t n = 0; n < script.size(); ++n)
    for (size_t at = 1; at < script[n].bytes.size(); ++at)
      if (!check(run_framing(protocol, script, limits, n, at),
                 "step " + std::to_string(n) + " split at " + std::to_string(at)))
        return;
}

// Bytes in equal bytes out: every frame's bytes, concatenated per side, plus what is pending,
// is what was fed.
inline void expect_conservation(Protocol protocol, const Script& script) {
  FramingRun run = run_framing(protocol, script, {});
  ASSERT_FALSE(run.error) << run.error->message;
  std::string in[2], out[2];
  for (const auto& s : script) in[s.side == Side::client ? 0 : 1] += s.bytes;
  for (const auto& p : run.pieces) out[p.side == Side::client ? 0 : 1] += p.bytes;
  EXPECT_EQ(out[0] + run.pending[0], in[0]);
  EXPECT_EQ(out[1] + run.pending[1], in[1]);
}

}  // namespace mailtap::session::test
