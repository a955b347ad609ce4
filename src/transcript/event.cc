// Names of the transcript enums as they appear in JSON, and the small constructors the session
// layer uses to build events cheaply on the event loop.
#include "mailtap/transcript/event.h"

#include <utility>

namespace mailtap::transcript {

std::string_view to_string(Party p) {
  switch (p) {
    case Party::client:
      return "client";
    case Party::server:
      return "server";
    case Party::mailtap:
      return "mailtap";
  }
  return "mailtap";
}

std::string_view to_string(EventType t) {
  switch (t) {
    case EventType::connect:
      return "connect";
    case EventType::data:
      return "data";
    case EventType::tls:
      return "tls";
    case EventType::starttls:
      return "starttls";
    case EventType::warning:
      return "warning";
    case EventType::error:
      return "error";
    case EventType::close:
      return "close";
  }
  return "error";
}

std::string_view to_string(FrameKind k) {
  switch (k) {
    case FrameKind::line:
      return "line";
    case FrameKind::literal:
      return "literal";
    case FrameKind::body:
      return "body";
    case FrameKind::chunk:
      return "chunk";
    case FrameKind::raw:
      return "raw";
  }
  return "raw";
}

Event make_data(Microseconds t, Party from, Party to, FrameKind frame, bool over_tls,
                std::string bytes) {
  Event e;
  e.time_us = t;
  e.type = EventType::data;
  e.from = from;
  e.to = to;
  e.frame = frame;
  e.over_tls = over_tls;
  e.bytes = std::move(bytes);
  return e;
}

Event make_event(Microseconds t, EventType type, nlohmann::json fields) {
  Event e;
  e.time_us = t;
  e.type = type;
  e.fields = std::move(fields);
  return e;
}

}  // namespace mailtap::transcript
