#include "mailtap/run/script.h"

#include <cctype>
#include <sstream>

namespace mailtap::run {
namespace {

std::string upper_word(std::string_view s, size_t index) {
  std::istringstream in{std::string(s)};
  std::string w;
  for (size_t i = 0; i <= index; ++i)
    if (!(in >> w)) return {};
  for (char& c : w) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return w;
}

bool one_of(const std::string& w, std::initializer_list<const char*> set) {
  for (const char* s : set)
    if (w == s) return true;
  return false;
}

std::optional<Protocol> from_client_line(std::string_view line) {
  std::string first = upper_word(line, 0);
  if (one_of(first, {"EHLO", "HELO", "LHLO", "MAIL", "RCPT", "DATA", "STARTTLS", "BDAT"}))
    return Protocol::smtp;
  if (one_of(first,
             {"USER", "PASS", "STAT", "RETR", "UIDL", "STLS", "CAPA", "APOP", "TOP", "DELE"}))
    return Protocol::pop3;
  std::string second = upper_word(line, 1);
  if (one_of(second, {"LOGIN", "CAPABILITY", "SELECT", "EXAMINE", "LIST", "LSUB", "FETCH", "UID",
                      "STARTTLS", "AUTHENTICATE", "NOOP", "LOGOUT", "ID", "STATUS", "APPEND",
                      "SEARCH", "ENABLE", "IDLE", "NAMESPACE"}))
    return Protocol::imap;
  return std::nullopt;
}

std::optional<Protocol> from_server_line(std::string_view line) {
  if (line.rfind("* ", 0) == 0) return Protocol::imap;
  if (line.rfind("+OK", 0) == 0 || line.rfind("-ERR", 0) == 0) return Protocol::pop3;
  if (line.size() >= 3 && std::isdigit(static_cast<unsigned char>(line[0])) &&
      std::isdigit(static_cast<unsigned char>(line[1])) &&
      std::isdigit(static_cast<unsigned char>(line[2])))
    return Protocol::smtp;
  return std::nullopt;
}

}  // namespace

std::string SourceLocation::str() const {
  if (line == 0) return file;
  return file + ":" + std::to_string(line);
}

ScriptError::ScriptError(const SourceLocation& where, const std::string& problem)
    : std::runtime_error(where.str() + ": " + problem), where_(where), problem_(problem) {}

std::optional<Protocol> guess_protocol(const Script& script) {
  for (const ScriptItem& item : script.items) {
    std::optional<Protocol> p;
    if (item.kind == ScriptItem::Kind::send) p = from_client_line(item.text);
    if (item.kind == ScriptItem::Kind::expect) p = from_server_line(item.text);
    if (p) return p;
  }
  return std::nullopt;
}

}  // namespace mailtap::run
