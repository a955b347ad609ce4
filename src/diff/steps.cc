#include "mailtap/diff/steps.h"

#include <algorithm>

#include "diff/step_reader.h"
#include "mailtap/transcript/line_view.h"

namespace mailtap::diff {

std::string_view to_string(StepKind k) {
  switch (k) {
    case StepKind::greeting:
      return "greeting";
    case StepKind::command:
      return "command";
    case StepKind::tls:
      return "tls";
    case StepKind::alert:
      return "alert";
    case StepKind::unsolicited:
      return "unsolicited";
  }
  return "command";
}

const Facet* Step::facet(std::string_view name) const {
  for (const auto& [n, f] : facets)
    if (n == name) return &f;
  return nullptr;
}

namespace {

Facet& slot(std::vector<std::pair<std::string, Facet>>& facets, const std::string& name) {
  for (auto& [n, f] : facets)
    if (n == name) return f;
  facets.emplace_back(name, Facet{});
  return facets.back().second;
}

}  // namespace

void Step::set_value(const std::string& name, std::string value) {
  Facet& f = slot(facets, name);
  f = Facet{};
  f.kind = Facet::Kind::value;
  f.value = std::move(value);
}

void Step::set_set(const std::string& name, std::set<std::string> items) {
  Facet& f = slot(facets, name);
  f = Facet{};
  f.kind = Facet::Kind::set;
  f.items = std::move(items);
}

void Step::set_lines(const std::string& name, std::vector<std::string> lines) {
  Facet& f = slot(facets, name);
  f = Facet{};
  f.kind = Facet::Kind::lines;
  f.lines = std::move(lines);
}

Protocol header_protocol(const nlohmann::json& header) {
  return parse_protocol(transcript::field_text(header, "protocol")).value_or(Protocol::smtp);
}

bool is_runner_transcript(const nlohmann::json& header) {
  if (!header.is_object()) return false;
  if (auto r = header.find("runner"); r != header.end() && r->is_object()) return true;
  auto l = header.find("listener");
  return l != header.end() && l->is_object() && transcript::field_text(*l, "name") == "mailtap run";
}

namespace detail {

std::string chomp(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return std::string(line);
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

std::string first_word(std::string_view s) {
  size_t end = s.find_first_of(" \t");
  return std::string(s.substr(0, end));
}

std::string after_first_word(std::string_view s) {
  size_t end = s.find_first_of(" \t");
  if (end == std::string_view::npos) return "";
  size_t start = s.find_first_not_of(" \t", end);
  return start == std::string_view::npos ? "" : std::string(s.substr(start));
}

bool ends_with_literal(std::string_view line) {
  std::string l = chomp(line);
  if (l.empty() || l.back() != '}') return false;
  l.pop_back();
  if (!l.empty() && l.back() == '+') l.pop_back();
  size_t digits = 0;
  while (!l.empty() && l.back() >= '0' && l.back() <= '9') {
    l.pop_back();
    ++digits;
  }
  return digits > 0 && !l.empty() && l.back() == '{';
}

std::vector<std::string> content_lines(std::string_view bytes, const Normalizer& n) {
  constexpr size_t kMaxLines = 2000, kMaxLineChars = 2000;
  std::vector<std::string> out;
  size_t start = 0;
  while (start < bytes.size()) {
    if (out.size() == kMaxLines) {
      out.push_back("<" + std::to_string(bytes.size() - start) + " more bytes not compared>");
      break;
    }
    size_t nl = bytes.find('\n', start);
    size_t end = nl == std::string_view::npos ? bytes.size() : nl;
    std::string line = chomp(bytes.substr(start, end - start));
    if (line.size() > kMaxLineChars)
      line = line.substr(0, kMaxLineChars) + "<" + std::to_string(line.size() - kMaxLineChars) +
             " more bytes>";
    out.push_back(n.text(line));
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return out;
}

void insert_element(std::set<std::string>& set, std::string element, const Normalizer& n) {
  if (element.empty() || n.drops_element(element)) return;
  set.insert(std::move(element));
}

bool sasl_challenge_is_volatile(std::string_view mechanism) {
  std::string m = upper(mechanism);
  return m == "CRAM-MD5" || m == "DIGEST-MD5" || m.rfind("SCRAM-", 0) == 0 || m == "NTLM" ||
         m == "GSSAPI" || m == "GSS-SPNEGO" || m == "OTP" || m == "SRP";
}

size_t Reader::open(StepKind kind, const Piece& first) {
  Draft d;
  d.step.kind = kind;
  d.step.seq = first.seq;
  d.step.tls = first.over_tls;
  drafts_.push_back(std::move(d));
  return drafts_.size() - 1;
}

bool Reader::any_protocol_step() const {
  return std::any_of(drafts_.begin(), drafts_.end(), [](const Draft& d) {
    return d.step.kind == StepKind::greeting || d.step.kind == StepKind::command;
  });
}

}  // namespace detail

namespace {

using detail::Draft;
using detail::Piece;

std::optional<int64_t> time_of(const nlohmann::json& e) {
  auto t = e.find("t");
  if (t == e.end() || !t->is_number_integer()) return std::nullopt;
  return t->get<int64_t>();
}

Draft tls_step(const nlohmann::json& e) {
  Draft d;
  Step& s = d.step;
  s.kind = StepKind::tls;
  const std::string leg = transcript::field_text(e, "leg");
  s.verb = "TLS " + leg;
  s.key = s.verb;
  s.label = "TLS handshake on the " + (leg.empty() ? std::string("?") : leg) + " leg";
  s.seq = e.value("seq", int64_t{0});
  for (const char* k : {"version", "cipher", "verification", "sni", "alpn"}) {
    std::string v = transcript::field_text(e, k);
    if (!v.empty()) s.set_value(k, v);
  }
  auto cert = e.find("peer_certificate");
  if (cert != e.end() && cert->is_object()) {
    // The validity window is not compared on its own: a different window is a different
    // certificate, which sha256 already tells, and two certificates' dates are noise.
    for (const char* k : {"subject", "issuer", "sha256"}) {
      std::string v = transcript::field_text(*cert, k);
      if (!v.empty()) s.set_value(std::string("certificate ") + k, v);
    }
    auto names = cert->find("names");
    if (names != cert->end() && names->is_array()) {
      std::set<std::string> items;
      for (const auto& n : *names)
        if (n.is_string()) items.insert(n.get<std::string>());
      s.set_set("certificate names", std::move(items));
    }
  }
  s.server_lines.push_back(transcript::describe_event(e));
  return d;
}

Draft alert_step(const nlohmann::json& e, const Normalizer& n) {
  Draft d;
  Step& s = d.step;
  s.kind = StepKind::alert;
  const std::string type = transcript::field_text(e, "type");
  const std::string code = transcript::field_text(e, "code");
  s.verb = type;
  s.key = type + " " + code;
  s.label = type + (code.empty() ? "" : " " + code);
  s.seq = e.value("seq", int64_t{0});
  s.set_value("message", n.text(transcript::field_text(e, "message")));
  s.server_lines.push_back(transcript::describe_event(e));
  return d;
}

// Latency, display lines and line warnings of a step grouped from pieces.
void finish_draft(Draft& d, std::optional<int64_t> start) {
  Step& s = d.step;
  std::optional<int64_t> first_client, first_server;
  std::set<std::string> warnings;
  for (const auto& p : d.pieces) {
    auto& out = p.from_client ? s.client_lines : s.server_lines;
    auto& total = p.from_client ? s.client_lines_total : s.server_lines_total;
    auto keep = [&](std::string line) {
      if (out.size() < Step::kMaxDisplayLines) out.push_back(std::move(line));
      ++total;
    };
    if (transcript::is_content_frame(p.frame)) {
      keep("<" + p.frame + " " + std::to_string(p.bytes.size()) + " bytes>");
    } else if (out.size() < Step::kMaxDisplayLines) {
      for (auto& l : transcript::display_lines(p.bytes)) keep(std::move(l));
    } else {
      total += std::max<size_t>(1, std::count(p.bytes.begin(), p.bytes.end(), '\n'));
    }
    if (p.from_client && !first_client) first_client = p.time_us;
    if (!p.from_client && !first_server) first_server = p.time_us;
    for (const auto& code : p.warning_codes) warnings.insert(code);
  }
  if (!warnings.empty()) s.set_set("warnings", std::move(warnings));
  if (s.kind == StepKind::command && !s.latency_us && first_client && first_server &&
      *first_server >= *first_client)
    s.latency_us = *first_server - *first_client;
  auto t = d.pieces.empty() ? std::nullopt : d.pieces.front().time_us;
  if (t && start) s.offset_us = *t - *start;
}

}  // namespace

struct StepBuilder::State {
  SessionSteps out;
  std::vector<Draft> drafts;
  std::unique_ptr<detail::Reader> reader;
  std::optional<int64_t> start;
  size_t finished = 0;  // drafts before this index are interpreted and their pieces freed
  const Normalizer& normalizer;
  explicit State(const Normalizer& n) : normalizer(n) {}

  void finish_until(size_t end) {
    for (; finished < end && finished < drafts.size(); ++finished) {
      Draft& d = drafts[finished];
      if (d.step.kind == StepKind::tls || d.step.kind == StepKind::alert) continue;
      reader->interpret(d);
      finish_draft(d, start);
      std::vector<Piece>().swap(d.pieces);
    }
  }
};

StepBuilder::StepBuilder(const nlohmann::json& header, const Normalizer& normalizer)
    : state_(std::make_unique<State>(normalizer)) {
  State& st = *state_;
  st.out.header = header;
  st.out.protocol = header_protocol(header);
  st.out.runner = is_runner_transcript(header);
  switch (st.out.protocol) {
    case Protocol::smtp:
      st.reader = detail::make_smtp_reader(st.drafts, normalizer);
      break;
    case Protocol::imap:
      st.reader = detail::make_imap_reader(st.drafts, normalizer);
      break;
    case Protocol::pop3:
      st.reader = detail::make_pop3_reader(st.drafts, normalizer);
      break;
  }
  st.start = time_of(header);
}

StepBuilder::~StepBuilder() = default;

void StepBuilder::add(const nlohmann::json& e) {
  State& st = *state_;
  const std::string type = transcript::field_text(e, "type");
  if (type == "tls" || type == "warning" || type == "error") {
    st.drafts.push_back(type == "tls" ? tls_step(e) : alert_step(e, st.normalizer));
    if (auto t = time_of(e); t && st.start) st.drafts.back().step.offset_us = *t - *st.start;
    return;
  }
  auto v = transcript::view_data(e);
  if (!v || v->dropped) return;  // dropped bytes come with a warning event of their own
  Piece p;
  p.from_client = v->to == "server";
  p.by_proxy = v->speaker == "P";
  p.over_tls = v->tls;
  p.frame = std::move(v->frame);
  p.bytes = std::move(v->bytes);
  p.seq = e.value("seq", int64_t{0});
  p.time_us = time_of(e);
  if (auto d = e.find("decoded"); d != e.end() && d->is_object()) {
    if (auto r = d->find("in_response_to"); r != d->end() && r->is_string())
      p.in_response_to = r->get<std::string>();
  }
  for (auto& w : transcript::line_warnings(e))
    if (!w.code.empty()) p.warning_codes.push_back(std::move(w.code));
  if (p.from_client)
    st.reader->client(p);
  else
    st.reader->server(p);
  // Steps that can no longer change are read now, so a long session's bytes are not all held.
  if (!st.drafts.empty()) st.finish_until(std::min(st.reader->oldest_open(), st.drafts.size() - 1));
}

SessionSteps StepBuilder::finish() {
  State& st = *state_;
  st.finish_until(st.drafts.size());
  st.out.steps.reserve(st.drafts.size());
  for (auto& d : st.drafts) st.out.steps.push_back(std::move(d.step));
  st.drafts.clear();
  return std::move(st.out);
}

SessionSteps build_steps(const nlohmann::json& header, const std::vector<nlohmann::json>& events,
                         const Normalizer& normalizer) {
  StepBuilder builder(header, normalizer);
  for (const auto& e : events) builder.add(e);
  return builder.finish();
}

}  // namespace mailtap::diff
