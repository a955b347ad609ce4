// Reads a runner script (docs/runner-script-format.md): C:/S: lines like the seeds' telnet
// transcripts, comments, `set`, and a few `!` directives. Every problem is a ScriptError naming
// the file and line.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "mailtap/run/script.h"

namespace mailtap::run {

// Parses script text; `source` names it in errors. Throws ScriptError.
Script parse_script(std::string_view text, const std::string& source);

// Reads and parses a file. Throws ScriptError (line 0 when the file cannot be read).
Script load_script_file(const std::filesystem::path& path);

}  // namespace mailtap::run
