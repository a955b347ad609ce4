// Helpers for the diff and report tests: hand-built sessions (a few lines of protocol, as the
// proxy would record them) and the real captures kept in tests/diff/data.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mailtap/diff/compare.h"
#include "mailtap/diff/normalizer.h"
#include "mailtap/diff/steps.h"
#include "mailtap/transcript/transcript_reader.h"

namespace mailtap::diff::testing {

// Builds a transcript event by event: c() a client line, s() a server line (CRLF added).
class SessionBuilder {
 public:
  explicit SessionBuilder(const std::string& protocol) {
    header_ = {{"type", "session"},
               {"format", "mailtap-transcript"},
               {"version", 1},
               {"session", "s1"},
               {"protocol", protocol},
               {"client", "127.0.0.1:40000"},
               {"t", 1'000'000},
               {"started", "1970-01-01T00:00:01Z"},
               {"listener",
                {{"name", "l"},
                 {"upstream", "127.0.0.1:25"},
                 {"client_tls", "plain"},
                 {"upstream_tls", "plain"}}}};
  }
  SessionBuilder& c(const std::string& line, const std::string& frame = "line") {
    return data("client", "server", frame, frame == "line" ? line + "\r\n" : line);
  }
  SessionBuilder& s(const std::string& line, const std::string& frame = "line") {
    return data("server", "client", frame, frame == "line" ? line + "\r\n" : line);
  }
  SessionBuilder& data(const std::string& from, const std::string& to, const std::string& frame,
                       const std::string& bytes) {
    events_.push_back({{"type", "data"},
                       {"from", from},
                       {"to", to},
                       {"frame", frame},
                       {"tls", tls_},
                       {"text", bytes},
                       {"len", bytes.size()},
                       {"t", tick()},
                       {"seq", ++seq_}});
    return *this;
  }
  SessionBuilder& tls(const std::string& leg, const std::string& version = "TLSv1.3",
                      nlohmann::json cert = nullptr) {
    nlohmann::json e = {{"type", "tls"},      {"leg", leg},
                        {"version", version}, {"cipher", "TLS_AES_256_GCM_SHA384"},
                        {"t", tick()},        {"seq", ++seq_}};
    if (!cert.is_null()) e["peer_certificate"] = cert;
    events_.push_back(e);
    tls_ = true;
    return *this;
  }
  SessionBuilder& warning(const std::string& code, const std::string& message) {
    events_.push_back({{"type", "warning"},
                       {"code", code},
                       {"message", message},
                       {"t", tick()},
                       {"seq", ++seq_}});
    return *this;
  }
  // Makes this a `mailtap run` transcript (as src/run/run_recorder.cc writes its header): the
  // runner is the client, with one leg, to the server, whose TLS mode both header fields name.
  SessionBuilder& runner(const std::string& tls_mode = "plain") {
    header_["listener"] = {{"name", "mailtap run"},
                           {"upstream", "127.0.0.1:25"},
                           {"client_tls", tls_mode},
                           {"upstream_tls", tls_mode},
                           {"listen", ""}};
    header_["runner"] = {{"script", "capture.jsonl"}};
    return *this;
  }
  SessionBuilder& tls_modes(const std::string& client, const std::string& upstream) {
    header_["listener"]["client_tls"] = client;
    header_["listener"]["upstream_tls"] = upstream;
    return *this;
  }
  // The last event, to add decoder fields to it.
  nlohmann::json& last() { return events_.back(); }

  const nlohmann::json& header() const { return header_; }
  const std::vector<nlohmann::json>& events() const { return events_; }
  SessionSteps steps(const NormalizeOptions& options = {}) const {
    Normalizer n(header_protocol(header_), options);
    return build_steps(header_, events_, n);
  }

 private:
  int64_t tick() { return t_ += 1000; }
  nlohmann::json header_;
  std::vector<nlohmann::json> events_;
  int64_t t_ = 1'000'000;
  int seq_ = 0;
  bool tls_ = false;
};

inline std::filesystem::path fixture(const std::string& name) {
  return std::filesystem::path(MAILTAP_SOURCE_DIR) / "tests" / "diff" / "data" / (name + ".jsonl");
}

inline SessionSteps fixture_steps(const std::string& name, const NormalizeOptions& options = {}) {
  auto t = transcript::read_transcript(fixture(name));
  Normalizer n(header_protocol(t.header), options);
  return build_steps(t.header, t.events, n);
}

inline SessionDiff compare_fixtures(const std::string& a, const std::string& b,
                                    const NormalizeOptions& options = {}) {
  return compare_sessions(fixture_steps(a, options), fixture_steps(b, options));
}

// The difference about `facet` in the pair whose A (or B) step has verb `verb`; nullptr if none.
inline const FacetDifference* find_difference(const SessionDiff& d, const std::string& verb,
                                              const std::string& facet, size_t nth = 0) {
  for (const auto& p : d.pairs) {
    const Step& s = p.a ? d.a.steps[*p.a] : d.b.steps[*p.b];
    if (s.verb != verb) continue;
    if (nth-- > 0) continue;
    for (const auto& f : p.differences)
      if (f.facet == facet) return &f;
    return nullptr;
  }
  return nullptr;
}

}  // namespace mailtap::diff::testing
