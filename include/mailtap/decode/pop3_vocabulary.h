// POP3 commands and replies in plain language (RFC 1939, RFC 2449, RFC 2595, RFC 3206, RFC 5034):
// parsing of one command or reply line, which replies are multi-line, and what each line says.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace mailtap::decode::pop3 {

// What a +OK to a command opens: nothing, a scan listing (LIST), a unique-id listing (UIDL), the
// CAPA list, the list of SASL mechanisms (AUTH without argument), the languages (LANG, RFC 6856),
// or a message (RETR, TOP).
enum class Listing { none, scan, unique_ids, capabilities, mechanisms, languages, message };

struct Command {
  std::string verb;       // upper-case
  std::string arg;        // everything after the first space (may hold spaces: PASS)
  size_t arg_offset = 0;  // where arg starts in the line
};

Command parse_command(std::string_view line);
bool is_known_command(std::string_view verb);
Listing listing_opened_by(const Command& command);
// "USER: the client names the mailbox user alice"; the PASS argument is never shown.
std::string describe_command(const Command& command, bool reveal_secrets);

struct Reply {
  enum class Kind { ok, err, continuation, other };
  Kind kind = Kind::other;
  std::string code;  // RESP-CODE without brackets ("IN-USE", "SYS/TEMP")
  std::string text;  // the rest; for a continuation the base64 after "+ "
};

Reply parse_reply(std::string_view line);
std::string describe_resp_code(std::string_view code);
// What a single-line reply says for its command ("; the mailbox holds 2 messages (320 bytes)"),
// adding fields to `decoded`. Empty when there is nothing more to say.
std::string describe_reply_detail(std::string_view verb, std::string_view arg, const Reply& reply,
                                  nlohmann::json& decoded);
// One line of a multi-line listing (already dot-unstuffed).
void describe_listing_line(Listing listing, std::string_view line, nlohmann::json& decoded,
                           std::string& note);
// The "<...@...>" timestamp of an APOP-capable greeting (RFC 1939 7), or "".
std::string apop_timestamp(std::string_view greeting_text);
// The mechanisms of a "SASL PLAIN LOGIN" CAPA line.
std::vector<std::string> sasl_mechanisms(const std::vector<std::string>& capabilities);
std::string join(const std::vector<std::string>& words);

}  // namespace mailtap::decode::pop3
