// What an IMAP session decoder remembers between lines: the capabilities the server announced, the
// commands waiting for their completion (with what their untagged responses said so far), and
// which command an untagged response most likely answers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mailtap/core/clock.h"
#include "mailtap/decode/imap_response.h"

namespace mailtap::decode::imap {

class Capabilities {
 public:
  void set(const std::vector<std::string>& names);  // replaces the whole list
  void clear() {
    names_.clear();
    known_ = false;
  }
  bool known() const { return known_; }
  bool has(std::string_view name) const;             // case-insensitive
  std::vector<std::string> auth_mechanisms() const;  // the X of every AUTH=X
  const std::vector<std::string>& names() const { return names_; }

 private:
  std::vector<std::string> names_;
  bool known_ = false;
};

// A command sent and not yet completed.
struct PendingCommand {
  std::string tag;
  std::string name;  // "FETCH", "UID FETCH"...
  Microseconds sent_us = 0;
  std::string mailbox;                      // SELECT/EXAMINE/STATUS...: the mailbox named
  std::string user;                         // LOGIN/AUTHENTICATE: the user, when known
  bool waits_for_literal_go_ahead = false;  // a synchronizing literal not yet invited by "+"
  // Untagged data attributed to this command so far.
  uint64_t untagged = 0;
  uint64_t fetched = 0;  // FETCH responses
  uint64_t listed = 0;   // LIST/LSUB responses
  uint64_t matches = 0;  // SEARCH/ESEARCH count
  // SELECT/EXAMINE: FLAGS, EXISTS... (null until the first is seen: no allocation per command)
  nlohmann::json mailbox_state;
};

class PendingCommands {
 public:
  static constexpr size_t kMaxPending = 1000;
  // A list longer than kIndexAbove looks tags up in an index (a pipelined burst would otherwise
  // cost O(N^2) compares); one that gets shorter than kIndexBelow drops it and scans again, so a
  // session with a few commands in flight pays nothing for it. Below ~100 commands a scan is as
  // cheap as the index's upkeep (a node per command, hashing), hence 64 rather than less.
  // Apart from find() and take()'s speed and held_bytes(), nothing shows whether it is there.
  static constexpr size_t kIndexAbove = 64;
  static constexpr size_t kIndexBelow = 32;

  PendingCommands();
  ~PendingCommands();
  PendingCommands(PendingCommands&&) noexcept;
  PendingCommands& operator=(PendingCommands&&) noexcept;

  // Adds a command; false when the oldest one had to be forgotten to stay bounded.
  bool add(PendingCommand command);
  // The oldest pending command with this tag (a client may reuse a tag before its first command
  // completed), or null.
  PendingCommand* find(std::string_view tag);
  // Removes and returns the command find(tag) names.
  std::optional<PendingCommand> take(std::string_view tag);
  // The command an untagged response belongs to: the oldest whose kind produces it, else the
  // oldest still pending; null when nothing is pending (unsolicited data).
  PendingCommand* attribute(const Response& response);
  bool empty() const { return head_ == commands_.size(); }
  // Oldest first. A listed command's tag must not be changed in place (the index knows it).
  std::span<PendingCommand> all() { return {commands_.data() + head_, commands_.size() - head_}; }
  std::span<const PendingCommand> all() const {
    return {commands_.data() + head_, commands_.size() - head_};
  }
  // Bytes the list holds (its index included), for the memory tests.
  size_t held_bytes() const;
  // Whether tags are looked up in the index now (for the tests).
  bool indexed() const { return index_ != nullptr; }

 private:
  struct TagIndex;
  static constexpr size_t kNotFound = static_cast<size_t>(-1);

  size_t scan(std::string_view tag) const;  // the oldest with the tag, or kNotFound
  void drop_oldest();                       // forgets the oldest command
  void retire_oldest();  // moves the start past the oldest (already out of the index)
  void compact();
  void build_index();

  // commands_[head_..] are pending, oldest first. Completions usually come in the order the
  // commands were sent, so the oldest leaves by moving head_ (no shifting of the others); the
  // dead front is reclaimed once it is half the vector. Its memory is given back when no command
  // is pending (an idle session holds none) and shrinks when three quarters of it are unused; a
  // vector, not a deque, so one command costs one allocation (a deque takes three).
  std::vector<PendingCommand> commands_;
  size_t head_ = 0;
  std::unique_ptr<TagIndex> index_;  // only while the list is long
};

// Adds what an untagged response says about the selected mailbox (FLAGS, EXISTS, RECENT and the
// codes UIDVALIDITY, UIDNEXT, UNSEEN, HIGHESTMODSEQ, PERMANENTFLAGS, READ-ONLY/READ-WRITE) to
// `state`. Returns false when the response carries none of these.
bool absorb_mailbox_state(const Response& response, nlohmann::json& state);
// "INBOX: 3 messages, 1 recent, UID validity 1594507084, next UID 4, read-only".
std::string describe_mailbox_state(const std::string& mailbox, const nlohmann::json& state);

// "1.2 ms", "350 us", "2.5 s".
std::string describe_latency(int64_t microseconds);

}  // namespace mailtap::decode::imap
