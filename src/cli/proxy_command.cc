// `mailtap proxy`: listeners from flags, --listener specs or a JSON config file.
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>

#include "cli/subcommands.h"
#include "mailtap/io/proxy_server.h"
#include "mailtap/tls/cert_authority.h"
#include "mailtap/transcript/tail_printer.h"

namespace mailtap::cli {
namespace {

struct ProxyFlags {
  io::PartialListener single;
  std::vector<std::string> specs;
  std::string config_file;
  std::string transcripts = "transcripts";
  bool no_transcripts = false;
  std::string ca_dir = tls::CertAuthority::default_directory().string();
  std::string upstream_ca;
  bool insecure = false;
  bool allow_legacy_tls = false;
  bool tail = false;
  bool reveal_secrets = false;
  size_t max_connections = 1000;
  size_t threads = 1;
  double connect_timeout = 10, handshake_timeout = 10, idle_timeout = 600, line_timeout = 30;
  size_t max_line = 0;
  std::string ready_file;
  std::string on_transcript_error = "close";
  double transcript_linger_ms = 2;
};

// Reads the JSON config: {"listeners": [...], and optional "transcripts", "ca_dir",
// "upstream_ca", "insecure", "max_connections", "reveal_secrets"}. Flags given on the command line
// win over the file only for listeners; other keys fill what flags left at defaults.
bool load_config(ProxyFlags& f, std::vector<io::PartialListener>& out, std::string& error) {
  std::ifstream in(f.config_file);
  if (!in) {
    error = "cannot read config file " + f.config_file;
    return false;
  }
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    error = "config file " + f.config_file + " is not a JSON object";
    return false;
  }
  if (j.contains("listeners")) {
    if (!j["listeners"].is_array()) {
      error = "\"listeners\" must be an array";
      return false;
    }
    for (const auto& entry : j["listeners"]) {
      auto p = io::parse_listener_json(entry, error);
      if (!p) return false;
      out.push_back(*p);
    }
  }
  if (j.contains("transcripts")) f.transcripts = j["transcripts"].get<std::string>();
  if (j.contains("ca_dir")) f.ca_dir = j["ca_dir"].get<std::string>();
  if (j.contains("upstream_ca")) f.upstream_ca = j["upstream_ca"].get<std::string>();
  if (j.value("insecure", false)) f.insecure = true;
  if (j.value("reveal_secrets", false)) f.reveal_secrets = true;
  if (j.contains("max_connections")) f.max_connections = j["max_connections"].get<size_t>();
  if (j.contains("threads")) f.threads = j["threads"].get<size_t>();
  return true;
}

int run_proxy(ProxyFlags& f) {
  std::string error;
  std::vector<io::PartialListener> partials;
  if (!f.config_file.empty() && !load_config(f, partials, error)) {
    std::cerr << "mailtap proxy: " << error << "\n";
    return 2;
  }
  for (const auto& spec : f.specs) {
    auto p = io::parse_listener_spec(spec, error);
    if (!p) {
      std::cerr << "mailtap proxy: --listener '" << spec << "': " << error << "\n";
      return 2;
    }
    partials.push_back(*p);
  }
  if (!f.single.listen.empty() || !f.single.upstream.empty()) partials.push_back(f.single);

  io::ProxyOptions options;
  for (const auto& p : partials) {
    auto l = io::complete_listener(p, error);
    if (!l) {
      std::cerr << "mailtap proxy: " << error << "\n";
      return 2;
    }
    if (f.max_line) l->limits.client_command = f.max_line;
    options.listeners.push_back(*l);
  }
  options.ca_dir = f.ca_dir;
  options.trust.ca_file = f.upstream_ca;
  options.trust.insecure = f.insecure;
  options.trust.allow_legacy = f.allow_legacy_tls;
  options.max_connections = f.max_connections;
  options.threads = f.threads;
  options.timeouts.connect_ms = static_cast<uint64_t>(f.connect_timeout * 1000);
  options.timeouts.handshake_ms = static_cast<uint64_t>(f.handshake_timeout * 1000);
  options.timeouts.idle_ms = static_cast<uint64_t>(f.idle_timeout * 1000);
  options.timeouts.line_ms = static_cast<uint64_t>(f.line_timeout * 1000);
  options.ready_file = f.ready_file;
  options.on_transcript_error = f.on_transcript_error == "continue"
                                    ? io::TranscriptErrorPolicy::continue_
                                    : io::TranscriptErrorPolicy::close;
  options.transcripts.directory = f.transcripts;
  options.transcripts.write_files = !f.no_transcripts;
  options.transcripts.decode.reveal_secrets = f.reveal_secrets;
  options.transcripts.linger =
      std::chrono::microseconds(static_cast<int64_t>(f.transcript_linger_ms * 1000));
  // The printer outlives the server (and so its transcript writer), as attach() requires.
  std::unique_ptr<transcript::TailPrinter> tail;
  if (f.tail) {
    transcript::TailOptions tail_options;
    tail_options.color = ::isatty(1);
    tail = std::make_unique<transcript::TailPrinter>(stdout, tail_options);
    tail->attach(options.transcripts);
  }
  io::ProxyServer server(std::move(options));
  return server.run();
}

}  // namespace

void add_proxy_command(CLI::App& app, int& status) {
  auto f = std::make_shared<ProxyFlags>();
  auto* cmd = app.add_subcommand(
      "proxy",
      "Relay mail clients to a mail server, terminating and re-originating TLS, and write an "
      "annotated JSON Lines transcript per session.\n"
      "Example: mailtap proxy --listen 127.0.0.1:1143 --upstream imap.example.com:993 "
      "--client-tls starttls");
  cmd->add_option("--listen", f->single.listen,
                  "Address to listen on, host:port (loopback unless you name another address)");
  cmd->add_option("--upstream", f->single.upstream, "The real mail server, host:port");
  cmd->add_option("--proto", f->single.protocol,
                  "smtp, imap or pop3 (default: guessed from the well-known ports)");
  cmd->add_option("--client-tls", f->single.client_tls,
                  "TLS towards the client: plain, implicit or starttls (default: from the port; "
                  "465/993/995 implicit, 25/587/143/110 starttls)");
  cmd->add_option("--upstream-tls", f->single.upstream_tls,
                  "TLS towards the upstream: plain, implicit or starttls (default: from the port)");
  cmd->add_option("--name", f->single.name, "Name of this listener in transcripts");
  cmd->add_option("--listener", f->specs,
                  "Another listener, as listen=HOST:PORT,upstream=HOST:PORT,proto=P,"
                  "client-tls=M,upstream-tls=M,name=N (repeatable)");
  cmd->add_option("--config", f->config_file,
                  "JSON config file: {\"listeners\": [{\"listen\": ..., \"upstream\": ..., "
                  "\"proto\": ..., \"client_tls\": ..., \"upstream_tls\": ...}], \"transcripts\": "
                  "DIR, \"ca_dir\": DIR, \"upstream_ca\": FILE, \"insecure\": bool}");
  cmd->add_option("--transcripts", f->transcripts,
                  "Directory for transcripts, one .jsonl file per session (mode 0600)")
      ->capture_default_str();
  cmd->add_flag("--no-transcripts", f->no_transcripts, "Record nothing to disk (relay only)");
  cmd->add_option("--ca-dir", f->ca_dir, "Directory of mailtap's local CA (`mailtap ca init`)")
      ->capture_default_str();
  cmd->add_option("--upstream-ca", f->upstream_ca,
                  "PEM file of CA certificates to trust for the upstream instead of the system "
                  "store");
  cmd->add_flag("--insecure", f->insecure,
                "Do not verify the upstream's certificate (recorded as a warning in every "
                "transcript)");
  cmd->add_flag("--allow-legacy-tls", f->allow_legacy_tls,
                "Allow TLS 1.0/1.1 and weak ciphers towards the upstream");
  cmd->add_flag("--tail", f->tail, "Print every session readably as it happens (C:/S: lines)");
  cmd->add_flag("--reveal-secrets", f->reveal_secrets,
                "Keep passwords and tokens in transcripts (redacted by default)");
  cmd->add_option("--max-connections", f->max_connections,
                  "Most sessions at once; more clients are turned away with a protocol error")
      ->capture_default_str();
  cmd->add_option("--threads", f->threads,
                  "Event loops, one per thread, each accepting on its own SO_REUSEPORT socket of "
                  "every listener (throughput grows with cores; one session stays on one loop)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--connect-timeout", f->connect_timeout, "Seconds to connect to the upstream")
      ->capture_default_str();
  cmd->add_option("--handshake-timeout", f->handshake_timeout, "Seconds for a TLS handshake")
      ->capture_default_str();
  cmd->add_option("--idle-timeout", f->idle_timeout, "Seconds without traffic before closing")
      ->capture_default_str();
  cmd->add_option("--line-timeout", f->line_timeout,
                  "Seconds a peer may take to finish a line it started (slow senders)")
      ->capture_default_str();
  cmd->add_option("--max-line", f->max_line,
                  "Longest client command line in octets (default: 512 SMTP/POP3, 8192 IMAP)");
  cmd->add_option("--on-transcript-error", f->on_transcript_error,
                  "When a transcript cannot be written (disk full, read-only directory): close "
                  "ends that session with a protocol error (nothing is relayed unrecorded; an "
                  "unwritable directory at start is fatal), continue relays it unrecorded. Either "
                  "way stderr says so and the exit status is 3")
      ->capture_default_str()
      ->check(CLI::IsMember({"close", "continue"}));
  cmd->add_option("--transcript-linger", f->transcript_linger_ms,
                  "Milliseconds the transcript writer gathers events before writing them: one "
                  "wake-up and one write per session for many loop iterations. A crash can lose "
                  "this much more of a transcript; 0 writes every loop iteration's events at once")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1000.0));
  cmd->add_option("--ready-file", f->ready_file,
                  "Write a JSON file with the bound addresses once listening (for scripts)");
  cmd->callback([f, &status] { status = run_proxy(*f); });
}

}  // namespace mailtap::cli
