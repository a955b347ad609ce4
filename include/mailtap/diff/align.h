// Global sequence alignment (Needleman-Wunsch) of two sessions' steps, so that one extra or
// missing command in either session does not shift everything after it out of place.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <vector>

namespace mailtap::diff {

// One aligned position: both indices for a pair, one of them empty for a step only one side has.
struct AlignedPair {
  std::optional<size_t> a;
  std::optional<size_t> b;
};

// How well element i of A matches element j of B: > 0 they belong together (higher is better),
// <= 0 they should not be paired. Gaps cost 1 each; a score below -2 therefore never beats
// leaving both out.
using Similarity = std::function<int(size_t i, size_t j)>;

// The alignment with the best total score; among equal ones, pairs come before gaps and A's gaps
// before B's, so the result is deterministic. Common prefixes and suffixes of perfect matches
// (score >= perfect) are taken as they are; the middle is aligned with O(n*m) time and memory,
// falling back to pairing in order when n*m exceeds `max_cells`.
std::vector<AlignedPair> align(size_t n, size_t m, const Similarity& similarity, int perfect,
                               size_t max_cells = 16u * 1024 * 1024);

}  // namespace mailtap::diff
