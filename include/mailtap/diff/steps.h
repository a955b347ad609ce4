// A session read as the sequence `mailtap diff` aligns: one step per client command (with every
// server line that answers it, continuation exchanges included), plus the greeting, each TLS
// handshake and each warning the proxy recorded. Each step carries its meaning as named facets
// (reply status, enhanced code, capability set, normalised text...) that compare() weighs.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "mailtap/core/protocol.h"
#include "mailtap/diff/normalizer.h"

namespace mailtap::diff {

// One comparable aspect of a step. `value` facets compare as strings, `set` facets as sets (order
// and duplicates do not matter), `lines` facets line by line (order matters).
struct Facet {
  enum class Kind { value, set, lines };
  Kind kind = Kind::value;
  std::string value;
  std::set<std::string> items;
  std::vector<std::string> lines;

  bool operator==(const Facet& o) const {
    return kind == o.kind && value == o.value && items == o.items && lines == o.lines;
  }
};

enum class StepKind {
  greeting,     // what the server said before the client said anything
  command,      // a client command and everything that answered it
  tls,          // a TLS handshake completed on one leg
  alert,        // a warning or error the proxy recorded
  unsolicited,  // server lines no command asked for (IMAP EXISTS while idle, SMTP 421...)
};

std::string_view to_string(StepKind k);

struct Step {
  StepKind kind = StepKind::command;
  std::string verb;   // "EHLO", "UID FETCH", "greeting", "TLS server"... (aligns steps loosely)
  std::string key;    // the normalised command (aligns steps exactly)
  std::string label;  // for people: the command line as sent (IMAP tag kept: find it in the file)
  // Display lines of the step (for reports): the first kMaxDisplayLines of each side; the totals
  // count them all.
  std::vector<std::string> client_lines;
  std::vector<std::string> server_lines;
  size_t client_lines_total = 0, server_lines_total = 0;
  static constexpr size_t kMaxDisplayLines = 64;
  std::vector<std::pair<std::string, Facet>> facets;  // in presentation order
  std::optional<int64_t> latency_us;                  // command to first reply
  int64_t seq = 0;        // the transcript "seq" of the first event of the step
  int64_t offset_us = 0;  // time since the session started
  bool tls = false;       // the command travelled over TLS

  const Facet* facet(std::string_view name) const;
  void set_value(const std::string& name, std::string value);
  void set_set(const std::string& name, std::set<std::string> items);
  void set_lines(const std::string& name, std::vector<std::string> lines);
};

// Everything about a session the comparison needs besides its steps.
struct SessionSteps {
  std::string source;  // file name, for messages
  Protocol protocol = Protocol::smtp;
  nlohmann::json header;
  std::vector<Step> steps;
  bool truncated = false;
  // Recorded by `mailtap run`, which is the client itself: the transcript has only the server
  // leg, where a proxy capture has two (client <-> mailtap, mailtap <-> server).
  bool runner = false;
};

// Reads a transcript into steps one event at a time, so that a large transcript need not be held
// in memory as JSON: add() every event after the header, in order, then finish() once.
class StepBuilder {
 public:
  // `normalizer` must outlive the builder.
  StepBuilder(const nlohmann::json& header, const Normalizer& normalizer);
  ~StepBuilder();
  StepBuilder(const StepBuilder&) = delete;
  StepBuilder& operator=(const StepBuilder&) = delete;

  void add(const nlohmann::json& event);
  SessionSteps finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Reads the events of one transcript into steps. Decoder annotations ("decoded") are used where
// present; the raw bytes are always enough, so transcripts from older builds compare too.
SessionSteps build_steps(const nlohmann::json& header, const std::vector<nlohmann::json>& events,
                         const Normalizer& normalizer);

// The protocol a transcript header names (smtp when it names none this build knows).
Protocol header_protocol(const nlohmann::json& header);

// The header is that of a `mailtap run` transcript (a "runner" object, or the listener named
// "mailtap run").
bool is_runner_transcript(const nlohmann::json& header);

}  // namespace mailtap::diff
