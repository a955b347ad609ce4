#include "mailtap/diff/align.h"

#include <algorithm>
#include <climits>

namespace mailtap::diff {
namespace {

constexpr int kGap = -1;

// Needleman-Wunsch on a[a0..a1) x b[b0..b1), appended to `out`.
void align_middle(size_t a0, size_t a1, size_t b0, size_t b1, const Similarity& sim,
                  std::vector<AlignedPair>& out) {
  const size_t n = a1 - a0, m = b1 - b0;
  const size_t width = m + 1;
  std::vector<int> score((n + 1) * width);
  // 0 = diagonal, 1 = up (a only), 2 = left (b only)
  std::vector<unsigned char> move((n + 1) * width);
  for (size_t i = 0; i <= n; ++i) {
    score[i * width] = static_cast<int>(i) * kGap;
    move[i * width] = 1;
  }
  for (size_t j = 0; j <= m; ++j) {
    score[j] = static_cast<int>(j) * kGap;
    move[j] = 2;
  }
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const int s = sim(a0 + i - 1, b0 + j - 1);
      int best = s > 0 ? score[(i - 1) * width + j - 1] + s : INT_MIN;
      unsigned char how = 0;
      // On a tie, the traceback (which runs backwards) takes B's gap first, so that in reading
      // order the A-only steps come before the B-only ones.
      const int left = score[i * width + j - 1] + kGap;
      if (left > best) best = left, how = 2;
      const int up = score[(i - 1) * width + j] + kGap;
      if (up > best) best = up, how = 1;
      score[i * width + j] = best;
      move[i * width + j] = how;
    }
  }
  std::vector<AlignedPair> rev;
  size_t i = n, j = m;
  while (i > 0 || j > 0) {
    const unsigned char how = i == 0 ? 2 : j == 0 ? 1 : move[i * width + j];
    if (how == 0) {
      rev.push_back({a0 + i - 1, b0 + j - 1});
      --i, --j;
    } else if (how == 1) {
      rev.push_back({a0 + i - 1, std::nullopt});
      --i;
    } else {
      rev.push_back({std::nullopt, b0 + j - 1});
      --j;
    }
  }
  std::reverse(rev.begin(), rev.end());
  out.insert(out.end(), rev.begin(), rev.end());
}

}  // namespace

std::vector<AlignedPair> align(size_t n, size_t m, const Similarity& sim, int perfect,
                               size_t max_cells) {
  std::vector<AlignedPair> out;
  size_t prefix = 0;
  while (prefix < n && prefix < m && sim(prefix, prefix) >= perfect) ++prefix;
  size_t suffix = 0;
  while (suffix < n - prefix && suffix < m - prefix &&
         sim(n - 1 - suffix, m - 1 - suffix) >= perfect)
    ++suffix;
  for (size_t k = 0; k < prefix; ++k) out.push_back({k, k});
  const size_t a1 = n - suffix, b1 = m - suffix;
  const size_t rows = a1 - prefix, cols = b1 - prefix;
  if ((rows + 1) * (cols + 1) <= max_cells) {
    align_middle(prefix, a1, prefix, b1, sim, out);
  } else {
    // Too big to align exactly: pair in order, leftovers on their own.
    for (size_t k = 0; k < std::max(rows, cols); ++k) {
      AlignedPair p;
      if (k < rows) p.a = prefix + k;
      if (k < cols) p.b = prefix + k;
      out.push_back(p);
    }
  }
  for (size_t k = suffix; k > 0; --k) out.push_back({n - k, m - k});
  return out;
}

}  // namespace mailtap::diff
