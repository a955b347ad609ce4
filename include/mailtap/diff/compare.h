// Compares two sessions by meaning: aligns their steps, then each aligned pair facet by facet
// (values as strings, sets as sets, line lists line by line).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mailtap/diff/align.h"
#include "mailtap/diff/steps.h"

namespace mailtap::diff {

// One line of a line-by-line comparison: ' ' in both, '-' only in A, '+' only in B.
struct LineChange {
  char mark = ' ';
  std::string text;
};

struct FacetDifference {
  std::string facet;
  Facet::Kind kind = Facet::Kind::value;
  bool missing_a = false;  // A's step has no such facet
  bool missing_b = false;
  std::string a, b;                         // value facets
  std::vector<std::string> only_a, only_b;  // set facets
  std::vector<LineChange> lines;            // lines facets: the whole comparison, in order
};

enum class PairStatus { same, changed, only_a, only_b };

std::string_view to_string(PairStatus s);

struct StepPair {
  std::optional<size_t> a, b;  // indices into SessionDiff::a.steps / b.steps
  PairStatus status = PairStatus::same;
  std::vector<FacetDifference> differences;
};

struct HeaderDifference {
  std::string field;
  std::string a, b;
};

struct SessionDiff {
  SessionSteps a, b;
  std::vector<HeaderDifference> header;
  std::vector<StepPair> pairs;
  size_t same = 0, changed = 0, only_a = 0, only_b = 0;
  // What was deliberately not compared, and why (not differences): e.g. a proxy capture's
  // client-leg TLS handshake against a `mailtap run` transcript, which has no client leg.
  std::vector<std::string> notes;

  bool identical() const { return header.empty() && changed == 0 && only_a == 0 && only_b == 0; }
};

// Alignment score of two steps: 3 same key, 1 same verb (the command changed), -3 otherwise.
int step_similarity(const Step& a, const Step& b);
inline constexpr int kPerfectStepMatch = 3;

// Compares two facets with the same name; nullopt when they are equal.
std::optional<FacetDifference> compare_facets(const std::string& name, const Facet* a,
                                              const Facet* b);

// Line-by-line comparison of two line lists (aligned, so an inserted line does not shift the
// rest).
std::vector<LineChange> compare_lines(const std::vector<std::string>& a,
                                      const std::vector<std::string>& b);

// Aligns and compares two sessions. When exactly one of them was recorded by `mailtap run` (one
// leg: the runner is the client) and the other by the proxy (two legs), only the legs that
// correspond are compared: the proxy's client-leg TLS handshakes and its client TLS mode are left
// out and named in `notes`.
SessionDiff compare_sessions(SessionSteps a, SessionSteps b);

}  // namespace mailtap::diff
