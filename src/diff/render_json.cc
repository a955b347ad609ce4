#include "mailtap/diff/render.h"
#include "mailtap/transcript/line_view.h"

namespace mailtap::diff {
namespace {

nlohmann::json side(const SessionSteps& s, const std::string& name) {
  nlohmann::json j = nlohmann::json::object();
  j["file"] = name;
  j["protocol"] = std::string(to_string(s.protocol));
  j["session"] = transcript::field_text(s.header, "session");
  j["started"] = transcript::field_text(s.header, "started");
  auto l = s.header.find("listener");
  if (l != s.header.end() && l->is_object()) j["upstream"] = transcript::field_text(*l, "upstream");
  j["steps"] = s.steps.size();
  j["truncated"] = s.truncated;
  j["recorded_by"] = s.runner ? "mailtap run" : "mailtap proxy";
  return j;
}

nlohmann::json step_ref(const Step& s, size_t index) {
  nlohmann::json j = nlohmann::json::object();
  j["index"] = index;
  j["kind"] = std::string(to_string(s.kind));
  j["verb"] = s.verb;
  j["key"] = s.key;
  j["label"] = s.label;
  j["seq"] = s.seq;
  if (s.latency_us) j["latency_us"] = *s.latency_us;
  return j;
}

nlohmann::json difference(const FacetDifference& d) {
  nlohmann::json j = nlohmann::json::object();
  j["facet"] = d.facet;
  if (d.missing_a) j["missing_in"] = "a";
  if (d.missing_b) j["missing_in"] = "b";
  switch (d.kind) {
    case Facet::Kind::value:
      j["kind"] = "value";
      j["a"] = d.a;
      j["b"] = d.b;
      break;
    case Facet::Kind::set:
      j["kind"] = "set";
      j["only_a"] = d.only_a;
      j["only_b"] = d.only_b;
      break;
    case Facet::Kind::lines: {
      j["kind"] = "lines";
      nlohmann::json lines = nlohmann::json::array();
      for (const auto& l : d.lines) {
        if (l.mark == ' ') continue;
        lines.push_back({{"side", l.mark == '-' ? "a" : "b"}, {"text", l.text}});
      }
      j["changes"] = std::move(lines);
      break;
    }
  }
  return j;
}

}  // namespace

nlohmann::json to_json(const SessionDiff& diff, const std::string& a_name,
                       const std::string& b_name) {
  nlohmann::json j = nlohmann::json::object();
  j["identical"] = diff.identical();
  j["a"] = side(diff.a, a_name);
  j["b"] = side(diff.b, b_name);
  j["summary"] = {{"same", diff.same},
                  {"changed", diff.changed},
                  {"only_a", diff.only_a},
                  {"only_b", diff.only_b}};
  nlohmann::json header = nlohmann::json::array();
  for (const auto& h : diff.header) header.push_back({{"field", h.field}, {"a", h.a}, {"b", h.b}});
  j["header_differences"] = std::move(header);
  j["notes"] = diff.notes;
  nlohmann::json steps = nlohmann::json::array();
  for (const auto& p : diff.pairs) {
    nlohmann::json s = nlohmann::json::object();
    s["status"] = std::string(to_string(p.status));
    s["a"] = p.a ? step_ref(diff.a.steps[*p.a], *p.a) : nlohmann::json(nullptr);
    s["b"] = p.b ? step_ref(diff.b.steps[*p.b], *p.b) : nlohmann::json(nullptr);
    nlohmann::json ds = nlohmann::json::array();
    for (const auto& d : p.differences) ds.push_back(difference(d));
    s["differences"] = std::move(ds);
    steps.push_back(std::move(s));
  }
  j["steps"] = std::move(steps);
  return j;
}

}  // namespace mailtap::diff
