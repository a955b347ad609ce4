#include "mailtap/diff/diff_command.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "mailtap/diff/render.h"

namespace mailtap::diff {
namespace {

Normalizer make_normalizer(const nlohmann::json& header, const RuleSet& rules) {
  const Protocol protocol = header_protocol(header);
  NormalizeOptions options;
  options.ignore_hosts = rules.ignore_hosts;
  options.ignore_banners = rules.ignore_banners;
  options.user_rules = compile_rules(rules.rules, protocol);
  return Normalizer(protocol, std::move(options));
}

SessionSteps read_side(const transcript::Transcript& t, const RuleSet& rules) {
  Normalizer normalizer = make_normalizer(t.header, rules);
  SessionSteps s = build_steps(t.header, t.events, normalizer);
  s.source = t.path.string();
  s.truncated = t.truncated;
  return s;
}

// Reads a transcript file one line at a time straight into steps: a 50 MB capture is never held
// as JSON. The checks are those of transcript::read_transcript (the header through it), with the
// same messages: a truncated last line is left out and flagged, any other bad line is an error.
SessionSteps read_side_file(const std::string& path, const RuleSet& rules) {
  using transcript::TranscriptReadError;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw TranscriptReadError(path, 0, "is a directory, not a transcript file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw TranscriptReadError(path, 0, std::string("cannot open: ") + std::strerror(errno));
  std::string line;
  if (!std::getline(in, line))
    throw TranscriptReadError(path, 0, "empty file, not a mailtap transcript");
  std::istringstream first(in.eof() ? line : line + "\n");
  const nlohmann::json header = transcript::read_transcript(first, path).header;
  const Normalizer normalizer = make_normalizer(header, rules);
  StepBuilder builder(header, normalizer);
  bool truncated = false;
  size_t number = 1;
  while (std::getline(in, line)) {
    ++number;
    const bool unterminated = in.eof();  // getline() stops at EOF without failbit
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
      if (unterminated) break;
      throw TranscriptReadError(path, number, "empty line");
    }
    nlohmann::json e = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (e.is_discarded()) {
      if (unterminated) {
        truncated = true;  // cut mid-write; everything before it is complete
        break;
      }
      throw TranscriptReadError(path, number, "not valid JSON");
    }
    if (!e.is_object()) throw TranscriptReadError(path, number, "line is not a JSON object");
    if (!e.contains("type") || !e["type"].is_string())
      throw TranscriptReadError(path, number, "event line has no string \"type\"");
    builder.add(e);
  }
  if (in.bad()) throw TranscriptReadError(path, number + 1, "read error");
  SessionSteps s = builder.finish();
  s.source = path;
  s.truncated = truncated;
  return s;
}

}  // namespace

SessionDiff diff_transcripts(const transcript::Transcript& a, const transcript::Transcript& b,
                             const RuleSet& rules) {
  return compare_sessions(read_side(a, rules), read_side(b, rules));
}

int run_diff(const std::string& a_path, const std::string& b_path, const DiffOptions& options,
             std::ostream& out, std::ostream& err) {
  if (options.format != "text" && options.format != "json") {
    err << "mailtap diff: unknown format '" << options.format << "' (use text or json)\n";
    return 2;
  }
  RuleSet rules;
  try {
    for (const auto& file : options.rules_files) {
      RuleSet more = read_rules_file(file);
      rules.ignore_hosts |= more.ignore_hosts;
      rules.ignore_banners |= more.ignore_banners;
      rules.rules.insert(rules.rules.end(), more.rules.begin(), more.rules.end());
    }
    for (const auto& pattern : options.ignore) {
      RuleSpec spec;
      spec.name = "--ignore " + pattern;
      spec.pattern = pattern;
      make_rule(spec.name, spec.pattern, spec.replacement);  // reports a bad pattern now
      rules.rules.push_back(std::move(spec));
    }
  } catch (const RuleError& e) {
    err << "mailtap diff: " << e.what() << "\n";
    return 2;
  }
  rules.ignore_hosts |= options.ignore_hosts;
  rules.ignore_banners |= options.ignore_banners;

  SessionSteps sa, sb;
  try {
    sa = read_side_file(a_path, rules);
    sb = read_side_file(b_path, rules);
  } catch (const transcript::TranscriptReadError& e) {
    err << "mailtap diff: " << e.what() << "\n";
    if (e.line() == 1)
      err << "mailtap diff: compare two transcripts written by mailtap proxy or mailtap run "
             "(JSON Lines whose first line is the session header)\n";
    return 2;
  }
  SessionDiff diff = compare_sessions(std::move(sa), std::move(sb));
  if (!options.quiet) {
    if (options.format == "json") {
      out << to_json(diff, a_path, b_path)
                 .dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
          << "\n";
    } else {
      TextOptions text;
      text.color = options.color;
      text.show_same = options.show_same;
      text.a_name = a_path;
      text.b_name = b_path;
      render_text(diff, out, text);
    }
  }
  return diff.identical() ? 0 : 1;
}

}  // namespace mailtap::diff
