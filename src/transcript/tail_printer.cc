#include "mailtap/transcript/tail_printer.h"

#include "mailtap/transcript/line_view.h"

namespace mailtap::transcript {
namespace {

constexpr const char* kReset = "\x1b[0m";
constexpr const char* kDim = "\x1b[2m";
constexpr const char* kClient = "\x1b[32m";   // green
constexpr const char* kServer = "\x1b[36m";   // cyan
constexpr const char* kProxy = "\x1b[35m";    // magenta
constexpr const char* kEvent = "\x1b[33m";    // yellow
constexpr const char* kAlert = "\x1b[1;31m";  // bold red

const char* color_for(const std::string& speaker) {
  if (speaker == "C") return kClient;
  if (speaker == "S") return kServer;
  return kProxy;
}

std::string join_notes(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return a + "; " + b;
}

// What the proxy did with bytes, beyond relaying them.
std::string routing_note(const DataView& v) {
  if (v.dropped) return "dropped by mailtap";
  if (v.speaker == "P") return "sent by mailtap to " + v.to;
  return "";
}

}  // namespace

TailPrinter::TailPrinter(std::FILE* out, TailOptions options) : out_(out), options_(options) {}

void TailPrinter::attach(WriterOptions& options) {
  options.observer = [this](const std::string& id, const nlohmann::json& line) { print(id, line); };
  options.session_finished = [this](const std::string& id) { forget(id); };
}

TailPrinter::SessionState& TailPrinter::state_for(const std::string& session_id) {
  auto [it, inserted] = sessions_.try_emplace(session_id);
  if (inserted) it->second.prefix = "[" + session_id + "]";
  return it->second;
}

void TailPrinter::emit(const SessionState& s, const std::string& marker, const char* color,
                       const std::string& text, const std::string& note) {
  std::string out;
  out.reserve(s.prefix.size() + text.size() + note.size() + 32);
  if (options_.color) out += kDim;
  out += s.prefix;
  if (options_.color) out += kReset;
  out += ' ';
  if (options_.color && color) out += color;
  out += marker;
  out += ' ';
  out += text;
  if (options_.color && color) out += kReset;
  if (!note.empty()) {
    out += "   ";
    if (options_.color) out += kDim;
    out += "# " + note;
    if (options_.color) out += kReset;
  }
  out += '\n';
  std::fputs(out.c_str(), out_);
}

void TailPrinter::flush_pending(SessionState& s) {
  PendingContent& p = s.pending;
  if (p.pieces == 0) return;
  std::string text = "<" + p.frame + " " + std::to_string(p.bytes) + " bytes";
  if (p.pieces > 1) text += " in " + std::to_string(p.pieces) + " pieces";
  text += ">";
  emit(s, p.speaker + ":", color_for(p.speaker), text, p.suffix);
  p = PendingContent{};
}

void TailPrinter::print(const std::string& session_id, const nlohmann::json& line) {
  std::lock_guard lock(mutex_);
  SessionState& s = state_for(session_id);
  const std::string type = field_text(line, "type");

  if (type == "session") {
    s.prefix = "[" +
               (field_text(line, "session").empty() ? session_id : field_text(line, "session")) +
               " " + field_text(line, "protocol") + " " + field_text(line, "client") + "]";
    emit(s, "==", kEvent, describe_header(line), "");
  } else if (auto v = view_data(line)) {
    std::string note = join_notes(routing_note(*v), annotation(line));
    if (is_content_frame(v->frame)) {
      // Message content arrives in arbitrary pieces: one summary line per run of pieces.
      PendingContent& p = s.pending;
      if (p.pieces > 0 && (p.speaker != v->speaker || p.frame != v->frame)) flush_pending(s);
      p.speaker = v->speaker;
      p.frame = v->frame;
      p.bytes += v->len;
      ++p.pieces;
      if (!note.empty()) p.suffix = note;
      if (!line_warnings(line).empty()) flush_pending(s);  // keep warnings after their line
    } else {
      flush_pending(s);
      if (v->binary) {
        emit(s, v->speaker + ":", color_for(v->speaker),
             "<" + std::to_string(v->len) + " binary bytes>", note);
      } else {
        auto lines = display_lines(v->bytes, options_.max_line_chars);
        for (size_t i = 0; i < lines.size(); ++i) {
          emit(s, v->speaker + ":", color_for(v->speaker), lines[i],
               i + 1 == lines.size() ? note : "");
        }
      }
    }
  } else {
    flush_pending(s);
    const bool alert = type == "warning" || type == "error";
    emit(s, alert ? "!!" : "==", alert ? kAlert : kEvent, describe_event(line), annotation(line));
  }
  for (const LineWarning& w : line_warnings(line)) {
    emit(s, "!!", kAlert, "warning " + (w.code.empty() ? "" : w.code + ": ") + w.message, "");
  }
  std::fflush(out_);
}

void TailPrinter::forget(const std::string& session_id) {
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) return;
  flush_pending(it->second);
  std::fflush(out_);
  sessions_.erase(it);
}

}  // namespace mailtap::transcript
