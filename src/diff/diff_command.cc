#include "mailtap/diff/diff_command.h"

#include "mailtap/diff/render.h"

namespace mailtap::diff {
namespace {

SessionSteps read_side(const transcript::Transcript& t, const RuleSet& rules) {
  const Protocol protocol = header_protocol(t.header);
  NormalizeOptions options;
  options.ignore_hosts = rules.ignore_hosts;
  options.ignore_banners = rules.ignore_banners;
  options.user_rules = compile_rules(rules.rules, protocol);
  Normalizer normalizer(protocol, std::move(options));
  SessionSteps s = build_steps(t.header, t.events, normalizer);
  s.source = t.path.string();
  s.truncated = t.truncated;
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

  transcript::Transcript ta, tb;
  try {
    ta = transcript::read_transcript(a_path);
    tb = transcript::read_transcript(b_path);
  } catch (const transcript::TranscriptReadError& e) {
    err << "mailtap diff: " << e.what() << "\n";
    return 2;
  }
  SessionDiff diff = diff_transcripts(ta, tb, rules);
  if (!options.quiet) {
    if (options.format == "json") {
      out << to_json(diff, a_path, b_path).dump(2, ' ', false,
                                                nlohmann::json::error_handler_t::replace)
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
