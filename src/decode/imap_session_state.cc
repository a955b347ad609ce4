#include "mailtap/decode/imap_session_state.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <string_view>
#include <unordered_map>

#include "sasl_text.h"

namespace mailtap::decode::imap {
namespace {

using nlohmann::json;

bool produces_any(std::string_view command, const Response& r);

bool one_of(std::string_view name, std::initializer_list<std::string_view> names) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// How surely a command of this name produces this untagged response: 2 when it is what the
// command is for, 1 when it may come along (STATUS with LIST-STATUS, FETCH after STORE), 0 not.
int produces(std::string_view command, const Response& r) {
  std::string_view base = command.rfind("UID ", 0) == 0 ? command.substr(4) : command;
  if (r.type == "STATUS") return command == "STATUS" ? 2 : command == "LIST" ? 1 : 0;
  if (r.type == "FETCH") return base == "FETCH" ? 2 : base == "STORE" ? 1 : 0;
  if (r.type == "CAPABILITY" || r.code == "CAPABILITY") {
    return command == "CAPABILITY" ? 2 : produces_any(command, r) ? 1 : 0;
  }
  return produces_any(command, r) ? 2 : 0;
}

// Whether a command of this name is one that produces this untagged response at all.
bool produces_any(std::string_view command, const Response& r) {
  std::string_view base = command.rfind("UID ", 0) == 0 ? command.substr(4) : command;
  const std::string& t = r.type;
  if (t == "CAPABILITY" || r.code == "CAPABILITY") {
    return one_of(command, {"CAPABILITY", "LOGIN", "AUTHENTICATE", "STARTTLS"});
  }
  if (t == "LIST" || t == "XLIST") return one_of(command, {"LIST", "XLIST"});
  if (t == "LSUB") return command == "LSUB";
  if (t == "STATUS") return one_of(command, {"STATUS", "LIST"});
  if (t == "SEARCH" || t == "ESEARCH") return one_of(base, {"SEARCH", "SORT"});
  if (t == "SORT") return base == "SORT";
  if (t == "THREAD") return base == "THREAD";
  if (t == "FETCH") return one_of(base, {"FETCH", "STORE"});
  if (t == "EXPUNGE" || t == "VANISHED") {
    return one_of(base, {"EXPUNGE", "CLOSE", "MOVE"}) || command == "SELECT";
  }
  if (t == "FLAGS" || t == "EXISTS" || t == "RECENT" ||
      one_of(r.code, {"UIDVALIDITY", "UIDNEXT", "UNSEEN", "HIGHESTMODSEQ", "NOMODSEQ",
                      "PERMANENTFLAGS", "CLOSED", "READ-ONLY", "READ-WRITE"})) {
    return one_of(command, {"SELECT", "EXAMINE"});
  }
  if (t == "ID") return command == "ID";
  if (t == "ENABLED") return command == "ENABLE";
  if (t == "NAMESPACE") return command == "NAMESPACE";
  if (t == "BYE") return command == "LOGOUT";
  if (t == "QUOTA" || t == "QUOTAROOT") return one_of(command, {"GETQUOTA", "GETQUOTAROOT"});
  if (t == "ACL" || t == "MYRIGHTS" || t == "LISTRIGHTS") {
    return one_of(command, {"GETACL", "MYRIGHTS", "LISTRIGHTS"});
  }
  if (t == "METADATA") return command == "GETMETADATA";
  return false;
}

std::string number_text(const json& v) {
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

std::optional<uint64_t> parse_number(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

}  // namespace

void Capabilities::set(const std::vector<std::string>& names) {
  names_.clear();
  for (const auto& n : names) {
    if (names_.size() >= 500) break;  // bounded, whatever the server sends
    names_.push_back(n.substr(0, 200));
  }
  known_ = true;
}

bool Capabilities::has(std::string_view name) const {
  return std::any_of(names_.begin(), names_.end(),
                     [&](const std::string& n) { return text::iequals(n, name); });
}

std::vector<std::string> Capabilities::auth_mechanisms() const {
  std::vector<std::string> out;
  for (const auto& n : names_) {
    if (text::istarts_with(n, "AUTH=")) out.push_back(text::upper(n.substr(5)));
  }
  return out;
}

// Where each tag sits in a long list. Every command gets a sequence number when it joins (rising
// with its place in the list, so a binary search over them finds its position, which moves when
// the list compacts or a command leaves from the middle). The commands sharing a tag form a chain,
// oldest first: the map names a tag's oldest and newest command, and each command the next one
// with its tag. Only a chain's oldest ever leaves (take() and find() name the oldest, and the
// oldest of the whole list is the oldest of its tag), so the chain only loses its head.
struct PendingCommands::TagIndex {
  static constexpr uint64_t kNone = UINT64_MAX;
  struct Link {
    uint64_t seq = 0;
    uint64_t next_same = kNone;  // seq of the next command with the same tag
  };
  struct Chain {
    uint64_t oldest;
    uint64_t newest;
  };
  struct TagHash : std::hash<std::string_view> {
    using is_transparent = void;
  };

  std::unordered_map<std::string, Chain, TagHash, std::equal_to<>> chains;
  std::vector<Link> links;  // links[i] belongs to commands_[i] (the dead front has filler)
  uint64_t next_seq = 0;

  size_t position(uint64_t seq, size_t head) const {
    auto it = std::lower_bound(links.begin() + static_cast<std::ptrdiff_t>(head), links.end(), seq,
                               [](const Link& l, uint64_t s) { return l.seq < s; });
    return static_cast<size_t>(it - links.begin());
  }
  // The command just appended to the list, at links.size().
  void append(const std::string& tag, size_t head) {
    const uint64_t seq = next_seq++;
    auto [it, added] = chains.try_emplace(tag, Chain{seq, seq});
    if (!added) {
      links[position(it->second.newest, head)].next_same = seq;
      it->second.newest = seq;
    }
    links.push_back({seq, kNone});
  }
  size_t oldest(std::string_view tag, size_t head) const {
    auto it = chains.find(tag);
    return it == chains.end() ? kNotFound : position(it->second.oldest, head);
  }
  // The oldest command with `tag`, forgotten by the index (its caller removes it from the list).
  size_t unlink_oldest(std::string_view tag, size_t head) {
    auto it = chains.find(tag);
    if (it == chains.end()) return kNotFound;
    const size_t i = position(it->second.oldest, head);
    if (links[i].next_same == kNone) {
      chains.erase(it);
    } else {
      it->second.oldest = links[i].next_same;
    }
    return i;
  }
  size_t held_bytes() const {
    // A node holds the key, the chain and the next pointer (the hash is not cached).
    constexpr size_t kNode = sizeof(decltype(chains)::value_type) + sizeof(void*);
    return sizeof(TagIndex) + links.capacity() * sizeof(Link) +
           chains.bucket_count() * sizeof(void*) + chains.size() * kNode;
  }
};

PendingCommands::PendingCommands() = default;
PendingCommands::~PendingCommands() = default;
PendingCommands::PendingCommands(PendingCommands&&) noexcept = default;
PendingCommands& PendingCommands::operator=(PendingCommands&&) noexcept = default;

bool PendingCommands::add(PendingCommand command) {
  bool kept_all = true;
  if (commands_.size() - head_ >= kMaxPending) {
    drop_oldest();
    compact();  // a flood of unanswered commands must not grow the dead front without end
    kept_all = false;
  }
  commands_.push_back(std::move(command));
  if (index_) {
    index_->append(commands_.back().tag, head_);
  } else if (commands_.size() - head_ > kIndexAbove) {
    build_index();
  }
  return kept_all;
}

void PendingCommands::build_index() {
  index_ = std::make_unique<TagIndex>();
  index_->links.reserve(commands_.capacity());
  index_->links.resize(head_);
  for (size_t i = head_; i < commands_.size(); ++i) index_->append(commands_[i].tag, head_);
}

size_t PendingCommands::scan(std::string_view tag) const {
  for (size_t i = head_; i < commands_.size(); ++i) {
    if (commands_[i].tag == tag) return i;
  }
  return kNotFound;
}

PendingCommand* PendingCommands::find(std::string_view tag) {
  const size_t i = index_ ? index_->oldest(tag, head_) : scan(tag);
  return i == kNotFound ? nullptr : &commands_[i];
}

std::optional<PendingCommand> PendingCommands::take(std::string_view tag) {
  std::optional<PendingCommand> c;  // one object for every return: moved out once (NRVO)
  const size_t i = index_ ? index_->unlink_oldest(tag, head_) : scan(tag);
  if (i == kNotFound) return c;
  c.emplace(std::move(commands_[i]));
  if (i == head_) {
    retire_oldest();
  } else {
    commands_.erase(commands_.begin() + static_cast<std::ptrdiff_t>(i));
    if (index_) index_->links.erase(index_->links.begin() + static_cast<std::ptrdiff_t>(i));
  }
  compact();
  return c;
}

void PendingCommands::drop_oldest() {
  if (index_) index_->unlink_oldest(commands_[head_].tag, head_);
  retire_oldest();
}

void PendingCommands::retire_oldest() {
  commands_[head_] = PendingCommand{};  // its strings go now, not at the next compaction
  ++head_;
}

void PendingCommands::compact() {
  const size_t live = commands_.size() - head_;
  if (index_ && live < kIndexBelow) index_.reset();
  if (live == 0) {
    std::vector<PendingCommand>().swap(commands_);
    head_ = 0;
    return;
  }
  const bool mostly_unused = commands_.capacity() > 16 && live * 4 < commands_.capacity();
  if (mostly_unused || (head_ >= 32 && head_ * 2 >= commands_.size())) {
    commands_.erase(commands_.begin(), commands_.begin() + static_cast<std::ptrdiff_t>(head_));
    if (index_) {
      index_->links.erase(index_->links.begin(),
                          index_->links.begin() + static_cast<std::ptrdiff_t>(head_));
    }
    head_ = 0;
  }
  // After a pipelined burst, give the room back while a few commands (IDLE) stay open.
  if (mostly_unused) {
    commands_.shrink_to_fit();
    if (index_) index_->links.shrink_to_fit();
  }
}

size_t PendingCommands::held_bytes() const {
  return commands_.capacity() * sizeof(PendingCommand) + (index_ ? index_->held_bytes() : 0);
}

PendingCommand* PendingCommands::attribute(const Response& response) {
  if (empty()) return nullptr;
  PendingCommand* best = &commands_[head_];
  int best_rank = 0;
  for (auto& c : all()) {
    int rank = produces(c.name, response);
    if (rank > best_rank) {
      best = &c;
      best_rank = rank;
    }
  }
  return best;
}

bool absorb_mailbox_state(const Response& r, json& state) {
  if (r.type == "FLAGS" && !r.values.empty()) {
    json flags = json::array();
    for (const Value& f : r.values[0].items) flags.push_back(text::json_safe(f.str(), 100));
    state["flags"] = flags;
    return true;
  }
  if ((r.type == "EXISTS" || r.type == "RECENT") && r.number) {
    state[r.type == "EXISTS" ? "exists" : "recent"] = *r.number;
    return true;
  }
  if (r.code.empty()) return false;
  if (r.code == "UIDVALIDITY" || r.code == "UIDNEXT" || r.code == "UNSEEN" ||
      r.code == "HIGHESTMODSEQ") {
    const char* key = r.code == "UIDVALIDITY" ? "uidvalidity"
                      : r.code == "UIDNEXT"   ? "uidnext"
                      : r.code == "UNSEEN"    ? "unseen"
                                              : "highestmodseq";
    auto n = parse_number(r.code_args);
    state[key] = n ? json(*n) : json(text::json_safe(r.code_args, 40));
    return true;
  }
  if (r.code == "NOMODSEQ") {
    state["highestmodseq"] = nullptr;
    return true;
  }
  if (r.code == "PERMANENTFLAGS") {
    state["permanentflags"] = text::json_safe(r.code_args, 300);
    return true;
  }
  if (r.code == "READ-ONLY" || r.code == "READ-WRITE") {
    state["access"] = r.code == "READ-ONLY" ? "read-only" : "read-write";
    return true;
  }
  return false;
}

std::string describe_mailbox_state(const std::string& mailbox, const json& state) {
  std::vector<std::string> parts;
  if (state.contains("exists")) {
    uint64_t n = state["exists"].get<uint64_t>();
    parts.push_back(std::to_string(n) + (n == 1 ? " message" : " messages"));
  }
  if (state.contains("recent")) parts.push_back(number_text(state["recent"]) + " recent");
  if (state.contains("unseen")) parts.push_back("first unseen " + number_text(state["unseen"]));
  if (state.contains("uidvalidity")) {
    parts.push_back("UID validity " + number_text(state["uidvalidity"]));
  }
  if (state.contains("uidnext")) parts.push_back("next UID " + number_text(state["uidnext"]));
  if (state.contains("highestmodseq") && !state["highestmodseq"].is_null()) {
    parts.push_back("highest mod-sequence " + number_text(state["highestmodseq"]));
  }
  if (state.contains("permanentflags") && state["permanentflags"] == "()") {
    parts.push_back("no permanent flag changes");
  }
  if (state.contains("access")) parts.push_back(state["access"].get<std::string>());
  std::string out = "\"" + mailbox + "\"";
  for (size_t i = 0; i < parts.size(); ++i) out += (i == 0 ? ": " : ", ") + parts[i];
  return out;
}

std::string describe_latency(int64_t us) {
  char buf[64];
  if (us < 0) return "an unknown time";
  if (us < 1000) {
    std::snprintf(buf, sizeof buf, "%lld us", static_cast<long long>(us));
  } else if (us < 1000000) {
    std::snprintf(buf, sizeof buf, "%.1f ms", static_cast<double>(us) / 1000.0);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f s", static_cast<double>(us) / 1e6);
  }
  return buf;
}

}  // namespace mailtap::decode::imap
