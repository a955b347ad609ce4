#include "mailtap/io/proxy_server.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>

namespace mailtap::io {

ProxyServer::ProxyServer(ProxyOptions options) : options_(std::move(options)) {
  if (options_.threads == 0) options_.threads = 1;
  std::random_device rd;
  shared_.run_tag = rd() & 0xffff;
  shared_.max_connections = options_.max_connections;
}

ProxyServer::~ProxyServer() {
  // Threads were joined by run(); sessions still open (a second signal) go with their worker.
  workers_.clear();
  writer_.reset();
}

bool ProxyServer::make_tls(WorkerTls& tls, std::string& error) {
  bool needs_ca = false, needs_upstream_tls = false;
  for (const auto& l : options_.listeners) {
    needs_ca |= l.client_tls != TlsMode::plain;
    needs_upstream_tls |= l.upstream_tls != TlsMode::plain;
  }
  if (needs_ca) {
    std::string ca_error;
    auto ca = tls::CertAuthority::load(options_.ca_dir, ca_error);
    if (!ca) {
      error = ca_error;
      return false;
    }
    tls.ca = std::move(ca);
    ca_certificate_ = tls.ca->certificate_path();
    tls.client_ctx = tls::make_client_facing_context(tls.ca, error);
    if (!tls.client_ctx) return false;
  }
  if (needs_upstream_tls) {
    tls.upstream_ctx = tls::make_upstream_context(options_.trust, error);
    if (!tls.upstream_ctx) return false;
  }
  return true;
}

// Creates and removes a probe file, so a directory that cannot take transcripts (read-only, full,
// not ours) is known before the first client arrives.
bool ProxyServer::check_transcript_directory(std::string& error) {
  const auto& t = options_.transcripts;
  if (!t.write_files) return true;
  std::string problem = writer_->last_error();  // the directory could not be created
  if (problem.empty()) {
    auto probe = t.directory / (".mailtap-probe-" + std::to_string(::getpid()));
    int fd = ::open(probe.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) {
      problem = "cannot create files in transcript directory " + t.directory.string() + ": " +
                std::strerror(errno);
    } else {
      ::close(fd);
      ::unlink(probe.c_str());
    }
  }
  if (problem.empty()) return true;
  if (options_.on_transcript_error == TranscriptErrorPolicy::close) {
    error =
        problem + " (fix it, or pass --on-transcript-error continue to relay without transcripts)";
    return false;
  }
  std::fprintf(stderr,
               "mailtap: warning: %s; sessions will be relayed unrecorded "
               "(--on-transcript-error continue)\n",
               problem.c_str());
  return true;
}

bool ProxyServer::setup(std::string& error) {
  if (options_.listeners.empty()) {
    error = "no listener: give --listen and --upstream, --listener SPEC, or --config FILE";
    return false;
  }
  std::vector<WorkerTls> tls(options_.threads);
  for (auto& t : tls)
    if (!make_tls(t, error)) return false;
  writer_ = std::make_unique<transcript::TranscriptWriter>(options_.transcripts);
  if (!check_transcript_directory(error)) return false;
  std::vector<ListenerContext> contexts;
  for (const auto& cfg : options_.listeners) {
    ListenerContext c;
    c.config = cfg;
    c.upstream_insecure = options_.trust.insecure;
    c.timeouts = options_.timeouts;
    c.writer = writer_.get();
    c.on_transcript_error = options_.on_transcript_error;
    contexts.push_back(std::move(c));
  }
  const bool reuse_port = options_.threads > 1;
  for (size_t i = 0; i < options_.threads; ++i) {
    ProxyWorker::Drained drained;
    if (i == 0) {
      drained = [this](ProxyWorker*) {
        main_drained_ = true;
        check_done();
      };
    }
    auto worker = std::make_unique<ProxyWorker>(i, shared_, std::move(tls[i]), drained);
    std::vector<ListenerContext> mine = contexts;
    if (i > 0) {
      // Every loop binds the very addresses the first one got (a port 0 is now known).
      std::vector<ListenerConfig> first = workers_[0]->bound();
      for (size_t j = 0; j < mine.size(); ++j) mine[j].config.listen = first[j].listen;
    }
    bool ok = worker->listen(std::move(mine), reuse_port, error);
    workers_.push_back(std::move(worker));
    if (!ok) return false;
  }
  uv_loop_t* main_loop = workers_[0]->loop();
  uv_signal_init(main_loop, &sigint_);
  uv_signal_init(main_loop, &sigterm_);
  sigint_.data = sigterm_.data = this;
  uv_signal_start(&sigint_, &ProxyServer::on_signal, SIGINT);
  uv_signal_start(&sigterm_, &ProxyServer::on_signal, SIGTERM);
  // Never closed: worker threads may signal it until they are joined.
  uv_async_init(main_loop, &worker_exited_, &ProxyServer::on_worker_exited);
  worker_exited_.data = this;
  return true;
}

void ProxyServer::write_ready_file() {
  nlohmann::json ready = {
      {"pid", ::getpid()}, {"listeners", nlohmann::json::array()}, {"threads", options_.threads}};
  for (const auto& l : workers_[0]->bound()) ready["listeners"].push_back(to_json(l));
  if (!options_.transcripts.directory.empty())
    ready["transcripts"] = options_.transcripts.directory.string();
  if (!ca_certificate_.empty()) ready["ca"] = ca_certificate_.string();
  if (options_.ready_file.empty()) return;
  auto tmp = options_.ready_file;
  tmp += ".tmp";
  {
    std::ofstream out(tmp);
    out << ready.dump(2) << "\n";
  }
  std::filesystem::rename(tmp, options_.ready_file);
}

int ProxyServer::run() {
  std::string error;
  if (!setup(error)) {
    std::fprintf(stderr, "mailtap proxy: %s\n", error.c_str());
    return 2;
  }
  for (const auto& c : workers_[0]->bound()) {
    std::fprintf(stderr, "mailtap: listening on %s (%s, client %s) -> %s (upstream %s)\n",
                 c.listen.str().c_str(), std::string(to_string(c.protocol)).c_str(),
                 std::string(to_string(c.client_tls)).c_str(), c.upstream.str().c_str(),
                 std::string(to_string(c.upstream_tls)).c_str());
  }
  if (options_.threads > 1)
    std::fprintf(stderr, "mailtap: %zu event loops (threads), each accepting on every listener\n",
                 options_.threads);
  if (!options_.transcripts.directory.empty() && options_.transcripts.write_files)
    std::fprintf(stderr, "mailtap: transcripts in %s\n", options_.transcripts.directory.c_str());
  write_ready_file();
  for (size_t i = 1; i < workers_.size(); ++i) {
    ProxyWorker* w = workers_[i].get();
    w->enable_requests();
    threads_.emplace_back([this, w] {
      w->run();
      workers_exited_.fetch_add(1);
      uv_async_send(&worker_exited_);
    });
  }
  workers_[0]->run();
  ignore_further_signals();
  for (auto& t : threads_) t.join();
  threads_.clear();
  writer_->flush();
  std::string werr = writer_->last_error();
  if (!werr.empty()) std::fprintf(stderr, "mailtap: transcript writing failed: %s\n", werr.c_str());
  if (uint64_t failed = writer_->failed_sessions(); failed > 0) {
    std::fprintf(stderr, "mailtap: %llu session(s) could not be fully recorded\n",
                 static_cast<unsigned long long>(failed));
    return 3;
  }
  return 0;
}

void ProxyServer::on_worker_exited(uv_async_t* a) {
  static_cast<ProxyServer*>(a->data)->check_done();
}

void ProxyServer::check_done() {
  if (stopped_ || !shutting_down_ || !main_drained_) return;
  if (workers_exited_.load() + 1 < workers_.size()) return;
  stop();
}

void ProxyServer::stop() {
  stopped_ = true;
  // The signal handles stay started: stopping them would hand SIGINT/SIGTERM back to their
  // default action, and a signal before ignore_further_signals() would kill the process.
  uv_stop(workers_[0]->loop());
}

// The loop has stopped; what is left is joining threads and flushing transcripts. A signal now
// (a supervisor repeating SIGTERM, a third Ctrl-C) must not kill the process halfway through the
// flush, so both are ignored until exit. Closing the libuv handles resets them to SIG_DFL, hence
// SIG_IGN right after; their close callbacks run when worker 0's loop is torn down.
void ProxyServer::ignore_further_signals() {
  uv_close(reinterpret_cast<uv_handle_t*>(&sigint_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sigterm_), nullptr);
  std::signal(SIGINT, SIG_IGN);
  std::signal(SIGTERM, SIG_IGN);
}

void ProxyServer::on_signal(uv_signal_t* s, int signum) {
  auto* self = static_cast<ProxyServer*>(s->data);
  if (self->shutting_down_) {
    // Second signal: stop now; transcripts are still flushed by run().
    for (size_t i = 1; i < self->workers_.size(); ++i) self->workers_[i]->request_stop();
    self->stop();
    return;
  }
  self->begin_shutdown(signum == SIGINT ? "SIGINT" : "SIGTERM");
}

void ProxyServer::begin_shutdown(const std::string& reason) {
  shutting_down_ = true;
  std::fprintf(stderr, "mailtap: %s: closing %zu session(s) and flushing transcripts\n",
               reason.c_str(), shared_.connections.load());
  for (size_t i = 1; i < workers_.size(); ++i) workers_[i]->request_shutdown(reason);
  workers_[0]->shutdown(reason);
  check_done();
}

}  // namespace mailtap::io
