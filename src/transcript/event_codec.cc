// encode_event()/decode_bytes(): the JSON shape of one event line. Decoders add keys afterwards
// ("decoded", "note", "warnings", "redacted"); readers ignore keys they do not know, which is what
// lets the format grow without a version bump.
#include <array>
#include <stdexcept>
#include <string>
#include <string_view>

#include "mailtap/transcript/bytes_codec.h"
#include "mailtap/transcript/transcript_writer.h"

namespace mailtap::transcript {
namespace {

// Keys the encoder owns; an event's free-form `fields` may not replace them.
constexpr std::array<std::string_view, 3> kCommonKeys = {"t", "seq", "type"};
constexpr std::array<std::string_view, 7> kDataKeys = {"from", "to",   "frame", "tls",
                                                       "len",  "text", "b64"};

bool is_reserved(std::string_view key, bool data) {
  for (auto k : kCommonKeys)
    if (k == key) return true;
  if (data)
    for (auto k : kDataKeys)
      if (k == key) return true;
  return false;
}

}  // namespace

nlohmann::json encode_event(const Event& event, uint64_t seq) {
  nlohmann::json j = nlohmann::json::object();
  j["t"] = event.time_us;
  j["seq"] = seq;
  j["type"] = std::string(to_string(event.type));
  const bool data = event.type == EventType::data;
  if (data) {
    j["from"] = std::string(to_string(event.from));
    j["to"] = std::string(to_string(event.to));
    j["frame"] = std::string(to_string(event.frame));
    j["tls"] = event.over_tls;
    j["len"] = event.bytes.size();
    if (is_transcript_text(event.bytes)) {
      j["text"] = event.bytes;
    } else {
      j["b64"] = base64_encode(event.bytes);
    }
  }
  if (event.fields.is_object()) {
    for (const auto& [key, value] : event.fields.items()) {
      if (!is_reserved(key, data)) j[key] = value;
    }
  }
  return j;
}

std::string decode_bytes(const nlohmann::json& line) {
  if (!line.is_object()) throw std::invalid_argument("transcript line is not a JSON object");
  if (auto it = line.find("text"); it != line.end()) {
    if (!it->is_string()) throw std::invalid_argument("\"text\" is not a string");
    return it->get<std::string>();
  }
  if (auto it = line.find("b64"); it != line.end()) {
    if (!it->is_string()) throw std::invalid_argument("\"b64\" is not a string");
    auto bytes = base64_decode(it->get_ref<const std::string&>());
    if (!bytes) throw std::invalid_argument("\"b64\" is not valid base64");
    return std::move(*bytes);
  }
  return {};
}

}  // namespace mailtap::transcript
