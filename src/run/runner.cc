#include "mailtap/run/runner.h"

#include <chrono>
#include <deque>
#include <thread>

#include "mailtap/decode/sasl.h"
#include "mailtap/run/client_connection.h"
#include "mailtap/run/expectation.h"
#include "mailtap/run/protocol_model.h"
#include "mailtap/run/response_reader.h"
#include "mailtap/run/sasl_client.h"
#include "mailtap/run/template.h"
#include "mailtap/tls/tls_info.h"
#include "run/run_recorder.h"
#include "run/run_text.h"
#include "run/sasl_session.h"
#include "run/step_log.h"

namespace mailtap::run {
namespace {

using transcript::EventType;
using transcript::FrameKind;
using transcript::Party;

bool is_starttls_answer(const Await& a) {
  return a.answers == "STARTTLS" || a.answers == "STLS";
}

class Engine {
 public:
  Engine(const Script& script, const RunOptions& options)
      : script_(script),
        opt_(options),
        reader_(conn_),
        model_(make_protocol_model(options.protocol)),
        recorder_(options.writer, {options.session_id, options.protocol,
                                   options.host + ":" + std::to_string(options.port), options.tls,
                                   options.insecure, script.source}) {
    vars_ = options.variables;
    result_.script = script.source;
    result_.target = options.host + ":" + std::to_string(options.port);
    result_.protocol = options.protocol;
    result_.tls = options.tls;
  }

  RunResult run() {
    auto started = SteadyClock::now();
    try {
      play();
    } catch (const ScriptError& e) {
      set_error(e.what());
    } catch (const std::exception& e) {
      set_error(std::string("internal error: ") + e.what());
    }
    close_connection("client", "the script ended");
    result_.transcript_path = recorder_.finish();
    result_.seconds = std::chrono::duration<double>(SteadyClock::now() - started).count();
    if (result_.count(StepResult::Status::fail) > 0)
      result_.outcome = RunResult::Outcome::failed;
    else if (errored_)
      result_.outcome = RunResult::Outcome::error;
    else
      result_.outcome = RunResult::Outcome::passed;
    return std::move(result_);
  }

 private:
  // ---- the script ---------------------------------------------------------------------------

  void play() {
    if (!connect()) return;
    awaiting_.push_back(model_->greeting());
    own_starttls_ = opt_.tls == TlsMode::starttls && !script_negotiates_tls();
    const auto& items = script_.items;
    for (size_t i = 0; i < items.size() && !stop_;) {
      const ScriptItem& item = items[i];
      index_ = i;
      switch (item.kind) {
        case ScriptItem::Kind::send:
          do_send(item);
          break;
        case ScriptItem::Kind::expect: {
          size_t end = i;
          while (end < items.size() && items[end].kind == ScriptItem::Kind::expect) ++end;
          do_expect(i, end);
          i = end;
          continue;
        }
        case ScriptItem::Kind::set:
          do_set(item);
          break;
        case ScriptItem::Kind::auth:
          do_auth(item, i + 1 < items.size() && items[i + 1].kind == ScriptItem::Kind::expect);
          break;
        case ScriptItem::Kind::starttls:
          do_starttls(item);
          break;
        case ScriptItem::Kind::sleep: {
          // The lines before a pause go out before it; a failure shows at the next read.
          std::string error;
          conn_.flush(deadline_in(opt_.timeout_seconds), error);
          std::this_thread::sleep_for(std::chrono::duration<double>(item.seconds));
          break;
        }
        case ScriptItem::Kind::close:
          flush_sends_as_step(item.where, "the client closed the connection (!close)");
          close_connection("client", "!close in the script");
          break;
        case ScriptItem::Kind::expect_close:
          do_expect_close(item);
          break;
      }
      ++i;
    }
    if (!stop_ && conn_.is_open() && (!awaiting_.empty() || log_.has_unreported_sends()))
      implicit_read(SourceLocation{script_.source, 0}, "responses after the last S: line");
    if (!stop_ && conn_.is_open() && (last_answered_ == "QUIT" || last_answered_ == "LOGOUT")) {
      // The server closes after saying goodbye; record who ended the session.
      std::string data, error;
      if (reader_.wait_for_close(deadline_in(0.5), data, error) == IoStatus::closed && data.empty())
        close_connection("server", "closed by the server after " + last_answered_);
    }
  }

  bool script_negotiates_tls() const {
    for (const ScriptItem& item : script_.items) {
      if (item.kind == ScriptItem::Kind::starttls) return true;
      if (item.kind != ScriptItem::Kind::send) continue;
      std::string text(item.text);
      std::string first = detail_upper(word_at(text, 0)), second = detail_upper(word_at(text, 1));
      if (first == "STARTTLS" || first == "STLS" || second == "STARTTLS") return true;
    }
    return false;
  }

  void do_set(const ScriptItem& item) {
    if (opt_.variables.count(item.name)) return;  // --var wins, so scripts can carry defaults
    auto value = expand(item.text, item.where);
    if (value) vars_[item.name] = *value;
  }

  void do_send(const ScriptItem& item) {
    if (!prepare_send(item.where)) return;  // may read the reply to DATA
    if (skip_message_) {
      bool end = item.raw ? without_line_end(item.text) == "." : item.text == ".";
      ++skipped_lines_;
      if (end) {
        skip_message_ = false;
        add_step(StepResult::Status::unchecked, item.where, {},
                 std::to_string(skipped_lines_) + " message line(s) not sent: DATA was refused");
        skipped_lines_ = 0;
      }
      return;
    }
    std::string bytes, shown;
    if (item.raw) {
      bytes = item.text;
      shown = printable(without_line_end(bytes));
    } else {
      bool body = model_->in_message_body();
      if (!body && !model_->in_literal() && !model_->in_sasl()) {
        std::string mechanism = auth_mechanism_in(item.text);
        if (!mechanism.empty()) start_sasl(mechanism);
      }
      sasl_in_command_ = !body && !model_->in_literal() && !model_->in_sasl() && sasl_.active();
      auto expanded = expand(item.text, item.where);
      sasl_in_command_ = false;
      if (!expanded) return;
      if (body && *expanded != "." && !expanded->empty() && expanded->front() == '.')
        expanded->insert(0, ".");  // dot-stuffing (RFC 5321 4.5.2)
      bytes = *expanded + "\r\n";
      shown = mentions_secret(item.text) ? item.text : printable(*expanded);
    }
    send_planned(bytes, shown, item.where, Party::client);
  }

  void do_expect(size_t begin, size_t end) {
    std::vector<Expectation> block;
    for (size_t k = begin; k < end; ++k) {
      const ScriptItem& item = script_.items[k];
      auto text = expand(item.text, item.where);
      if (!text) return;
      block.push_back(parse_expectation(*text, item.where));
    }
    const SourceLocation& where = script_.items[begin].where;
    std::vector<Response> responses = std::move(carried_);
    carried_.clear();
    bool had_awaits = !awaiting_.empty();
    bool complete = read_awaited(responses);
    std::vector<ReceivedLine> lines = response_lines(responses);
    BlockMatch match = match_block(block, lines);
    // The block wants more than the awaited responses: unsolicited data (IMAP EXISTS after
    // IDLE, a second reply), or a mismatch. Wait a little for more, the full timeout when the
    // client awaited nothing (the script then waits for the server on purpose).
    Deadline extra_deadline =
        deadline_in(had_awaits ? std::min(opt_.timeout_seconds, 1.5) : opt_.timeout_seconds);
    while (!match.ok && match.wanted_more_lines && complete && conn_.is_open()) {
      Response r = read_response(unsolicited(), extra_deadline, Party::client);
      if (r.frames.empty()) break;
      responses.push_back(std::move(r));
      complete = responses.back().complete;
      lines = response_lines(responses);
      match = match_block(block, lines);
    }
    StepResult step = take_current(where);
    for (const Expectation& e : block) step.expected.push_back(e.written);
    for (const ReceivedLine& l : lines) step.received.push_back(l.text);
    if (match.ok) {
      step.status = StepResult::Status::pass;
    } else {
      step.status = StepResult::Status::fail;
      step.note = match.reason;
      step.difference = render_difference(block, lines, match, "    ");
    }
    std::string problem = first_problem(responses);
    if (!problem.empty()) {
      step.note += (step.note.empty() ? "" : "; ") + problem;
      if (match.ok || lines.empty()) step.status = StepResult::Status::error;
    }
    push_step(std::move(step));
    if (!problem.empty()) return halt(problem + " (" + where.str() + ")");
    after_responses(responses, where);
  }

  void do_auth(const ScriptItem& item, bool next_is_expect) {
    if (!prepare_send(item.where)) return;
    sasl_.start(item.name, credentials());
    SaslClient* sasl = sasl_.client();
    if (!sasl)
      return set_error(item.where.str() + ": !auth " + item.name + ": " + sasl_.start_error());
    std::string tag = item.tag.empty() ? next_tag() : item.tag;
    std::optional<std::string> initial;
    if (sasl->client_first() && model_->sends_initial_response()) {
      SaslReply first = sasl->initial();
      if (!first.ok()) return fail_here(item.where, first.error);
      initial = decode::base64_encode(first.message);
    }
    std::string line = model_->auth_command(item.name, tag, initial);
    std::string shown = model_->auth_command(
        item.name, tag, initial ? std::optional<std::string>("${sasl}") : std::nullopt);
    send_planned(line, std::string(without_line_end(shown)), item.where, Party::client);
    std::vector<Response> responses;
    while (!stop_ && !awaiting_.empty()) {
      Await await = awaiting_.front();
      awaiting_.pop_front();
      responses.push_back(read_response(await, deadline_in(opt_.timeout_seconds), Party::client));
      const Response& r = responses.back();
      if (!r.complete) break;
      if (!model_->continuation(r)) break;
      SaslReply reply = sasl->respond(sasl_.last_challenge());
      if (!reply.ok()) {
        StepResult step = take_current(item.where);
        step.received = all_lines(responses);
        step.status = StepResult::Status::fail;
        step.note = reply.error;
        push_step(std::move(step));
        return halt(item.name + " could not go on: " + reply.error);
      }
      send_planned(decode::base64_encode(reply.message) + "\r\n", "${sasl}", item.where,
                   Party::client);
    }
    sync_needed_ = false;
    StepResult step = take_current(item.where);
    step.received = all_lines(responses);
    std::string problem = first_problem(responses);
    bool ok = problem.empty() && !responses.empty() && model_->positive(responses.back());
    step.status = ok ? StepResult::Status::pass : StepResult::Status::fail;
    step.note = problem.empty()
                    ? (ok ? item.name + " authentication succeeded"
                          : item.name + " authentication failed: " + responses.back().last_line())
                    : problem;
    if (!problem.empty()) step.status = StepResult::Status::error;
    if (next_is_expect && problem.empty()) {
      // The S: block after !auth checks the final response; this step only reports.
      step.status = StepResult::Status::unchecked;
      carried_.push_back(responses.back());
    }
    push_step(std::move(step));
    if (!problem.empty()) halt(problem);
  }

  void do_starttls(const ScriptItem& item) {
    if (!prepare_send(item.where)) return;
    std::string tag = item.tag.empty() ? next_tag() : item.tag;
    std::string line = model_->starttls_command(tag);
    send_planned(line, std::string(without_line_end(line)), item.where, Party::client);
    std::vector<Response> responses;
    read_awaited(responses);
    StepResult step = take_current(item.where);
    step.received = all_lines(responses);
    std::string problem = first_problem(responses);
    bool ok = problem.empty() && model_->positive(responses.back());
    step.status = ok ? StepResult::Status::pass
                     : (problem.empty() ? StepResult::Status::fail : StepResult::Status::error);
    step.note = ok ? "STARTTLS accepted" : (problem.empty() ? "STARTTLS refused" : problem);
    push_step(std::move(step));
    if (!ok) return halt("STARTTLS did not succeed (" + item.where.str() + ")");
    after_responses(responses, item.where);
  }

  void do_expect_close(const ScriptItem& item) {
    if (!awaiting_.empty()) implicit_read(item.where, "responses before !expect-close");
    if (stop_) return;
    std::string data, error;
    IoStatus st = reader_.wait_for_close(deadline_in(opt_.timeout_seconds), data, error);
    if (!data.empty()) record_data(Party::server, Party::client, {FrameKind::raw, data});
    StepResult step = take_current(item.where);
    step.expected = {"(the server closes the connection)"};
    for (auto& l : split_lines(data)) step.received.push_back(l);
    if (st == IoStatus::closed && data.empty()) {
      step.status = StepResult::Status::pass;
      step.note = "the server closed the connection";
      push_step(std::move(step));
      close_connection("server", "closed by the server");
      return;
    }
    step.status = StepResult::Status::fail;
    step.note = st == IoStatus::timeout  ? "the server kept the connection open"
                : st == IoStatus::closed ? "the server sent more before closing"
                                         : "reading failed: " + error;
    push_step(std::move(step));
    halt("");
  }

  // ---- sending and reading --------------------------------------------------------------------

  // Before a client line: mailtap's own STARTTLS (--tls starttls), then the responses a
  // synchronising command waits for (STARTTLS, AUTH, DATA, literals), then a due TLS handshake.
  bool prepare_send(const SourceLocation& where) {
    if (stop_) return false;
    if (!conn_.is_open()) {
      halt("the connection is closed; cannot send (" + where.str() + ")");
      return false;
    }
    if (own_starttls_) {
      own_starttls_ = false;
      if (!negotiate_starttls(where)) return false;
    }
    if (sync_needed_ && !awaiting_.empty()) implicit_read(where, "");
    sync_needed_ = false;
    return !stop_;
  }

  void send_planned(const std::string& bytes, const std::string& shown, const SourceLocation& where,
                    Party from) {
    SendPlan plan = model_->plan(bytes);
    for (const auto& frame : plan.frames) record_data(from, Party::server, frame);
    log_.sent(where, shown);
    std::string error;
    if (!conn_.send(bytes, deadline_in(opt_.timeout_seconds), error)) {
      StepResult step = take_current(where);
      step.status = StepResult::Status::error;
      step.note = error;
      push_step(std::move(step));
      return halt(error + " (" + where.str() + ")");
    }
    for (const Await& a : plan.awaits) awaiting_.push_back(a);
    if (plan.sync) sync_needed_ = true;
  }

  Response read_response(const Await& await, Deadline deadline, Party to) {
    Response r = reader_.read(await, deadline);
    for (const auto& frame : r.frames) record_data(Party::server, to, frame);
    if (!r.complete) return r;
    last_answered_ = await.answers;
    if (to == Party::client) model_->on_response(r);
    if (await.answers == "greeting") greeting_ = r.first_line();
    if (sasl_.active() && model_->continuation(r)) sasl_.challenge(model_->challenge_text(r));
    if (to == Party::client && is_starttls_answer(await) && model_->positive(r))
      handshake_due_ = true;
    if (await.answers == "DATA" && !model_->in_message_body()) skip_message_ = script_sends_dot();
    return r;
  }

  bool read_awaited(std::vector<Response>& out) {
    while (!awaiting_.empty()) {
      Await await = awaiting_.front();
      awaiting_.pop_front();
      out.push_back(read_response(await, deadline_in(opt_.timeout_seconds), Party::client));
      if (!out.back().complete) {
        awaiting_.clear();
        return false;
      }
    }
    return true;
  }

  // Responses nobody wrote an S: block for: shown, checked only where the run depends on them.
  void implicit_read(const SourceLocation& where, const std::string& why) {
    std::vector<Response> responses;
    read_awaited(responses);
    StepResult step = take_current(where);
    step.received = all_lines(responses);
    step.status = StepResult::Status::unchecked;
    step.note = why.empty() ? "not checked (no S: line)" : why + " (not checked)";
    std::string problem = first_problem(responses);
    for (const Response& r : responses) {
      if (!r.complete) break;
      if (is_starttls_answer(r.await) && !model_->positive(r)) {
        step.status = StepResult::Status::fail;
        step.note = "STARTTLS refused: " + r.last_line();
      } else if (r.await.answers == "LITERAL" && !model_->continuation(r)) {
        step.status = StepResult::Status::fail;
        step.note = "the server refused the literal: " + r.last_line();
      }
    }
    if (!problem.empty()) {
      step.status = StepResult::Status::error;
      step.note = problem;
    }
    bool stop = step.status != StepResult::Status::unchecked;
    std::string note = step.note;
    push_step(std::move(step));
    if (stop) return halt(note + " (" + where.str() + ")");
    after_responses(responses, where);
  }

  // After a step's responses: a refused synchronizing literal ends the run; a positive STARTTLS
  // reply starts the handshake.
  void after_responses(const std::vector<Response>& responses, const SourceLocation& where) {
    for (const Response& r : responses)
      if (r.await.answers == "LITERAL" && r.complete && !model_->continuation(r))
        return halt("the server refused a synchronizing literal: " + r.last_line() +
                    "; the literal was not sent (" + where.str() + ")");
    if (handshake_due_) handshake(where, Party::client);
  }

  void handshake(const SourceLocation& where, Party handled_by) {
    handshake_due_ = false;
    if (reader_.has_buffered()) {
      std::string injected = reader_.take_buffered();
      record_data(Party::server, Party::mailtap, {FrameKind::raw, injected});
      std::string message = "the server sent " + std::to_string(injected.size()) +
                            " byte(s) after its STARTTLS reply, before TLS; they were dropped";
      record_event(EventType::warning,
                   {{"code", "starttls_response_injection"}, {"message", message}});
      add_step(StepResult::Status::fail, where, split_lines(injected), message);
    }
    record_event(EventType::starttls,
                 {{"leg", "server"},
                  {"phase", "handshake"},
                  {"handled_by", handled_by == Party::mailtap ? "mailtap" : "client"}});
    if (!start_tls(where)) return;
  }

  bool start_tls(const SourceLocation& where) {
    std::string error;
    if (!opt_.tls_context) {
      set_error(where.str() + ": TLS is needed but no TLS context was set up");
      return false;
    }
    tls::ClientOptions options;
    options.server_name = opt_.server_name.empty() ? opt_.host : opt_.server_name;
    options.verify = !opt_.insecure;
    if (!conn_.start_tls(opt_.tls_context.get(), options, deadline_in(opt_.connect_timeout_seconds),
                         error)) {
      record_event(EventType::error, {{"code", "tls_failed"}, {"message", error}});
      add_step(StepResult::Status::error, where, {}, error);
      set_error(error + " (" + where.str() + ")");
      return false;
    }
    tls::TlsInfo info = conn_.tls_info();
    nlohmann::json fields = tls::to_json(info);
    fields["leg"] = "server";
    record_event(EventType::tls, fields);
    log_.note_tls("TLS up: " + info.version + " " + info.cipher + ", " + info.verification);
    return true;
  }

  // --tls starttls with a script that does not say STARTTLS: mailtap upgrades the connection
  // itself right after the greeting, like the proxy does towards an upstream.
  bool negotiate_starttls(const SourceLocation& where) {
    if (!awaiting_.empty()) implicit_read(where, "greeting");
    if (stop_) return false;
    std::vector<Response> responses;
    auto exchange = [&](const std::string& line, Await await) {
      record_data(Party::mailtap, Party::server, {FrameKind::line, line});
      log_.sent(where, std::string(without_line_end(line)) + "    (mailtap, for --tls starttls)");
      std::string error;
      if (!conn_.send(line, deadline_in(opt_.timeout_seconds), error)) return false;
      responses.push_back(read_response(await, deadline_in(opt_.timeout_seconds), Party::mailtap));
      return responses.back().complete;
    };
    record_event(EventType::starttls,
                 {{"leg", "server"}, {"phase", "requested"}, {"handled_by", "mailtap"}});
    bool ok = true;
    std::string tag = next_tag();
    switch (opt_.protocol) {
      case Protocol::smtp:
        ok = exchange("EHLO localhost\r\n", {Await::Kind::smtp_reply, {}, "EHLO"}) &&
             exchange("STARTTLS\r\n", {Await::Kind::smtp_reply, {}, "STARTTLS"});
        break;
      case Protocol::imap:
        ok = exchange(tag + " STARTTLS\r\n", {Await::Kind::imap_tagged, tag, "STARTTLS"});
        break;
      case Protocol::pop3:
        ok = exchange("STLS\r\n", {Await::Kind::pop3_line, {}, "STLS"});
        break;
    }
    StepResult step = take_current(where);
    step.received = all_lines(responses);
    ok = ok && model_->positive(responses.back());
    step.status = ok ? StepResult::Status::pass : StepResult::Status::error;
    step.note =
        ok ? "mailtap negotiated STARTTLS (--tls starttls)"
           : "the server did not accept STARTTLS: " +
                 (responses.empty() ? std::string("no reply") : responses.back().last_line());
    std::string note = step.note;
    push_step(std::move(step));
    if (!ok) {
      set_error(note + " (" + where.str() + ")");
      return false;
    }
    handshake(where, Party::mailtap);
    return !stop_;
  }

  // ---- connection and transcript --------------------------------------------------------------

  bool connect() {
    std::string error;
    if (!conn_.connect(opt_.host, opt_.port, deadline_in(opt_.connect_timeout_seconds), error)) {
      record_event(EventType::error, {{"code", "connect_failed"}, {"message", error}});
      set_error(error);
      return false;
    }
    record_event(
        EventType::connect,
        {{"leg", "server"}, {"peer", conn_.peer_address()}, {"local", conn_.local_address()}});
    if (opt_.tls == TlsMode::implicit) {
      record_event(EventType::starttls,
                   {{"leg", "server"}, {"phase", "handshake"}, {"handled_by", "client"}});
      if (!start_tls(SourceLocation{script_.source, 0})) return false;
    }
    return true;
  }

  void record_data(Party from, Party to, const session::Frame& frame) {
    recorder_.data(from, to, frame, conn_.tls_active());
  }

  void record_event(EventType type, nlohmann::json fields) {
    recorder_.event(type, std::move(fields));
  }

  void close_connection(const std::string& by, const std::string& reason) {
    if (!conn_.is_open()) return;
    conn_.close();
    record_event(EventType::close, {{"leg", "server"},
                                    {"by", by},
                                    {"reason", reason},
                                    {"bytes_in", conn_.bytes_in()},
                                    {"bytes_out", conn_.bytes_out()}});
  }

  // ---- templates and SASL ---------------------------------------------------------------------

  std::optional<std::string> expand(const std::string& text, const SourceLocation& where) {
    ExpansionContext ctx;
    ctx.variables = &vars_;
    ctx.unique = opt_.unique;
    bool sasl_failed = false;
    ctx.sasl = [&](std::string& error) {
      return sasl_.next(sasl_in_command_, model_->in_sasl(), error, sasl_failed);
    };
    ctx.apop = [&](std::string& error) -> std::optional<std::string> {
      auto pass = vars_.find("pass");
      if (pass == vars_.end()) {
        error = "${apop} needs the password (--var pass=...)";
        return std::nullopt;
      }
      std::string digest = apop_digest(greeting_, pass->second);
      if (digest.empty()) error = "${apop}: the greeting has no <timestamp> (no APOP offered)";
      return digest.empty() ? std::nullopt : std::optional<std::string>(digest);
    };
    std::string error;
    auto out = expand_template(text, ctx, error);
    if (out) return out;
    if (sasl_failed) {
      fail_here(where, error);
    } else {
      set_error(where.str() + ": " + error);
    }
    return std::nullopt;
  }

  SaslCredentials credentials() const {
    SaslCredentials c;
    auto get = [&](const char* name) {
      auto it = vars_.find(name);
      return it == vars_.end() ? std::string() : it->second;
    };
    c.user = get("user");
    c.password = get("pass");
    if (c.password.empty()) c.password = get("password");
    c.authzid = get("authzid");
    c.token = get("token");
    c.client_nonce = opt_.scram_client_nonce;
    return c;
  }

  void start_sasl(const std::string& mechanism) { sasl_.start(mechanism, credentials()); }

  std::string auth_mechanism_in(const std::string& text) const {
    if (opt_.protocol == Protocol::imap)
      return detail_upper(word_at(text, 1)) == "AUTHENTICATE" ? detail_upper(word_at(text, 2)) : "";
    return detail_upper(word_at(text, 0)) == "AUTH" ? detail_upper(word_at(text, 1)) : "";
  }

  static bool mentions_secret(const std::string& text) {
    for (const std::string& r : template_references(text))
      if (r == "pass" || r == "password" || r == "sasl" || r == "token" || r == "token|pass")
        return true;
    return text.find("${auth_plain") != std::string::npos ||
           text.find("${xoauth2") != std::string::npos || text.find("${apop") != std::string::npos;
  }

  std::string next_tag() { return "mt" + std::to_string(++tag_counter_); }

  Await unsolicited() const {
    switch (opt_.protocol) {
      case Protocol::smtp:
        return {Await::Kind::smtp_reply, {}, "unsolicited"};
      case Protocol::imap:
        return {Await::Kind::imap_greeting, {}, "unsolicited"};
      case Protocol::pop3:
        return {Await::Kind::pop3_line, {}, "unsolicited"};
    }
    return {};
  }

  bool script_sends_dot() const {
    for (size_t k = index_ + 1; k < script_.items.size(); ++k) {
      const ScriptItem& item = script_.items[k];
      if (item.kind != ScriptItem::Kind::send) continue;
      if (item.raw ? without_line_end(item.text) == "." : item.text == ".") return true;
    }
    return false;
  }

  // ---- steps and stopping -------------------------------------------------------------------

  StepResult take_current(const SourceLocation& where) { return log_.take(where); }

  void push_step(StepResult step) {
    if (log_.push(std::move(step)) && opt_.fail_fast) stop_ = true;
  }

  void add_step(StepResult::Status status, const SourceLocation& where,
                std::vector<std::string> received, const std::string& note) {
    if (log_.add(status, where, std::move(received), note) && opt_.fail_fast) stop_ = true;
  }

  void flush_sends_as_step(const SourceLocation& where, const std::string& note) {
    StepResult step = take_current(where);
    step.note = note;
    push_step(std::move(step));
  }

  void fail_here(const SourceLocation& where, const std::string& why) {
    StepResult step = take_current(where);
    step.status = StepResult::Status::fail;
    step.note = why;
    push_step(std::move(step));
    halt("");
  }

  void halt(const std::string& why) {
    stop_ = true;
    if (!why.empty()) {
      errored_ = true;
      if (result_.error.empty()) result_.error = why;
    }
  }

  void set_error(const std::string& why) {
    stop_ = true;
    errored_ = true;
    if (result_.error.empty()) result_.error = why;
  }

  const Script& script_;
  const RunOptions& opt_;
  ClientConnection conn_;
  ResponseReader reader_;
  std::unique_ptr<ProtocolModel> model_;
  RunRecorder recorder_;
  std::map<std::string, std::string> vars_;
  RunResult result_;
  StepLog log_{result_.steps, recorder_};
  std::deque<Await> awaiting_;
  std::vector<Response> carried_;  // read by !auth, checked by the S: block after it
  size_t index_ = 0;               // the script item being played
  bool sync_needed_ = false;
  bool handshake_due_ = false;
  bool own_starttls_ = false;
  bool skip_message_ = false;
  size_t skipped_lines_ = 0;
  SaslSession sasl_;
  bool sasl_in_command_ = false;  // expanding the AUTH line itself: ${sasl} is the initial response
  std::string greeting_;
  std::string last_answered_;  // the command the last complete response answered
  int tag_counter_ = 0;
  bool stop_ = false;
  bool errored_ = false;
};

}  // namespace

RunResult run_script(const Script& script, const RunOptions& options) {
  return Engine(script, options).run();
}

}  // namespace mailtap::run
