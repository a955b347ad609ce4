#include "run/script_text.h"

#include <sstream>

#include "mailtap/run/template.h"

namespace mailtap::run {

std::string escape_expectation(std::string_view line) {
  std::string out = escape_template(line);
  if (out.empty() || out.front() != '~') return out;
  // A literal leading '~' would read as a regular expression: write one that matches the line.
  std::string re = "~ ^";
  for (char c : out) {
    if (c == '\x01') {
      re += ".*";
    } else if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) {
      re += '\\';
      re += c;
    } else {
      re += c;
    }
  }
  return re + "$";
}

std::string c_escape(std::string_view bytes) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    unsigned char u = static_cast<unsigned char>(c);
    switch (c) {
      case '\r':
        out += "\\r";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (u < 0x20 || u >= 0x7f) {
          out += "\\x";
          out += hex[u >> 4];
          out += hex[u & 15];
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::optional<std::string> c_unescape(std::string_view text, std::string& error) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c != '\\') {
      out += c;
      continue;
    }
    if (++i >= text.size()) {
      error = "a lone backslash ends the line (write \\\\ for a backslash)";
      return std::nullopt;
    }
    switch (text[i]) {
      case 'r':
        out += '\r';
        break;
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case '\\':
        out += '\\';
        break;
      case 'x': {
        auto digit = [](char h) -> int {
          if (h >= '0' && h <= '9') return h - '0';
          if (h >= 'a' && h <= 'f') return h - 'a' + 10;
          if (h >= 'A' && h <= 'F') return h - 'A' + 10;
          return -1;
        };
        int hi = i + 1 < text.size() ? digit(text[i + 1]) : -1;
        int lo = i + 2 < text.size() ? digit(text[i + 2]) : -1;
        if (hi < 0 || lo < 0) {
          error = "\\x needs two hex digits";
          return std::nullopt;
        }
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        break;
      }
      default:
        error = std::string("unknown escape \\") + text[i] + " (known: \\r \\n \\t \\\\ \\xNN)";
        return std::nullopt;
    }
  }
  return out;
}

std::string format_item(const ScriptItem& item) {
  std::ostringstream out;
  switch (item.kind) {
    case ScriptItem::Kind::send:
      if (item.raw)
        out << "C=: " << c_escape(item.text);
      else
        out << "C: " << item.text;
      break;
    case ScriptItem::Kind::expect:
      out << "S: " << item.text;
      break;
    case ScriptItem::Kind::set:
      out << "set " << item.name << "=" << item.text;
      break;
    case ScriptItem::Kind::auth:
      out << "!auth " << item.name << (item.tag.empty() ? "" : " " + item.tag);
      break;
    case ScriptItem::Kind::starttls:
      out << "!starttls" << (item.tag.empty() ? "" : " " + item.tag);
      break;
    case ScriptItem::Kind::sleep:
      out << "!sleep " << item.seconds;
      break;
    case ScriptItem::Kind::close:
      out << "!close";
      break;
    case ScriptItem::Kind::expect_close:
      out << "!expect-close";
      break;
  }
  return out.str();
}

}  // namespace mailtap::run
