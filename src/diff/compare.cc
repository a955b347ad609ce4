#include "mailtap/diff/compare.h"

#include <algorithm>
#include <unordered_map>

#include "mailtap/transcript/line_view.h"

namespace mailtap::diff {

std::string_view to_string(PairStatus s) {
  switch (s) {
    case PairStatus::same:
      return "same";
    case PairStatus::changed:
      return "changed";
    case PairStatus::only_a:
      return "only_a";
    case PairStatus::only_b:
      return "only_b";
  }
  return "same";
}

int step_similarity(const Step& a, const Step& b) {
  if (a.kind != b.kind) {
    // A greeting and an unsolicited reply are both "what the server said by itself".
    const bool both_server = (a.kind == StepKind::greeting || a.kind == StepKind::unsolicited) &&
                             (b.kind == StepKind::greeting || b.kind == StepKind::unsolicited);
    return both_server ? 1 : -3;
  }
  if (a.key == b.key) return kPerfectStepMatch;
  if (a.verb == b.verb) return 1;
  return -3;
}

std::vector<LineChange> compare_lines(const std::vector<std::string>& a,
                                      const std::vector<std::string>& b) {
  auto pairs = align(
      a.size(), b.size(), [&](size_t i, size_t j) { return a[i] == b[j] ? 2 : -3; }, 2);
  std::vector<LineChange> out;
  for (const auto& p : pairs) {
    if (p.a && p.b)
      out.push_back({' ', a[*p.a]});
    else if (p.a)
      out.push_back({'-', a[*p.a]});
    else
      out.push_back({'+', b[*p.b]});
  }
  return out;
}

std::optional<FacetDifference> compare_facets(const std::string& name, const Facet* a,
                                              const Facet* b) {
  if (a == nullptr && b == nullptr) return std::nullopt;
  if (a != nullptr && b != nullptr && *a == *b) return std::nullopt;
  FacetDifference d;
  d.facet = name;
  d.kind = (a ? a : b)->kind;
  d.missing_a = a == nullptr;
  d.missing_b = b == nullptr;
  static const Facet empty_facet;
  const Facet& fa = a ? *a : empty_facet;
  const Facet& fb = b ? *b : empty_facet;
  switch (d.kind) {
    case Facet::Kind::value:
      d.a = fa.value;
      d.b = fb.value;
      break;
    case Facet::Kind::set:
      std::set_difference(fa.items.begin(), fa.items.end(), fb.items.begin(), fb.items.end(),
                          std::back_inserter(d.only_a));
      std::set_difference(fb.items.begin(), fb.items.end(), fa.items.begin(), fa.items.end(),
                          std::back_inserter(d.only_b));
      break;
    case Facet::Kind::lines:
      d.lines = compare_lines(fa.lines, fb.lines);
      break;
  }
  if (a && b && a->kind != b->kind) {  // cannot happen for facets built by this build
    d.kind = Facet::Kind::value;
    d.a = "(" + std::to_string(static_cast<int>(a->kind)) + ")";
    d.b = "(" + std::to_string(static_cast<int>(b->kind)) + ")";
  }
  return d;
}

namespace {

std::vector<FacetDifference> compare_steps(const Step& a, const Step& b) {
  std::vector<FacetDifference> out;
  if (a.key != b.key) {
    FacetDifference d;
    d.facet = "command";
    d.a = a.key;
    d.b = b.key;
    out.push_back(std::move(d));
  }
  std::unordered_map<std::string_view, const Facet*> in_b;
  for (const auto& [n, f] : b.facets) in_b.emplace(n, &f);
  for (const auto& [n, f] : a.facets) {
    auto it = in_b.find(n);
    const Facet* fb = it == in_b.end() ? nullptr : it->second;
    if (it != in_b.end()) in_b.erase(it);
    if (auto d = compare_facets(n, &f, fb)) out.push_back(std::move(*d));
  }
  for (const auto& [n, f] : b.facets)  // B's own facets, in B's order
    if (in_b.count(n))
      if (auto d = compare_facets(n, nullptr, &f)) out.push_back(std::move(*d));
  return out;
}

void compare_headers(const nlohmann::json& a, const nlohmann::json& b, bool legs_correspond,
                     std::vector<HeaderDifference>& out) {
  auto field = [](const nlohmann::json& h, const char* outer, const char* inner) {
    if (outer == nullptr) return transcript::field_text(h, inner);
    auto it = h.find(outer);
    return it != h.end() ? transcript::field_text(*it, inner) : std::string();
  };
  struct F {
    const char* label;
    const char* outer;
    const char* inner;
  };
  for (const F f : {F{"protocol", nullptr, "protocol"}, F{"client TLS", "listener", "client_tls"},
                    F{"upstream TLS", "listener", "upstream_tls"}}) {
    // A runner's "client TLS" is its own connection's mode, not a client leg's.
    if (!legs_correspond && std::string_view(f.label) == "client TLS") continue;
    std::string va = field(a, f.outer, f.inner), vb = field(b, f.outer, f.inner);
    if (va != vb) out.push_back({f.label, va, vb});
  }
}

bool is_client_leg_tls(const Step& s) {
  return s.kind == StepKind::tls && s.verb == "TLS client";
}

// `proxy` is a proxy capture compared with a runner transcript: its client-leg TLS handshakes
// (between the client and mailtap) have no counterpart, since the runner is the client and talks
// to the server directly. They are taken out of the comparison and named in a note.
void drop_client_leg(SessionSteps& proxy, const char* proxy_tag, const char* runner_tag,
                     std::vector<std::string>& notes) {
  std::vector<std::string> what;
  for (const auto& s : proxy.steps) {
    if (!is_client_leg_tls(s)) continue;
    std::string details;
    for (const char* k : {"version", "cipher"})
      if (const Facet* f = s.facet(k); f && !f->value.empty())
        details += (details.empty() ? "" : " ") + f->value;
    what.push_back(details.empty() ? "TLS" : details);
  }
  std::erase_if(proxy.steps, is_client_leg_tls);
  std::string note = std::string(runner_tag) +
                     " was recorded by mailtap run, which is the client itself (one leg, to the "
                     "server); " +
                     proxy_tag +
                     " was captured by the proxy (two legs), so only its server leg is compared "
                     "with " +
                     runner_tag;
  if (!what.empty()) {
    note += "; not compared: " + std::string(proxy_tag) + "'s TLS handshake" +
            (what.size() > 1 ? "s" : "") + " on the client leg (";
    for (size_t i = 0; i < what.size(); ++i) note += (i ? ", " : "") + what[i];
    note += ")";
  }
  notes.push_back(std::move(note));
}

// The runner's verdicts on its own script (run_expectation_failed...) are alerts about the
// runner, not about the server: the replies they concern are compared directly, so they are left
// out and counted in a note.
void drop_runner_verdicts(SessionSteps& runner, const char* tag, std::vector<std::string>& notes) {
  auto is_verdict = [](const Step& s) {
    return s.kind == StepKind::alert && s.key.find(" run_") != std::string::npos;
  };
  const auto count = std::count_if(runner.steps.begin(), runner.steps.end(), is_verdict);
  if (count == 0) return;
  std::erase_if(runner.steps, is_verdict);
  notes.push_back(std::string(tag) + ": " + std::to_string(count) + " warning" +
                  (count == 1 ? "" : "s") +
                  " of mailtap run's own checks against its script (run_expectation_failed) not "
                  "compared: the server replies they are about are");
}

}  // namespace

SessionDiff compare_sessions(SessionSteps a, SessionSteps b) {
  SessionDiff diff;
  diff.a = std::move(a);
  diff.b = std::move(b);
  const bool legs_correspond = diff.a.runner == diff.b.runner;
  if (!legs_correspond) {
    if (diff.b.runner)
      drop_client_leg(diff.a, "A", "B", diff.notes);
    else
      drop_client_leg(diff.b, "B", "A", diff.notes);
  }
  if (diff.a.runner) drop_runner_verdicts(diff.a, "A", diff.notes);
  if (diff.b.runner) drop_runner_verdicts(diff.b, "B", diff.notes);
  compare_headers(diff.a.header, diff.b.header, legs_correspond, diff.header);
  const auto& sa = diff.a.steps;
  const auto& sb = diff.b.steps;
  auto pairs = align(
      sa.size(), sb.size(), [&](size_t i, size_t j) { return step_similarity(sa[i], sb[j]); },
      kPerfectStepMatch);
  for (const auto& p : pairs) {
    StepPair sp;
    sp.a = p.a;
    sp.b = p.b;
    if (p.a && p.b) {
      sp.differences = compare_steps(sa[*p.a], sb[*p.b]);
      sp.status = sp.differences.empty() ? PairStatus::same : PairStatus::changed;
    } else {
      sp.status = p.a ? PairStatus::only_a : PairStatus::only_b;
    }
    switch (sp.status) {
      case PairStatus::same:
        ++diff.same;
        break;
      case PairStatus::changed:
        ++diff.changed;
        break;
      case PairStatus::only_a:
        ++diff.only_a;
        break;
      case PairStatus::only_b:
        ++diff.only_b;
        break;
    }
    diff.pairs.push_back(std::move(sp));
  }
  return diff;
}

}  // namespace mailtap::diff
