// The first line of every transcript: what this session is.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "mailtap/core/clock.h"
#include "mailtap/core/protocol.h"

namespace mailtap::transcript {

inline constexpr int kFormatVersion = 1;

struct SessionHeader {
  std::string session_id;  // unique within the process run, e.g. "s000042-1a2b3c"
  Protocol protocol = Protocol::smtp;
  std::string listener;        // listener name, e.g. "smtp-submission" or "127.0.0.1:2587"
  std::string listen;          // "127.0.0.1:2587"
  std::string client_address;  // "127.0.0.1:54122"
  std::string upstream;        // "mail.example.com:587"
  TlsMode client_tls = TlsMode::plain;
  TlsMode upstream_tls = TlsMode::plain;
  bool upstream_insecure = false;  // --insecure: upstream certificate not verified
  Microseconds started_us = 0;
  nlohmann::json extra = nlohmann::json::object();  // anything else worth recording
};

nlohmann::json to_json(const SessionHeader& h);

}  // namespace mailtap::transcript
