// Realistic SMTP, IMAP and POP3 sessions for the micro-benchmarks, in two forms: the wire bytes
// each side sends (for framing and the session layer) and the transcript events the session
// layer records for them (for the decoders and the encoder). "bulk" moves one large message per
// round (DATA body, FETCH literal, RETR body); "chatty" is one small command and its reply.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "mailtap/core/protocol.h"
#include "mailtap/core/side.h"
#include "mailtap/transcript/event.h"

namespace mailtap::bench {

// What one side sends in one piece (as one read would deliver it).
struct WireStep {
  Side from;
  std::string bytes;
};

// A message body of `size` bytes: base64 lines of 76 characters, CRLF ends, never a line that
// starts with '.', so it is the same on the wire in every protocol.
inline std::string message_body(size_t size) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::mt19937 rng(42);
  std::string body;
  body.reserve(size + 80);
  body += "Subject: bench\r\nContent-Transfer-Encoding: base64\r\n\r\n";
  while (body.size() < size) {
    for (int i = 0; i < 76; ++i) body += kAlphabet[rng() % 64];
    body += "\r\n";
  }
  body.resize(size);
  body.replace(size - 2, 2, "\r\n");
  return body;
}

// Splits `bytes` as reads of `piece` bytes would.
inline void add_pieces(std::vector<WireStep>& out, Side from, const std::string& bytes,
                       size_t piece) {
  for (size_t pos = 0; pos < bytes.size(); pos += piece)
    out.push_back({from, bytes.substr(pos, piece)});
}

struct Script {
  std::vector<WireStep> setup;  // greeting, login: fed once
  std::vector<WireStep> round;  // fed every benchmark iteration
  size_t round_bytes() const {
    size_t n = 0;
    for (const auto& s : round) n += s.bytes.size();
    return n;
  }
};

// The wire conversation for `protocol`; bulk rounds carry a `size`-byte message in reads of
// `piece` bytes.
inline Script wire_script(Protocol protocol, bool bulk, size_t size = 1 << 20,
                          size_t piece = 64 << 10) {
  Script s;
  const Side C = Side::client, S = Side::server;
  std::string body = bulk ? message_body(size) : message_body(2000);
  switch (protocol) {
    case Protocol::smtp:
      s.setup = {
          {S, "220 mx.example.net ESMTP\r\n"},
          {C, "EHLO client.example.org\r\n"},
          {S, "250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 104857600\r\n250 8BITMIME\r\n"}};
      s.round = {{C, "MAIL FROM:<alice@example.org>\r\n"},
                 {S, "250 2.1.0 Ok\r\n"},
                 {C, "RCPT TO:<bob@example.net>\r\n"},
                 {S, "250 2.1.5 Ok\r\n"},
                 {C, "DATA\r\n"},
                 {S, "354 End data with <CR><LF>.<CR><LF>\r\n"}};
      add_pieces(s.round, C, body + ".\r\n", piece);
      s.round.push_back({S, "250 2.0.0 Ok: queued as 4BCD\r\n"});
      break;
    case Protocol::imap:
      s.setup = {
          {S, "* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n"},
          {C, "a1 LOGIN alice secret\r\n"},
          {S, "a1 OK LOGIN completed\r\n"},
          {C, "a2 SELECT INBOX\r\n"},
          {S,
           "* 1 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1] ok\r\na2 OK [READ-WRITE] done\r\n"}};
      if (bulk) {
        s.round = {{C, "a3 FETCH 1 BODY[]\r\n"}};
        add_pieces(s.round, S,
                   "* 1 FETCH (BODY[] {" + std::to_string(body.size()) + "}\r\n" + body +
                       ")\r\na3 OK FETCH completed\r\n",
                   piece);
      } else {
        s.round = {{C, "a3 NOOP\r\n"}, {S, "a3 OK NOOP completed\r\n"}};
      }
      break;
    case Protocol::pop3:
      s.setup = {{S, "+OK POP3 ready\r\n"},
                 {C, "USER alice\r\n"},
                 {S, "+OK\r\n"},
                 {C, "PASS secret\r\n"},
                 {S, "+OK logged in\r\n"}};
      if (bulk) {
        s.round = {{C, "RETR 1\r\n"}};
        add_pieces(s.round, S,
                   "+OK " + std::to_string(body.size()) + " octets\r\n" + body + ".\r\n", piece);
      } else {
        s.round = {{C, "NOOP\r\n"}, {S, "+OK\r\n"}};
      }
      break;
  }
  return s;
}

// The transcript events the session layer records for one round (relayed data, framed as it
// frames them: lines, and the message in `piece`-byte literal/body frames).
struct EventScript {
  std::vector<transcript::Event> setup;
  std::vector<transcript::Event> round;
  size_t round_bytes() const {
    size_t n = 0;
    for (const auto& e : round) n += e.bytes.size();
    return n;
  }
};

inline EventScript event_script(Protocol protocol, bool bulk, size_t size = 1 << 20,
                                size_t piece = 64 << 10) {
  using transcript::FrameKind;
  using transcript::Party;
  EventScript s;
  Microseconds t = 1'700'000'000'000'000;
  auto line = [&](std::vector<transcript::Event>& out, Party from, std::string bytes) {
    size_t pos = 0;
    while (pos < bytes.size()) {
      size_t end = bytes.find('\n', pos);
      end = end == std::string::npos ? bytes.size() : end + 1;
      Party to = from == Party::client ? Party::server : Party::client;
      out.push_back(transcript::make_data(++t, from, to, FrameKind::line, true,
                                          bytes.substr(pos, end - pos)));
      pos = end;
    }
  };
  auto pieces = [&](std::vector<transcript::Event>& out, Party from, FrameKind kind,
                    const std::string& bytes) {
    Party to = from == Party::client ? Party::server : Party::client;
    for (size_t pos = 0; pos < bytes.size(); pos += piece)
      out.push_back(transcript::make_data(++t, from, to, kind, true, bytes.substr(pos, piece)));
  };
  Script wire = wire_script(protocol, bulk, size, piece);
  for (const auto& step : wire.setup)
    line(s.setup, step.from == Side::client ? Party::client : Party::server, step.bytes);
  std::string body = bulk ? message_body(size) : message_body(2000);
  const Party C = Party::client, S = Party::server;
  switch (protocol) {
    case Protocol::smtp:
      line(s.round, C, "MAIL FROM:<alice@example.org>\r\n");
      line(s.round, S, "250 2.1.0 Ok\r\n");
      line(s.round, C, "RCPT TO:<bob@example.net>\r\n");
      line(s.round, S, "250 2.1.5 Ok\r\n");
      line(s.round, C, "DATA\r\n");
      line(s.round, S, "354 End data with <CR><LF>.<CR><LF>\r\n");
      pieces(s.round, C, FrameKind::body, body);
      line(s.round, C, ".\r\n");
      line(s.round, S, "250 2.0.0 Ok: queued as 4BCD\r\n");
      break;
    case Protocol::imap:
      if (bulk) {
        line(s.round, C, "a3 FETCH 1 BODY[]\r\n");
        line(s.round, S, "* 1 FETCH (BODY[] {" + std::to_string(body.size()) + "}\r\n");
        pieces(s.round, S, FrameKind::literal, body);
        line(s.round, S, ")\r\na3 OK FETCH completed\r\n");
      } else {
        line(s.round, C, "a3 NOOP\r\n");
        line(s.round, S, "a3 OK NOOP completed\r\n");
      }
      break;
    case Protocol::pop3:
      if (bulk) {
        line(s.round, C, "RETR 1\r\n");
        line(s.round, S, "+OK " + std::to_string(body.size()) + " octets\r\n");
        pieces(s.round, S, FrameKind::body, body);
        line(s.round, S, ".\r\n");
      } else {
        line(s.round, C, "NOOP\r\n");
        line(s.round, S, "+OK\r\n");
      }
      break;
  }
  return s;
}

}  // namespace mailtap::bench
