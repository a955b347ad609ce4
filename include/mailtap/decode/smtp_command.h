// One SMTP command line (RFC 5321 4.1 and extensions) parsed into its verb and arguments, with a
// plain-language note. Pure: no session state (the SMTP decoder adds pairing, SASL and TLS).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace mailtap::decode {

struct SmtpCommand {
  std::string verb;  // upper-case ("MAIL", "EHLO", ...); empty for an empty line
  nlohmann::json args = nlohmann::json::object();
  std::string note;
  nlohmann::json warnings = nlohmann::json::array();  // {"code","message"}

  // AUTH: the mechanism and, when present, the initial response as on the wire and where it starts
  // in the line (so the decoder can redact it in place).
  std::string auth_mechanism;
  std::optional<std::string> auth_initial_response;
  size_t auth_initial_response_offset = 0;

  // BDAT: the chunk size and whether it is the last chunk.
  std::optional<uint64_t> bdat_size;
  bool bdat_last = false;
};

// `line` without its CRLF. Never throws.
SmtpCommand parse_smtp_command(std::string_view line);

// RFC 3461 4 xtext: "+HH" stands for the byte 0xHH.
std::string xtext_decode(std::string_view xtext);

}  // namespace mailtap::decode
