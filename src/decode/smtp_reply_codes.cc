#include "mailtap/decode/smtp_reply_codes.h"

#include <array>
#include <utility>

#include "json_object.h"

namespace mailtap::decode {
namespace {

struct CodeMeaning {
  int code;
  std::string_view meaning;
};

constexpr std::array<CodeMeaning, 37> kReplyCodes = {{
    {211, "system status, or system help reply"},
    {214, "help message"},
    {220, "service ready"},
    {221, "service closing the connection"},
    {235, "authentication successful"},
    {250, "requested mail action okay, completed"},
    {251, "user not local; will forward"},
    {252, "cannot verify the user, but will accept the message and attempt delivery"},
    {253, "OK, pending messages for the node are being started (ETRN)"},
    {334, "server challenge: continue the authentication"},
    {354, "start mail input; end with <CRLF>.<CRLF>"},
    {421, "service not available, closing the connection"},
    {422, "recipient mailbox has exceeded its storage limit"},
    {432, "a password transition is needed"},
    {450, "requested mail action not taken: mailbox unavailable (try again later)"},
    {451, "requested action aborted: local error in processing"},
    {452, "requested action not taken: insufficient system storage"},
    {453, "no mail pending for the node (ETRN)"},
    {454, "temporary failure: TLS or authentication not available right now"},
    {455, "server unable to accommodate the parameters"},
    {458, "unable to queue messages for the node (ETRN)"},
    {459, "node not allowed (ETRN)"},
    {500, "syntax error, command unrecognised"},
    {501, "syntax error in parameters or arguments"},
    {502, "command not implemented"},
    {503, "bad sequence of commands"},
    {504, "command parameter not implemented"},
    {521, "this host does not accept mail"},
    {523, "message is larger than the recipient's system accepts"},
    {530, "authentication required (or STARTTLS first)"},
    {534, "authentication mechanism is too weak"},
    {535, "authentication credentials invalid"},
    {538, "encryption required for the requested authentication mechanism"},
    {550, "requested action not taken: mailbox unavailable or rejected by policy"},
    {551, "user not local"},
    {552, "requested mail action aborted: exceeded storage allocation"},
    {553, "requested action not taken: mailbox name not allowed"},
}};

constexpr std::array<CodeMeaning, 3> kMoreReplyCodes = {{
    {554, "transaction failed (in a greeting: no SMTP service here)"},
    {555, "MAIL FROM/RCPT TO parameters not recognised or not implemented"},
    {556, "domain does not accept mail"},
}};

constexpr std::array<std::string_view, 8> kSubjects = {
    "other or undefined status",  "addressing status",      "mailbox status",
    "mail system status",         "network and routing status", "mail delivery protocol status",
    "message content or media status", "security or policy status",
};

struct Detail {
  int subject;
  int detail;
  std::string_view meaning;
};

// RFC 3463, RFC 3886, RFC 4468, RFC 4865, RFC 4954, RFC 5248, RFC 6531, RFC 6710, RFC 7293,
// RFC 7372, RFC 7505, RFC 8098, RFC 8689.
constexpr std::array<Detail, 69> kDetails = {{
    {0, 0, "other undefined status"},
    {1, 0, "other address status"},
    {1, 1, "bad destination mailbox address"},
    {1, 2, "bad destination system address"},
    {1, 3, "bad destination mailbox address syntax"},
    {1, 4, "destination mailbox address ambiguous"},
    {1, 5, "destination address valid"},
    {1, 6, "destination mailbox has moved, no forwarding address"},
    {1, 7, "bad sender's mailbox address syntax"},
    {1, 8, "bad sender's system address"},
    {1, 9, "message relayed to non-compliant mailer"},
    {1, 10, "recipient address has null MX"},
    {2, 0, "other or undefined mailbox status"},
    {2, 1, "mailbox disabled, not accepting messages"},
    {2, 2, "mailbox full"},
    {2, 3, "message length exceeds administrative limit"},
    {2, 4, "mailing list expansion problem"},
    {3, 0, "other or undefined mail system status"},
    {3, 1, "mail system full"},
    {3, 2, "system not accepting network messages"},
    {3, 3, "system not capable of selected features"},
    {3, 4, "message too big for system"},
    {3, 5, "system incorrectly configured"},
    {3, 6, "requested priority was changed"},
    {4, 0, "other or undefined network or routing status"},
    {4, 1, "no answer from host"},
    {4, 2, "bad connection"},
    {4, 3, "directory server failure"},
    {4, 4, "unable to route"},
    {4, 5, "mail system congestion"},
    {4, 6, "routing loop detected"},
    {4, 7, "delivery time expired"},
    {5, 0, "other or undefined protocol status"},
    {5, 1, "invalid command"},
    {5, 2, "syntax error"},
    {5, 3, "too many recipients"},
    {5, 4, "invalid command arguments"},
    {5, 5, "wrong protocol version"},
    {5, 6, "authentication exchange line is too long"},
    {6, 0, "other or undefined media error"},
    {6, 1, "media not supported"},
    {6, 2, "conversion required and prohibited"},
    {6, 3, "conversion required but not supported"},
    {6, 4, "conversion with loss performed"},
    {6, 5, "conversion failed"},
    {6, 6, "message content not available"},
    {6, 7, "non-ASCII addresses not permitted for that sender/recipient"},
    {6, 8, "UTF-8 string reply is required, but not permitted by the SMTP client"},
    {6, 9, "UTF-8 header message cannot be transferred to one or more recipients"},
    {7, 0, "other or undefined security status (also: authentication succeeded)"},
    {7, 1, "delivery not authorized, message refused"},
    {7, 2, "mailing list expansion prohibited"},
    {7, 3, "security conversion required but not possible"},
    {7, 4, "security features not supported"},
    {7, 5, "cryptographic failure"},
    {7, 6, "cryptographic algorithm not supported"},
    {7, 7, "message integrity failure"},
    {7, 8, "authentication credentials invalid"},
    {7, 9, "authentication mechanism is too weak"},
    {7, 10, "encryption needed"},
    {7, 11, "encryption required for requested authentication mechanism"},
    {7, 12, "a password transition is needed"},
    {7, 13, "user account disabled"},
    {7, 14, "trust relationship required"},
    {7, 20, "no passing DKIM signature found"},
    {7, 23, "SPF validation failed"},
    {7, 25, "reverse DNS validation failed"},
    {7, 27, "sender address has null MX"},
    {7, 30, "REQUIRETLS support required"},
}};

std::string_view class_words(int cls) {
  switch (cls) {
    case 2:
      return "success";
    case 4:
      return "persistent transient failure";
    case 5:
      return "permanent failure";
    default:
      return "";
  }
}

// Parses up to 3 digits starting at text[i]; -1 when there are none.
int read_number(std::string_view text, size_t& i, size_t max_digits) {
  size_t start = i;
  int value = 0;
  while (i < text.size() && i - start < max_digits && text[i] >= '0' && text[i] <= '9') {
    value = value * 10 + (text[i] - '0');
    ++i;
  }
  return i == start ? -1 : value;
}

}  // namespace

std::string smtp_reply_meaning(int code) {
  for (const auto& c : kReplyCodes) {
    if (c.code == code) return std::string(c.meaning);
  }
  for (const auto& c : kMoreReplyCodes) {
    if (c.code == code) return std::string(c.meaning);
  }
  switch (code / 100) {
    case 2:
      return "positive completion";
    case 3:
      return "positive intermediate: the server waits for more from the client";
    case 4:
      return "transient negative completion: try again later";
    case 5:
      return "permanent negative completion: do not repeat as is";
    default:
      return "";
  }
}

std::optional<std::string> find_enhanced_code(std::string_view text, int expected_class) {
  size_t i = 0;
  int cls = read_number(text, i, 1);
  if (cls != 2 && cls != 4 && cls != 5) return std::nullopt;
  if (expected_class != 0 && cls != expected_class) return std::nullopt;
  if (i >= text.size() || text[i] != '.') return std::nullopt;
  ++i;
  if (read_number(text, i, 3) < 0) return std::nullopt;
  if (i >= text.size() || text[i] != '.') return std::nullopt;
  ++i;
  if (read_number(text, i, 3) < 0) return std::nullopt;
  if (i < text.size() && text[i] != ' ' && text[i] != '\t') return std::nullopt;
  return std::string(text.substr(0, i));
}

nlohmann::json describe_enhanced_code(std::string_view code) {
  size_t i = 0;
  int cls = read_number(code, i, 1);
  ++i;
  int subject = read_number(code, i, 3);
  ++i;
  int detail = read_number(code, i, 3);
  nlohmann::json j = json_object("code", std::string(code), "class", std::string(class_words(cls)));
  if (subject >= 0 && subject < static_cast<int>(kSubjects.size())) {
    j["subject"] = std::string(kSubjects[static_cast<size_t>(subject)]);
  }
  std::string meaning;
  for (const auto& d : kDetails) {
    if (d.subject == subject && d.detail == detail) meaning = std::string(d.meaning);
  }
  if (meaning.empty()) {
    for (const auto& d : kDetails) {
      if (d.subject == subject && d.detail == 0) meaning = std::string(d.meaning);
    }
  }
  if (!meaning.empty()) j["meaning"] = meaning;
  return j;
}

}  // namespace mailtap::decode
