// `mailtap run`: replays scripts and captured transcripts against mail servers and checks every
// answer; `mailtap run --to-script CAPTURE` turns a capture into an editable script.
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>

#include "cli/subcommands.h"
#include "mailtap/run/report.h"
#include "mailtap/run/runner.h"
#include "mailtap/run/script_parser.h"
#include "mailtap/run/transcript_import.h"
#include "mailtap/tls/tls_contexts.h"
#include "mailtap/transcript/transcript_reader.h"
#include "mailtap/transcript/transcript_writer.h"

namespace mailtap::cli {
namespace {

struct RunFlags {
  std::vector<std::string> inputs;
  std::vector<std::string> targets;
  std::string tls, proto;
  std::vector<std::string> vars;
  std::string upstream_ca;
  bool insecure = false;
  std::string sni;
  double timeout = -1, connect_timeout = 10;
  std::string transcripts = "transcripts";
  bool no_transcripts = false;
  std::string junit;
  int jobs = 1;
  bool verbose = false, fail_fast = false;
  std::string color = "auto";
  std::string to_script;
  std::string output;
  bool exact = false;
};

// A transcript is JSON Lines whose first line is the session header; anything else is a script.
bool looks_like_transcript(const std::string& path) {
  std::ifstream in(path);
  std::string first;
  std::getline(in, first);
  return first.find("\"mailtap-transcript\"") != std::string::npos ||
         (path.size() > 6 && path.substr(path.size() - 6) == ".jsonl");
}

run::Script load_input(const std::string& path, bool exact) {
  if (!looks_like_transcript(path)) return run::load_script_file(path);
  try {
    transcript::Transcript capture = transcript::read_transcript(path);
    run::ImportOptions options;
    options.generalise = !exact;
    return run::import_transcript(capture, options);
  } catch (const transcript::TranscriptReadError& e) {
    throw run::ScriptError({path, e.line()}, e.what());
  }
}

bool split_target(const std::string& target, std::string& host, uint16_t& port) {
  size_t colon = target.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  host = target.substr(0, colon);
  try {
    int p = std::stoi(target.substr(colon + 1));
    if (p < 1 || p > 65535) return false;
    port = static_cast<uint16_t>(p);
  } catch (...) {
    return false;
  }
  return true;
}

std::string random_hex(size_t n) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) out += hex[rng() & 15];
  return out;
}

int to_script(const RunFlags& f) {
  try {
    transcript::Transcript capture = transcript::read_transcript(f.to_script);
    run::ImportOptions options;
    options.generalise = !f.exact;
    std::string text = run::format_script(run::import_transcript(capture, options));
    if (f.output.empty() || f.output == "-") {
      std::cout << text;
      return 0;
    }
    std::ofstream out(f.output, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) {
      std::cerr << "mailtap run: cannot write " << f.output << "\n";
      return 2;
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "mailtap run: " << e.what() << "\n";
    return 2;
  }
}

struct Job {
  run::Script script;
  run::RunOptions options;
  std::string problem;  // could not even start: no target, unknown protocol
};

int run_all(RunFlags& f) {
  if (!f.to_script.empty()) return to_script(f);
  if (f.inputs.empty()) {
    std::cerr << "mailtap run: give one or more scripts or transcripts (or --to-script FILE)\n";
    return 2;
  }
  std::map<std::string, std::string> variables;
  for (const std::string& v : f.vars) {
    size_t eq = v.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "mailtap run: --var needs NAME=VALUE, got \"" << v << "\"\n";
      return 2;
    }
    variables[v.substr(0, eq)] = v.substr(eq + 1);
  }
  std::optional<TlsMode> tls_flag;
  if (!f.tls.empty() && !(tls_flag = parse_tls_mode(f.tls))) {
    std::cerr << "mailtap run: --tls must be plain, implicit or starttls\n";
    return 2;
  }
  std::optional<Protocol> proto_flag;
  if (!f.proto.empty() && !(proto_flag = parse_protocol(f.proto))) {
    std::cerr << "mailtap run: --proto must be smtp, imap or pop3\n";
    return 2;
  }
  tls::UpstreamTrust trust;
  trust.ca_file = f.upstream_ca;
  trust.insecure = f.insecure;
  std::string error;
  std::shared_ptr<SSL_CTX> context = tls::make_upstream_context(trust, error);
  if (!context) {
    std::cerr << "mailtap run: " << error << "\n";
    return 2;
  }
  std::unique_ptr<transcript::TranscriptWriter> writer;
  if (!f.no_transcripts) {
    transcript::WriterOptions wo;
    wo.directory = f.transcripts;
    writer = std::make_unique<transcript::TranscriptWriter>(std::move(wo));
  }

  // One job per (input, target). Inputs that cannot be read are reported as runs that could not
  // run, so every other script still plays.
  std::vector<Job> jobs;
  std::vector<run::RunResult> results;
  std::string unique = "mt" + random_hex(12);
  for (const std::string& input : f.inputs) {
    run::Script script;
    try {
      script = load_input(input, f.exact);
    } catch (const std::exception& e) {
      run::RunResult r;
      r.script = input;
      r.target = f.targets.empty() ? "?" : f.targets.front();
      r.outcome = run::RunResult::Outcome::error;
      r.error = e.what();
      results.push_back(std::move(r));
      continue;
    }
    std::vector<std::string> targets = f.targets;
    if (targets.empty()) targets.push_back(script.target);
    for (const std::string& target : targets) {
      Job job;
      job.script = script;
      run::RunOptions& o = job.options;
      if (target.empty() || !split_target(target, o.host, o.port))
        job.problem = target.empty()
                          ? "no target: give --target HOST:PORT (or !target in the script)"
                          : "bad target \"" + target + "\" (HOST:PORT)";
      std::optional<Protocol> p = proto_flag ? proto_flag : script.protocol;
      if (!p) p = run::guess_protocol(script);
      if (!p && o.port) p = protocol_for_port(o.port);
      if (!p && job.problem.empty())
        job.problem = "cannot tell the protocol: give --proto smtp|imap|pop3 (or !proto)";
      o.protocol = p.value_or(Protocol::smtp);
      std::optional<TlsMode> t = tls_flag ? tls_flag : script.tls;
      if (!t && o.port) t = tls_mode_for_port(o.port);
      o.tls = t.value_or(TlsMode::plain);
      o.tls_context = context;
      o.server_name = f.sni;
      o.insecure = f.insecure;
      o.variables = variables;
      o.timeout_seconds = f.timeout > 0 ? f.timeout : script.timeout_seconds.value_or(10);
      o.connect_timeout_seconds = f.connect_timeout;
      o.fail_fast = f.fail_fast;
      o.writer = writer.get();
      o.session_id = "run" + std::to_string(jobs.size() + 1) + "-" + random_hex(4);
      o.unique = unique;
      jobs.push_back(std::move(job));
    }
  }

  run::ReportStyle style;
  style.verbose = f.verbose;
  style.color = f.color == "always" || (f.color == "auto" && ::isatty(1));
  run::ReportStyle progress_style = style;
  progress_style.color = f.color == "always" || (f.color == "auto" && ::isatty(2));

  size_t first = results.size();
  results.resize(first + jobs.size());
  std::atomic<size_t> next{0};
  std::mutex progress_mutex;
  size_t done = 0;
  bool show_progress = jobs.size() > 1;
  auto worker = [&] {
    for (size_t i = next++; i < jobs.size(); i = next++) {
      Job& job = jobs[i];
      run::RunResult r;
      if (!job.problem.empty()) {
        r.script = job.script.source;
        r.target = job.options.host.empty()
                       ? "?"
                       : job.options.host + ":" + std::to_string(job.options.port);
        r.outcome = run::RunResult::Outcome::error;
        r.error = job.problem;
      } else {
        r = run::run_script(job.script, job.options);
      }
      std::lock_guard<std::mutex> lock(progress_mutex);
      ++done;
      if (show_progress)
        std::cerr << "[" << done << "/" << jobs.size() << "] "
                  << run::format_result_line(r, progress_style) << "\n";
      results[first + i] = std::move(r);
    }
  };
  size_t threads = std::clamp<size_t>(static_cast<size_t>(std::max(1, f.jobs)), 1,
                                      jobs.size() ? jobs.size() : 1);
  std::vector<std::thread> pool;
  for (size_t t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  if (writer) writer->flush();

  int status = 0;
  for (const auto& r : results) {
    if (r.steps.empty() && r.outcome == run::RunResult::Outcome::error) {
      std::cout << run::format_result_line(r, style) << "\n";
    } else {
      std::cout << run::format_run(r, style);
    }
    status = std::max(status, r.exit_status());
  }
  if (results.size() > 1) std::cout << run::format_summary(results, style) << "\n";
  if (!f.junit.empty()) {
    std::ofstream out(f.junit, std::ios::binary | std::ios::trunc);
    out << run::junit_xml(results);
    if (!out) {
      std::cerr << "mailtap run: cannot write the JUnit report " << f.junit << "\n";
      status = 2;
    }
  }
  return status;
}

}  // namespace

void add_run_command(CLI::App& app, int& status) {
  auto f = std::make_shared<RunFlags>();
  auto* cmd = app.add_subcommand(
      "run",
      "Replay scripts (C:/S: lines, see docs/runner-script-format.md) and captured transcripts "
      "against a mail server, checking every answer. Exit status: 0 all passed, 1 a mismatch, 2 "
      "could not run.\n"
      "Example: mailtap run smtp-auth.mtscript --target mail.example.com:587 --var user=alice "
      "--var pass=secret");
  cmd->add_option("inputs", f->inputs, "Scripts (.mtscript) and transcripts (.jsonl) to play");
  cmd->add_option("--target", f->targets,
                  "Server HOST:PORT (repeatable: every input runs against every target; default: "
                  "the script's !target or the capture's upstream)");
  cmd->add_option("--tls", f->tls,
                  "plain, implicit or starttls (starttls: mailtap upgrades after the greeting "
                  "unless the script says STARTTLS itself; default: !tls, the capture, the port)");
  cmd->add_option("--proto", f->proto, "smtp, imap or pop3 (default: from the script or port)");
  cmd->add_option("--var", f->vars,
                  "NAME=VALUE for ${NAME} in scripts (repeatable); user and pass are the "
                  "credentials for AUTH and for secrets redacted in captures");
  cmd->add_option("--upstream-ca", f->upstream_ca,
                  "PEM file of CAs to trust for the server's certificate (instead of the system "
                  "store)");
  cmd->add_flag("--insecure", f->insecure, "Do not verify the server's certificate");
  cmd->add_option("--sni", f->sni, "TLS server name to send and verify (default: the target host)");
  cmd->add_option("--timeout", f->timeout, "Seconds to wait for each response (default 10)");
  cmd->add_option("--connect-timeout", f->connect_timeout,
                  "Seconds for the TCP connection and each TLS handshake")
      ->capture_default_str();
  cmd->add_option("--transcripts", f->transcripts,
                  "Directory for the runs' own transcripts (JSON Lines, like the proxy's)")
      ->capture_default_str();
  cmd->add_flag("--no-transcripts", f->no_transcripts, "Do not record the runs");
  cmd->add_option("--junit", f->junit, "Write a JUnit XML report to this file");
  cmd->add_option("-j,--jobs", f->jobs, "Runs played at the same time")->capture_default_str();
  cmd->add_flag("-v,--verbose", f->verbose, "Show every step in full");
  cmd->add_flag("--fail-fast", f->fail_fast, "Stop a run at its first failed step");
  cmd->add_option("--color", f->color, "auto, always or never")->capture_default_str();
  cmd->add_option("--to-script", f->to_script,
                  "Print the script for a captured transcript (volatile values generalised) "
                  "instead of running anything");
  cmd->add_option("-o,--output", f->output, "With --to-script: write the script to this file");
  cmd->add_flag("--exact", f->exact,
                "Keep captured server lines exactly (no generalisation of queue ids, dates, ...)");
  cmd->callback([f, &status] { status = run_all(*f); });
}

}  // namespace mailtap::cli
