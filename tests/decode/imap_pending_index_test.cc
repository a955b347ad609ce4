// The IMAP decoder's pending list looks tags up in an index once it is long (PendingCommands'
// TagIndex). These tests drive it and a trivially correct reference (a vector scanned from the
// front) with the same random operations, comparing every answer and the whole list after every
// step: reused tags, completions in and out of order, the 1000-command cap, and lists that grow
// past the index's threshold and shrink below it again and again.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "imap_test_support.h"
#include "mailtap/decode/imap_decoder.h"
#include "mailtap/decode/imap_session_state.h"

namespace mailtap::decode {
namespace {

using imap::PendingCommand;
using imap::PendingCommands;

// What the list must behave like: oldest first, the first match of a tag is the one found and
// taken, the oldest goes when the cap is reached.
class ReferenceList {
 public:
  struct Entry {
    std::string tag;
    Microseconds id;  // unique per command: tells two commands with the same tag apart
  };
  bool add(std::string tag, Microseconds id) {
    bool kept_all = true;
    if (entries_.size() >= PendingCommands::kMaxPending) {
      entries_.erase(entries_.begin());
      kept_all = false;
    }
    entries_.push_back({std::move(tag), id});
    return kept_all;
  }
  std::optional<Microseconds> find(const std::string& tag) const {
    for (const auto& e : entries_) {
      if (e.tag == tag) return e.id;
    }
    return std::nullopt;
  }
  std::optional<Microseconds> take(const std::string& tag) {
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->tag != tag) continue;
      Microseconds id = it->id;
      entries_.erase(it);
      return id;
    }
    return std::nullopt;
  }
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
};

PendingCommand command(std::string tag, Microseconds id) {
  PendingCommand c;
  c.tag = std::move(tag);
  c.name = "NOOP";
  c.sent_us = id;
  return c;
}

std::optional<Microseconds> id_of(const PendingCommand* c) {
  if (c == nullptr) return std::nullopt;
  return c->sent_us;
}

std::optional<Microseconds> id_of(const std::optional<PendingCommand>& c) {
  if (!c) return std::nullopt;
  return c->sent_us;
}

// The whole list, in order, and the found command of every tag it holds.
void expect_same(PendingCommands& list, const ReferenceList& ref, size_t step) {
  const auto all = list.all();
  ASSERT_EQ(all.size(), ref.entries().size()) << "step " << step;
  ASSERT_EQ(list.empty(), ref.entries().empty()) << "step " << step;
  for (size_t i = 0; i < all.size(); ++i) {
    ASSERT_EQ(all[i].tag, ref.entries()[i].tag) << "step " << step << " position " << i;
    ASSERT_EQ(all[i].sent_us, ref.entries()[i].id) << "step " << step << " position " << i;
  }
  // The first entry of each tag is the one find() must name (one pass, not a scan per tag).
  std::unordered_map<std::string, Microseconds> first;
  for (const auto& e : ref.entries()) first.try_emplace(e.tag, e.id);
  for (const auto& [tag, id] : first) {
    ASSERT_EQ(id_of(list.find(tag)), id) << "step " << step << " tag " << tag;
  }
  if (ref.entries().size() > PendingCommands::kIndexAbove) {
    ASSERT_TRUE(list.indexed()) << "step " << step;  // the index is what is being tested
  }
  if (ref.entries().empty()) {
    ASSERT_EQ(list.held_bytes(), 0u) << "step " << step;
  }
}

struct Phase {
  size_t target;     // grow or shrink towards this many pending commands
  size_t tag_pool;   // tags drawn from this many names (small: many reused), 0 = always new
  bool in_order;     // completions mostly oldest first
  size_t max_steps;  // stop the phase after this many operations
};

struct Coverage {
  int built = 0;    // times the index was built
  int dropped = 0;  // and dropped
  int capped = 0;   // adds that forgot the oldest command
};

// Runs `phases` against both lists.
Coverage run_differential(uint32_t seed, const std::vector<Phase>& phases) {
  std::mt19937 rng(seed);
  PendingCommands list;
  ReferenceList ref;
  Microseconds next_id = 1;
  size_t step = 0;
  Coverage seen;
  bool was_indexed = false;
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  auto tag_from = [&](size_t pool) {
    if (pool == 0) return "n" + std::to_string(next_id);
    return "t" + std::to_string(pick(pool));
  };
  for (const Phase& phase : phases) {
    for (size_t s = 0; s < phase.max_steps; ++s, ++step) {
      const size_t size = ref.entries().size();
      const bool grow = size < phase.target;
      const size_t roll = pick(100);
      if (roll < 10) {
        // A lookup of a tag that may or may not be pending.
        std::string tag = tag_from(phase.tag_pool == 0 ? 50 : phase.tag_pool + 3);
        EXPECT_EQ(id_of(list.find(tag)), ref.find(tag)) << "step " << step << " find " << tag;
      } else if (roll < 15) {
        // A completion for a tag nobody sent, or sent long ago.
        std::string tag = roll < 13 ? "x" + std::to_string(pick(1000)) : tag_from(phase.tag_pool);
        EXPECT_EQ(id_of(list.take(tag)), ref.take(tag)) << "step " << step << " take " << tag;
      } else if (grow ? roll < 80 : roll < 25) {
        std::string tag = tag_from(phase.tag_pool);
        Microseconds id = next_id++;
        const bool kept_all = ref.add(tag, id);
        EXPECT_EQ(list.add(command(tag, id)), kept_all) << "step " << step << " add";
        if (!kept_all) ++seen.capped;
      } else if (size > 0) {
        // The completion of a pending command: the oldest one, or any one.
        size_t at = phase.in_order && pick(10) < 8 ? 0 : pick(size);
        std::string tag = ref.entries()[at].tag;
        EXPECT_EQ(id_of(list.take(tag)), ref.take(tag)) << "step " << step << " take " << tag;
      }
      expect_same(list, ref, step);
      if (::testing::Test::HasFatalFailure() || ::testing::Test::HasNonfatalFailure()) {
        return seen;
      }
      if (list.indexed() != was_indexed) (list.indexed() ? seen.built : seen.dropped)++;
      was_indexed = list.indexed();
      if (!grow && size == 0 && phase.target == 0) break;
    }
  }
  return seen;
}

TEST(ImapPendingIndex, MatchesAReferenceListAcrossThresholdCrossings) {
  // Up and down around the threshold many times, with few tags (many reused) and with new ones.
  constexpr size_t kAbove = PendingCommands::kIndexAbove;
  std::vector<Phase> phases;
  for (int i = 0; i < 40; ++i) {
    phases.push_back({kAbove + 6 + static_cast<size_t>(i % 7) * 5, i % 3 == 0 ? 0u : 12u,
                      i % 2 == 0, 4 * kAbove});
    phases.push_back({static_cast<size_t>(i % 4), i % 3 == 1 ? 0u : 12u, i % 2 == 1, 4 * kAbove});
  }
  for (uint32_t seed : {1u, 2u, 3u}) {
    const Coverage seen = run_differential(seed, phases);
    ASSERT_FALSE(HasFailure()) << "seed " << seed;
    EXPECT_GE(seen.built, 20) << "seed " << seed;  // the test really went through the index
    EXPECT_GE(seen.dropped, 20) << "seed " << seed;
  }
}

TEST(ImapPendingIndex, MatchesAReferenceListAtTheCap) {
  // Past the 1000-command cap (the oldest are dropped while reused tags are pending), then down.
  std::vector<Phase> phases = {
      {1200, 0, true, 1800},  {1200, 300, false, 2500}, {400, 300, false, 1500},
      {1200, 40, true, 2500}, {0, 40, false, 3000},     {1200, 5, true, 3000},
      {0, 5, true, 3000},
  };
  for (uint32_t seed : {7u, 8u}) {
    const Coverage seen = run_differential(seed, phases);
    ASSERT_FALSE(HasFailure()) << "seed " << seed;
    EXPECT_GE(seen.built, 2) << "seed " << seed;
    EXPECT_GE(seen.dropped, 1) << "seed " << seed;
    EXPECT_GE(seen.capped, 1000) << "seed " << seed;  // long stretches at the cap
  }
}

TEST(ImapPendingIndex, ReusedTagIsFoundAndTakenOldestFirst) {
  PendingCommands list;
  // "a" three times among the commands of a list long enough for the index: a chain of three.
  const size_t n = PendingCommands::kIndexAbove + 20;
  const std::vector<size_t> at = {3, n / 2, n - 2};  // the ids of the "a"s are their place + 1
  for (size_t i = 0; i < n; ++i) {
    const bool a = std::find(at.begin(), at.end(), i) != at.end();
    list.add(command(a ? "a" : "c" + std::to_string(i), static_cast<Microseconds>(i + 1)));
  }
  ASSERT_TRUE(list.indexed());
  const auto id = [](size_t place) { return std::optional<Microseconds>(place + 1); };
  EXPECT_EQ(id_of(list.find("a")), id(at[0]));
  EXPECT_EQ(id_of(list.take("a")), id(at[0]));
  EXPECT_EQ(id_of(list.find("a")), id(at[1]));
  list.add(command("a", 1000));  // a fourth at the end of the chain
  EXPECT_EQ(id_of(list.take("a")), id(at[1]));
  EXPECT_EQ(id_of(list.take("a")), id(at[2]));
  EXPECT_EQ(id_of(list.take("a")), 1000);
  EXPECT_EQ(list.find("a"), nullptr);
  EXPECT_EQ(list.all().size(), n - 3);
}

TEST(ImapPendingIndex, CapForgetsTheOldestOfAReusedTag) {
  PendingCommands list;
  list.add(command("a", 1));
  for (Microseconds i = 2; i < 1000; ++i) list.add(command("c" + std::to_string(i), i));
  list.add(command("a", 1000));
  ASSERT_EQ(list.all().size(), PendingCommands::kMaxPending);
  EXPECT_EQ(id_of(list.find("a")), 1);
  EXPECT_FALSE(list.add(command("c1001", 1001)));  // the first "a" goes
  EXPECT_EQ(id_of(list.find("a")), 1000);
  EXPECT_EQ(id_of(list.take("a")), 1000);
  EXPECT_EQ(list.find("a"), nullptr);
}

TEST(ImapPendingIndex, IndexComesAndGoesWithTheListLength) {
  constexpr size_t kAbove = PendingCommands::kIndexAbove, kBelow = PendingCommands::kIndexBelow;
  PendingCommands list;
  EXPECT_EQ(list.held_bytes(), 0u);
  for (size_t i = 0; i < kAbove; ++i) {
    list.add(command("t" + std::to_string(i), static_cast<Microseconds>(i)));
  }
  EXPECT_FALSE(list.indexed()) << "a short list scans";
  const size_t short_bytes = list.held_bytes();
  list.add(command("t" + std::to_string(kAbove), static_cast<Microseconds>(kAbove)));
  EXPECT_TRUE(list.indexed());
  EXPECT_GT(list.held_bytes(), short_bytes) << "the index counts in held_bytes";
  for (size_t i = 0; i <= kAbove - kBelow; ++i) {
    ASSERT_TRUE(list.take("t" + std::to_string(i)).has_value());
  }
  EXPECT_EQ(list.all().size(), kBelow);
  EXPECT_TRUE(list.indexed()) << "kept down to kIndexBelow (no rebuild on every crossing)";
  ASSERT_TRUE(list.take("t" + std::to_string(kAbove)).has_value());
  EXPECT_FALSE(list.indexed());
  while (!list.empty()) ASSERT_TRUE(list.take(list.all().front().tag).has_value());
  EXPECT_EQ(list.held_bytes(), 0u);
}

// Through the decoder: a pipelined burst with a reused tag and out-of-order completions pairs
// every completion with its own command.
TEST(ImapPendingIndex, DecoderPairsALongBurstWithAReusedTag) {
  mailtap::testing::DecoderHarness h(make_imap_decoder({}));
  h.server("* OK ready\r\n");
  h.client("dup SELECT INBOX\r\n");
  const int n = 2 * static_cast<int>(imap::PendingCommands::kIndexAbove);  // the index is used
  for (int i = 0; i < n; ++i) h.client("p" + std::to_string(i) + " NOOP\r\n");
  h.client("dup EXAMINE Archive\r\n");  // the same tag while the first is still pending
  EXPECT_TRUE(h.warned("imap_duplicate_tag"));
  for (int i = n - 1; i >= n / 2; --i) {
    const auto& done = h.server("p" + std::to_string(i) + " OK NOOP done\r\n");
    ASSERT_EQ(done["decoded"].value("command", ""), "NOOP") << done.dump();
  }
  const auto& first = h.server("dup OK SELECT done\r\n");
  EXPECT_EQ(first["decoded"].value("command", ""), "SELECT") << first.dump();
  const auto& second = h.server("dup OK EXAMINE done\r\n");
  EXPECT_EQ(second["decoded"].value("command", ""), "EXAMINE") << second.dump();
  for (int i = 0; i < n / 2; ++i) {
    const auto& done = h.server("p" + std::to_string(i) + " OK NOOP done\r\n");
    ASSERT_EQ(done["decoded"].value("command", ""), "NOOP") << done.dump();
    ASSERT_FALSE(done.contains("warnings")) << done.dump();
  }
  const auto& unknown = h.server("p3 OK again\r\n");
  ASSERT_TRUE(unknown.contains("warnings")) << unknown.dump();
  EXPECT_EQ(unknown["warnings"][0]["code"], "imap_unknown_tag");
}

}  // namespace
}  // namespace mailtap::decode
