#include "mailtap/decode/smtp_reply.h"

#include <algorithm>
#include <array>
#include <utility>

#include "mailtap/decode/smtp_reply_codes.h"
#include "sasl_text.h"

namespace mailtap::decode {
namespace {

struct ReplyLine {
  int code = -1;
  bool last = true;
  bool malformed = false;
  std::string_view text;
};

ReplyLine parse_line(std::string_view line) {
  ReplyLine r;
  bool digits = line.size() >= 3 && std::all_of(line.begin(), line.begin() + 3,
                                                 [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || line[0] < '2' || line[0] > '5') {
    r.malformed = true;
    r.text = line;
    return r;
  }
  r.code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  if (line.size() == 3) return r;  // "250" alone ends a reply (RFC 5321 4.2)
  if (line[3] == '-') {
    r.last = false;
  } else if (line[3] != ' ') {
    r.malformed = true;  // "250x": neither continuation nor end
  }
  r.text = line.substr(4);
  return r;
}

}  // namespace

std::optional<SmtpReply> SmtpReplyAssembler::feed(std::string_view line) {
  ReplyLine parsed = parse_line(line);
  if (!active_) {
    current_ = SmtpReply{};
    current_.code = parsed.code;
    active_ = true;
  }
  ++current_.line_count;
  if (current_.lines.size() < kMaxLines) {
    current_.lines.push_back(text::json_safe(parsed.text, kMaxLineText));
  }
  if (parsed.malformed) current_.malformed = true;
  if (parsed.code != current_.code && !parsed.malformed) current_.mixed_codes = true;
  if (current_.line_count == 1 && current_.code > 0) {
    current_.enhanced = find_enhanced_code(parsed.text, current_.code / 100);
  }
  if (!parsed.last) return std::nullopt;
  active_ = false;
  return std::move(current_);
}

nlohmann::json parse_ehlo_capabilities(const SmtpReply& reply) {
  nlohmann::json out = nlohmann::json::object();
  nlohmann::json caps = nlohmann::json::object();
  nlohmann::json keywords = nlohmann::json::array();
  if (!reply.lines.empty()) {
    std::string_view first = reply.lines[0];
    size_t space = first.find(' ');
    out["domain"] = std::string(first.substr(0, space));
    if (space != std::string_view::npos) out["greeting"] = std::string(first.substr(space + 1));
  }
  for (size_t i = 1; i < reply.lines.size(); ++i) {
    std::string_view line = text::trim(reply.lines[i]);
    if (line.empty()) continue;
    size_t space = line.find(' ');
    std::string keyword = text::upper(line.substr(0, space));
    std::string_view params = space == std::string_view::npos ? "" : text::trim(line.substr(space));
    // Legacy "AUTH=PLAIN LOGIN" (for old Outlook clients): keyword "AUTH=", first mechanism after '='.
    std::string legacy_first;
    if (size_t eq = keyword.find('='); eq != std::string::npos) {
      legacy_first = std::string(line.substr(eq + 1, space == std::string_view::npos
                                                          ? std::string_view::npos
                                                          : space - eq - 1));
      keyword.resize(eq + 1);
    }
    keywords.push_back(keyword);
    if (keyword == "SIZE") {
      bool numeric = !params.empty() && params.size() < 19 &&
                     std::all_of(params.begin(), params.end(),
                                 [](char c) { return c >= '0' && c <= '9'; });
      caps[keyword] = numeric ? nlohmann::json(std::stoull(std::string(params)))
                              : nlohmann::json(true);
    } else if (keyword == "AUTH" || keyword == "AUTH=") {
      nlohmann::json mechanisms = caps.contains(keyword) ? caps[keyword] : nlohmann::json::array();
      if (!legacy_first.empty()) mechanisms.push_back(text::upper(legacy_first));
      size_t start = 0;
      while (start < params.size()) {
        size_t end = params.find(' ', start);
        if (end == std::string_view::npos) end = params.size();
        if (end > start) mechanisms.push_back(text::upper(params.substr(start, end - start)));
        start = end + 1;
      }
      caps[keyword] = mechanisms;
    } else {
      caps[keyword] = params.empty() ? nlohmann::json(true) : nlohmann::json(std::string(params));
    }
  }
  out["capabilities"] = caps;
  out["keywords"] = keywords;
  return out;
}

std::string describe_capability(std::string_view keyword) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 26> kMeanings = {{
      {"PIPELINING", "commands may be sent in batches without waiting for each reply (RFC 2920)"},
      {"SIZE", "the largest message accepted, in bytes (RFC 1870; 0 means no limit)"},
      {"ETRN", "the client may ask for queued mail to be delivered (RFC 1985)"},
      {"STARTTLS", "this connection can be switched to TLS (RFC 3207)"},
      {"AUTH", "SASL authentication mechanisms offered (RFC 4954)"},
      {"AUTH=", "the same mechanisms in the pre-standard form some old clients need"},
      {"ENHANCEDSTATUSCODES", "replies carry RFC 3463 status codes (RFC 2034)"},
      {"8BITMIME", "8-bit message content accepted (RFC 6152)"},
      {"DSN", "delivery status notifications on request (RFC 3461)"},
      {"SMTPUTF8", "UTF-8 addresses and headers accepted (RFC 6531)"},
      {"CHUNKING", "the message may be sent in BDAT chunks (RFC 3030)"},
      {"BINARYMIME", "binary message content accepted (RFC 3030)"},
      {"VRFY", "addresses can be verified"},
      {"EXPN", "mailing lists can be expanded"},
      {"HELP", "help is available"},
      {"REQUIRETLS", "messages can demand TLS on every hop (RFC 8689)"},
      {"DELIVERBY", "delivery deadlines accepted (RFC 2852)"},
      {"MT-PRIORITY", "message priorities accepted (RFC 6710)"},
      {"FUTURERELEASE", "delivery can be held until a later time (RFC 4865)"},
      {"LIMITS", "the server announces its limits (RFC 9422)"},
      {"XCLIENT", "Postfix: trusted clients may override connection attributes"},
      {"XFORWARD", "Postfix: trusted clients may forward original client attributes"},
      {"NO-SOLICITING", "no solicitations (RFC 3865)"},
      {"TURN", "the roles may be reversed (obsolete)"},
      {"ATRN", "authenticated turn (RFC 2645)"},
      {"X-EXPS", "Microsoft: legacy authentication extension"},
  }};
  std::string k = text::upper(keyword);
  for (const auto& [name, meaning] : kMeanings) {
    if (name == k) return std::string(meaning);
  }
  return {};
}

}  // namespace mailtap::decode
