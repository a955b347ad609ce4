// What SMTP reply codes (RFC 5321 4.2, RFC 4954, RFC 3207, RFC 7504) and enhanced status codes
// (RFC 3463, IANA "Enumerated Status Codes") mean, in plain language.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace mailtap::decode {

// "requested mail action okay, completed" for 250; for an unknown code, the meaning of its class
// ("transient negative completion: try again later" for 4xx). Empty for codes outside 200-599.
std::string smtp_reply_meaning(int code);

// An enhanced status code "class.subject.detail" (RFC 3463 2) at the start of `text`, e.g. "2.1.0"
// in "2.1.0 Ok". Only returned when its class is 2, 4 or 5; `expected_class` (the first digit of
// the reply code) must match when non-zero.
std::optional<std::string> find_enhanced_code(std::string_view text, int expected_class = 0);

// {"code": "5.7.8", "class": "permanent failure", "subject": "security or policy status",
//  "meaning": "authentication credentials invalid"}; the meaning falls back to the subject's
//  "other or undefined ..." when the detail is not registered.
nlohmann::json describe_enhanced_code(std::string_view code);

}  // namespace mailtap::decode
