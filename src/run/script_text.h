// Internal: turning script items back into script text (for --to-script) and the escapes of the
// exact-bytes line form `C=:`.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "mailtap/run/script.h"

namespace mailtap::run {

// A server line as an S: text that reads back as that literal line: "${" escaped, and a line
// starting with '~' written as an anchored regular expression. \x01 bytes are left in place as
// wildcard markers (the caller turns them into `*`, or `.*` in the regular-expression form).
std::string escape_expectation(std::string_view line);

// C-style escapes for `C=:` lines: \r \n \t \\ \xNN; printable characters as they are.
std::string c_escape(std::string_view bytes);
// The reverse; std::nullopt with `error` set on a bad escape.
std::optional<std::string> c_unescape(std::string_view text, std::string& error);

// One item as a script line.
std::string format_item(const ScriptItem& item);

}  // namespace mailtap::run
