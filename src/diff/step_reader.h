// Internal to src/diff: the per-protocol readers that group a session's lines into steps
// (which server line answers which command) and read the meaning of each step into facets.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mailtap/diff/steps.h"

namespace mailtap::diff::detail {

// One data event, as a reader sees it: what the steps need of it, copied out, so that the
// transcript is read one event at a time and never held whole.
struct Piece {
  bool from_client = false;  // client->server, or mailtap->server (the proxy's own command)
  bool by_proxy = false;     // mailtap wrote these bytes itself
  bool over_tls = false;
  std::string frame;  // line, body, literal, chunk, raw
  std::string bytes;  // exact bytes
  int64_t seq = 0;
  std::optional<int64_t> time_us;
  std::string in_response_to;              // IMAP: the tag the decoder says this line answers
  std::vector<std::string> warning_codes;  // the decoder's warnings on the line
};

struct Draft {
  Step step;
  std::vector<Piece> pieces;
};

// Common helpers.
std::string chomp(std::string_view line);  // without the trailing CRLF / LF
std::string upper(std::string_view s);
std::string first_word(std::string_view s);
// The rest of `s` after its first word and the spaces that follow.
std::string after_first_word(std::string_view s);
// The line ends with an IMAP literal announcement: {123}, {123+} or ~{123}.
bool ends_with_literal(std::string_view line);
// Message content as normalised lines: every rule applied per line; long content is cut with a
// final line saying how much was left out.
std::vector<std::string> content_lines(std::string_view bytes, const Normalizer& n);
// Capability tokens kept unless a user rule drops them.
void insert_element(std::set<std::string>& set, std::string element, const Normalizer& n);
// SASL mechanisms whose server challenges change with every session.
bool sasl_challenge_is_volatile(std::string_view mechanism);

class Reader {
 public:
  Reader(std::vector<Draft>& drafts, const Normalizer& n) : drafts_(drafts), n_(n) {}
  virtual ~Reader() = default;
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  virtual void client(const Piece& p) = 0;
  virtual void server(const Piece& p) = 0;
  // Fills verb, key, label and facets of a greeting, command or unsolicited draft.
  virtual void interpret(Draft& d) const = 0;
  // The index of the oldest draft that may still receive a piece: every draft before it is
  // complete and can be interpreted (and its pieces freed) while the transcript is still being
  // read. Never more than the last draft's index.
  virtual size_t oldest_open() const = 0;

 protected:
  // Appends a draft for a step that starts with `first`; returns its index.
  size_t open(StepKind kind, const Piece& first);
  // The smallest of `candidates` and the last draft's index (a BDAT chunk, an unsolicited line
  // may still join the last draft).
  size_t oldest_of(std::initializer_list<std::optional<size_t>> candidates) const {
    size_t oldest = drafts_.empty() ? 0 : drafts_.size() - 1;
    for (const auto& c : candidates)
      if (c && *c < oldest) oldest = *c;
    return oldest;
  }
  // True once a greeting or command step exists (the next unexpected server line is not a
  // greeting).
  bool any_protocol_step() const;
  Draft& at(size_t i) { return drafts_[i]; }

  std::vector<Draft>& drafts_;
  const Normalizer& n_;
};

std::unique_ptr<Reader> make_smtp_reader(std::vector<Draft>& drafts, const Normalizer& n);
std::unique_ptr<Reader> make_imap_reader(std::vector<Draft>& drafts, const Normalizer& n);
std::unique_ptr<Reader> make_pop3_reader(std::vector<Draft>& drafts, const Normalizer& n);

}  // namespace mailtap::diff::detail
