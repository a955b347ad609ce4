// libFuzzer target for the SMTP decoder: the input is a sequence of events, each a header byte
// (direction, frame kind, TLS) and a length byte followed by that many bytes. Beyond not crashing,
// every annotated event must still be writable as JSON, and the decoder must never have needed
// its internal exception guard (a "decode_error" warning means a bug).
#include <cstddef>
#include <cstdint>
#include <string>

#include "mailtap/decode/smtp_decoder.h"
#include "mailtap/transcript/event.h"
#include "mailtap/transcript/transcript_writer.h"

using mailtap::transcript::EventType;
using mailtap::transcript::FrameKind;
using mailtap::transcript::Party;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  mailtap::decode::DecodeOptions options;
  options.reveal_secrets = (data[0] & 0x80) != 0;
  auto decoder = mailtap::decode::make_smtp_decoder(options);
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
    t += header & 0x0F;
    mailtap::transcript::Event event;
    switch ((header >> 4) & 0x7) {
      case 0:
      case 1:
        event = mailtap::transcript::make_data(t, Party::client, Party::server, FrameKind::line,
                                               header & 1, bytes);
        break;
      case 2:
      case 3:
        event = mailtap::transcript::make_data(t, Party::server, Party::client, FrameKind::line,
                                               header & 1, bytes);
        break;
      case 4:
        event = mailtap::transcript::make_data(t, Party::client, Party::server, FrameKind::body,
                                               header & 1, bytes);
        break;
      case 5:
        event = mailtap::transcript::make_data(t, Party::client, Party::server, FrameKind::chunk,
                                               header & 1, bytes);
        break;
      case 6:
        event = mailtap::transcript::make_data(t, (header & 2) ? Party::server : Party::client,
                                               (header & 2) ? Party::client : Party::server,
                                               FrameKind::raw, header & 1, bytes);
        break;
      default:
        event = (header & 1) ? mailtap::transcript::make_data(t, Party::mailtap, Party::client,
                                                              FrameKind::line, false, bytes)
                             : mailtap::transcript::make_event(t, EventType::close, {});
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
  }
  return 0;
}
