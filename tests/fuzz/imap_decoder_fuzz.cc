// libFuzzer target for the IMAP decoder: the input is a sequence of events, each a header byte
// (kind of event, direction, frame, TLS) and a length byte followed by that many bytes. Beyond not
// crashing, every annotated event must still be writable as JSON, the decoder must never have
// needed its exception guard (a "decode_error" warning means a bug), and unless secrets are
// revealed every decoded "password" is a redaction token.
#include <cstddef>
#include <cstdint>
#include <string>

#include "mailtap/decode/imap_decoder.h"
#include "mailtap/decode/redaction.h"
#include "mailtap/transcript/event.h"
#include "mailtap/transcript/transcript_writer.h"

using mailtap::transcript::EventType;
using mailtap::transcript::FrameKind;
using mailtap::transcript::Party;

namespace {

void check_passwords(const nlohmann::json& j) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() == "password" && it->is_string() &&
          !mailtap::decode::is_redaction_token(it->get<std::string>())) {
        __builtin_trap();
      }
      check_passwords(*it);
    }
  } else if (j.is_array()) {
    for (const auto& x : j) check_passwords(x);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  mailtap::decode::DecodeOptions options;
  options.reveal_secrets = (data[0] & 0x80) != 0;
  auto decoder = mailtap::decode::make_imap_decoder(options);
  size_t pos = 1;
  uint64_t seq = 0;
  int64_t t = 0;
  while (pos + 2 <= size) {
    uint8_t header = data[pos];
    size_t length = data[pos + 1];
    pos += 2;
    if (length > size - pos) length = size - pos;
    std::string bytes(reinterpret_cast<const char*>(data + pos), length);
    pos += length;
    t += header & 0x0E;
    bool tls = header & 1;
    mailtap::transcript::Event event;
    switch ((header >> 4) & 0x7) {
      case 0:
      case 1:
        event = mailtap::transcript::make_data(t, Party::client, Party::server, FrameKind::line,
                                               tls, bytes);
        break;
      case 2:
      case 3:
        event = mailtap::transcript::make_data(t, Party::server, Party::client, FrameKind::line,
                                               tls, bytes);
        break;
      case 4:
        event = mailtap::transcript::make_data(t, Party::client, Party::server, FrameKind::literal,
                                               tls, bytes);
        break;
      case 5:
        event = mailtap::transcript::make_data(t, Party::server, Party::client, FrameKind::literal,
                                               tls, bytes);
        break;
      case 6:
        event = (header & 2) ? mailtap::transcript::make_data(t, Party::mailtap, Party::client,
                                                              FrameKind::line, tls, bytes)
                             : mailtap::transcript::make_data(t, Party::client, Party::mailtap,
                                                              FrameKind::line, tls, bytes);
        break;
      default:
        event = (header & 4) ? mailtap::transcript::make_event(t, EventType::close, {})
                             : mailtap::transcript::make_event(
                                   t, EventType::tls, {{"leg", (header & 2) ? "server" : "client"}});
        break;
    }
    nlohmann::json out = mailtap::transcript::encode_event(event, seq++);
    decoder->annotate(event, out);
    std::string line = out.dump();  // throws (and so crashes the fuzzer) on invalid UTF-8
    if (out.contains("warnings")) {
      for (const auto& w : out["warnings"]) {
        if (w.value("code", std::string()) == "decode_error") __builtin_trap();
      }
    }
    if (!options.reveal_secrets && out.contains("decoded")) check_passwords(out["decoded"]);
  }
  return 0;
}
