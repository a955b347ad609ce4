// encode_event()/decode_bytes(): the JSON shape of one event line. Decoders add keys afterwards
// ("decoded", "note", "warnings", "redacted"); readers ignore keys they do not know, which is what
// lets the format grow without a version bump.
#include <array>
#include <charconv>
#include <stdexcept>
#include <string>
#include <string_view>

#include "mailtap/transcript/bytes_codec.h"
#include "mailtap/transcript/json_line.h"
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

namespace {

// The keys of a data event's own line, in the order an nlohmann object (a std::map) keeps them.
enum class DataKey { b64, frame, from, len, seq, t, text, tls, to, type };
struct DataKeyName {
  std::string_view name;
  DataKey key;
  std::string_view member;  // the name as the line writes it: quoted, with its colon
};
constexpr std::array<DataKeyName, 10> kDataLineKeys = {{
    {"b64", DataKey::b64, "\"b64\":"},
    {"frame", DataKey::frame, "\"frame\":"},
    {"from", DataKey::from, "\"from\":"},
    {"len", DataKey::len, "\"len\":"},
    {"seq", DataKey::seq, "\"seq\":"},
    {"t", DataKey::t, "\"t\":"},
    {"text", DataKey::text, "\"text\":"},
    {"tls", DataKey::tls, "\"tls\":"},
    {"to", DataKey::to, "\"to\":"},
    {"type", DataKey::type, "\"type\":"},
}};

template <typename Integer>
void append_number(std::string& out, Integer value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, static_cast<size_t>(end - buf));
}

// How a line carries the event's bytes.
enum class BytesAs { text, b64, replaced };

// The line, the bytes as `as` says; false (with a partial line appended) when they were to be
// text and are not transcript text.
bool write_data_event_line(std::string& out, const Event& event, uint64_t seq,
                           const nlohmann::json& annotation, bool annotated, BytesAs as) {
  // The annotation's std::map itself: nlohmann's iterators switch on the type at every step.
  using Members = nlohmann::json::object_t;
  const Members* members = annotated ? &annotation.get_ref<const Members&>() : nullptr;
  auto next = members != nullptr ? members->cbegin() : Members::const_iterator();
  const auto last = members != nullptr ? members->cend() : Members::const_iterator();
  bool first = true;
  auto separate = [&] {
    if (!first) out += ',';
    first = false;
  };
  // The annotation's keys ordered before `name` go first; true when it has `name` itself.
  auto annotation_up_to = [&](std::string_view name) {
    if (!annotated) return false;
    while (next != last) {
      const std::string& key = next->first;
      const int order = std::string_view(key).compare(name);
      if (order > 0) return false;
      separate();
      append_json_string(out, key);
      out += ':';
      append_json_line(out, next->second);
      ++next;
      if (order == 0) return true;
    }
    return false;
  };
  out += '{';
  for (const DataKeyName& k : kDataLineKeys) {
    if (k.key == DataKey::b64 && as != BytesAs::b64) continue;
    if (k.key == DataKey::text && as != BytesAs::text) continue;
    if (annotation_up_to(k.name)) continue;  // the decoder's value for the key wins
    separate();
    out += k.member;
    switch (k.key) {
      case DataKey::b64:
        append_quoted_plain(out, base64_encode(event.bytes));
        break;
      case DataKey::frame:
        append_quoted_plain(out, to_string(event.frame));
        break;
      case DataKey::from:
        append_quoted_plain(out, to_string(event.from));
        break;
      case DataKey::len:
        append_number(out, event.bytes.size());
        break;
      case DataKey::seq:
        append_number(out, seq);
        break;
      case DataKey::t:
        append_number(out, event.time_us);
        break;
      case DataKey::text:
        // Checked and escaped in one pass.
        if (!append_if_transcript_text(out, event.bytes)) return false;
        break;
      case DataKey::tls:
        out += event.over_tls ? "true" : "false";
        break;
      case DataKey::to:
        append_quoted_plain(out, to_string(event.to));
        break;
      case DataKey::type:
        append_quoted_plain(out, to_string(event.type));
        break;
    }
  }
  if (annotated) {
    while (next != last) {
      separate();
      append_json_string(out, next->first);
      out += ':';
      append_json_line(out, next->second);
      ++next;
    }
  }
  out += '}';
  return true;
}

}  // namespace

void append_data_event_line(std::string& out, const Event& event, uint64_t seq,
                            const nlohmann::json& annotation) {
  const bool annotated = annotation.is_object() && !annotation.empty();
  // A redaction: the decoder's "text" or "b64" stands for the bytes.
  if (annotated && (annotation.contains("text") || annotation.contains("b64"))) {
    write_data_event_line(out, event, seq, annotation, annotated, BytesAs::replaced);
    return;
  }
  // Nearly always text; bytes that are not are written again as base64 (the rare binary event
  // costs a second pass, text saves one).
  const size_t start = out.size();
  if (write_data_event_line(out, event, seq, annotation, annotated, BytesAs::text)) return;
  out.resize(start);
  write_data_event_line(out, event, seq, annotation, annotated, BytesAs::b64);
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
