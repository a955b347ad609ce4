// The body of `mailtap show FILE_OR_DIR... [--format text|markdown|json] [--color]`, separate from
// the command-line parsing in main.cc so tests can run it directly.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace mailtap::show {

// Renders every transcript named in `files` (a directory means every *.jsonl in it, in name
// order) to `out`. Returns 0 when all were rendered; 2 when the format is unknown, nothing was
// named, or some file could not be read (each with a message on `err` naming file and line; the
// other files are still rendered).
int run_show(const std::vector<std::string>& files, const std::string& format, bool color,
             std::ostream& out, std::ostream& err);

}  // namespace mailtap::show
