// Properties every Session must keep whatever it is fed, checked from the outside: what the
// transcript says crossed each leg is what really crossed it, nothing happens after Close, TLS is
// started at most once per leg, implicit legs never see cleartext, and credentials never go to an
// upstream that requires TLS before that TLS is up. Free of GoogleTest so that the fuzz targets
// can use it too; every check returns a description of the first violation, or "" when none.
#pragma once

#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "mailtap/session/session.h"
#include "mailtap/transcript/event.h"

namespace mailtap::session::test {

inline transcript::Party party_of(Side side) {
  return side == Side::client ? transcript::Party::client : transcript::Party::server;
}

inline std::string printable(std::string_view bytes, size_t max = 160) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes.size() && out.size() < max; ++i) {
    unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\\' || c == '"') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (out.size() >= max) out += "...";
  return out;
}

inline std::string describe(const Command& command) {
  struct Describer {
    std::string operator()(const ConnectUpstream&) const { return "ConnectUpstream"; }
    std::string operator()(const Send& s) const {
      return std::string("Send{") + std::string(to_string(s.side)) + ", \"" + printable(s.bytes) +
             "\"}";
    }
    std::string operator()(const StartTls& s) const {
      std::string leaf;
      if (s.side == Side::client)
        leaf = ", leaf{host=" + s.leaf.upstream_host +
               (s.leaf.real ? ", real=" + s.leaf.real->subject : std::string(", no real cert")) +
               "}";
      return "StartTls{" + std::string(to_string(s.side)) + leaf + "}";
    }
    std::string operator()(const StartReading& s) const {
      return "StartReading{" + std::string(to_string(s.side)) + "}";
    }
    std::string operator()(const ShutdownWrite& s) const {
      return "ShutdownWrite{" + std::string(to_string(s.side)) + "}";
    }
    std::string operator()(const Close& c) const { return "Close{\"" + c.reason + "\"}"; }
  };
  return std::visit(Describer{}, command);
}

inline std::string describe(const transcript::Event& e) {
  std::string out(to_string(e.type));
  if (e.type == transcript::EventType::data) {
    out += " ";
    out += to_string(e.from);
    out += "->";
    out += to_string(e.to);
    out += " ";
    out += to_string(e.frame);
    if (e.over_tls) out += " tls";
    out += " \"" + printable(e.bytes) + "\"";
  } else if (!e.fields.is_null()) {
    out += " " + e.fields.dump();
  }
  return out;
}

// The first word of a client line that names a command carrying credentials, if any
// (SMTP AUTH; IMAP LOGIN/AUTHENTICATE after the tag; POP3 USER/PASS/APOP/AUTH mechanism).
inline bool is_credentials_line(Protocol protocol, std::string_view line) {
  auto upper_word = [&](size_t n) {
    size_t pos = 0;
    for (size_t i = 0;; ++i) {
      while (pos < line.size() && line[pos] == ' ') ++pos;
      size_t end = pos;
      while (end < line.size() && line[end] != ' ' && line[end] != '\r' && line[end] != '\n') ++end;
      if (i == n || end == pos) {
        std::string w(line.substr(pos, end - pos));
        for (char& c : w) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        return w;
      }
      pos = end;
    }
  };
  switch (protocol) {
    case Protocol::smtp:
      return upper_word(0) == "AUTH";
    case Protocol::imap: {
      std::string verb = upper_word(1);
      return verb == "LOGIN" || verb == "AUTHENTICATE";
    }
    case Protocol::pop3: {
      std::string verb = upper_word(0);
      return verb == "USER" || verb == "PASS" || verb == "APOP" ||
             (verb == "AUTH" && !upper_word(1).empty());
    }
  }
  return false;
}

// Watches one session from the I/O layer's seat: every event fed and every command returned.
class SessionWatch {
 public:
  SessionWatch(const SessionConfig& config, const std::vector<transcript::Event>& transcript)
      : config_(config), transcript_(transcript) {}

  // Call before handing `event` to the session.
  void before(const Event& event) {
    if (auto* b = std::get_if<BytesReceived>(&event)) received_[i(b->side)].append(b->bytes);
    if (auto* t = std::get_if<TlsEstablished>(&event)) {
      tls_up_[i(t->side)] = true;
      tls_up_at_[i(t->side)] = transcript_.size();
    }
  }

  // Call with the commands the session returned for one event. Returns "" or a violation.
  std::string after(const std::vector<Command>& commands) {
    for (const Command& c : commands) {
      if (closed_) return "a command after Close: " + describe(c);
      if (auto* s = std::get_if<Send>(&c)) {
        size_t k = i(s->side);
        if (s->bytes.empty()) return "an empty Send to the " + std::string(to_string(s->side));
        TlsMode mode = s->side == Side::client ? config_.client_tls : config_.upstream_tls;
        if (mode == TlsMode::implicit && !tls_started_[k])
          return "cleartext Send to an implicit-TLS " + std::string(to_string(s->side)) +
                 " leg before StartTls: " + describe(c);
        sent_[k] += s->bytes;
      } else if (auto* t = std::get_if<StartTls>(&c)) {
        size_t k = i(t->side);
        if (tls_started_[k]) return "StartTls twice on the " + std::string(to_string(t->side));
        tls_started_[k] = true;
      } else if (std::holds_alternative<Close>(c)) {
        closed_ = true;
      } else if (std::holds_alternative<ConnectUpstream>(c)) {
        if (connect_requested_) return "ConnectUpstream twice";
        connect_requested_ = true;
      }
    }
    return check_transcript();
  }

  // The transcript agrees with the wire, the fail-closed rules hold.
  std::string check_transcript() const {
    using transcript::EventType;
    using transcript::Party;
    std::string to[2], from[2];
    bool upstream_tls_seen = false;
    for (size_t n = 0; n < transcript_.size(); ++n) {
      const auto& e = transcript_[n];
      if (e.type == EventType::tls && e.fields.is_object() && e.fields.value("leg", "") == "server")
        upstream_tls_seen = true;
      if (e.type != EventType::data) continue;
      for (Side side : {Side::client, Side::server}) {
        if (e.to == party_of(side)) to[i(side)] += e.bytes;
        if (e.from == party_of(side)) from[i(side)] += e.bytes;
      }
      if (e.from == Party::client && e.over_tls != (tls_up_[0] && n >= tls_up_at_[0]))
        return "client data recorded with over_tls=" + std::to_string(e.over_tls) +
               " though the client leg's TLS is " + (tls_up_[0] ? "up" : "down") + ": " +
               describe(e);
      if (e.from == Party::client && e.to == Party::server &&
          e.frame == transcript::FrameKind::line && config_.upstream_tls != TlsMode::plain &&
          !upstream_tls_seen && is_credentials_line(config_.protocol, e.bytes))
        return "credentials relayed to an upstream that requires TLS before that TLS was up: " +
               describe(e);
    }
    for (Side side : {Side::client, Side::server}) {
      size_t k = i(side);
      if (to[k] != sent_[k])
        return "the transcript's data to the " + std::string(to_string(side)) +
               " differs from what was sent to it:\n  transcript: \"" + printable(to[k], 400) +
               "\"\n  sent:       \"" + printable(sent_[k], 400) + "\"";
      if (received_[k].compare(0, from[k].size(), from[k]) != 0)
        return "the transcript's data from the " + std::string(to_string(side)) +
               " is not what it sent (in order):\n  transcript: \"" + printable(from[k], 400) +
               "\"\n  received:   \"" + printable(received_[k], 400) + "\"";
    }
    return {};
  }

  bool closed() const { return closed_; }
  bool connect_requested() const { return connect_requested_; }
  bool tls_started(Side s) const { return tls_started_[i(s)]; }
  bool tls_up(Side s) const { return tls_up_[i(s)]; }
  const std::string& sent(Side s) const { return sent_[i(s)]; }
  const std::string& received(Side s) const { return received_[i(s)]; }

 private:
  static size_t i(Side s) { return s == Side::client ? 0 : 1; }

  SessionConfig config_;
  const std::vector<transcript::Event>& transcript_;
  std::string received_[2], sent_[2];
  bool tls_started_[2] = {false, false};
  bool tls_up_[2] = {false, false};
  size_t tls_up_at_[2] = {0, 0};  // transcript size when TlsEstablished was fed
  bool closed_ = false;
  bool connect_requested_ = false;
};

}  // namespace mailtap::session::test
