// ${...} in script lines: variables and the helpers for what people base64-encode by hand.
//
//   ${name}                     a variable (--var name=value, or `set name=value` in the script)
//   ${base64:TEXT}              base64 of TEXT (TEXT may hold ${...}; ':' is part of TEXT)
//   ${auth_plain}               base64 of NUL user NUL pass (the variables user and pass)
//   ${auth_plain:USER:PASS}     same with these; ${auth_plain:AUTHZID:USER:PASS} with an authzid
//   ${xoauth2} ${xoauth2:USER:TOKEN}  base64 of the XOAUTH2 message (token defaults to pass)
//   ${sasl}                     the next SASL client message, computed by the runner from the
//                               credentials and the server's last challenge (base64)
//   ${apop}                     the APOP digest, from the POP3 greeting's timestamp and pass
//   ${bytes:BASE64}             the decoded bytes, exactly (binary content from a capture)
//   ${env:NAME}                 an environment variable
//   ${unique}                   a token unique to this run (same value throughout the run)
//   ${date}                     the current date in RFC 5322 form
//   $${                         a literal "${"
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mailtap::run {

struct ExpansionContext {
  const std::map<std::string, std::string>* variables = nullptr;
  // Computes the next SASL message (base64) or sets the error. Absent: ${sasl} is an error.
  std::function<std::optional<std::string>(std::string& error)> sasl;
  std::function<std::optional<std::string>(std::string& error)> apop;
  std::string unique = "mailtap";
};

// The expanded bytes, or std::nullopt with `error` set (unset variable, helper failure).
std::optional<std::string> expand_template(std::string_view text, const ExpansionContext& context,
                                           std::string& error);

// Syntax check without expanding: unbalanced "${", unknown helpers, wrong number of arguments.
// Empty when the template is well formed.
std::string check_template(std::string_view text);

// The variables a template reads, directly or through helpers that default to them
// (${auth_plain} reads user and pass, ${apop} reads pass...). Helpers that compute from the
// session (${sasl}) are listed as "sasl".
std::vector<std::string> template_references(std::string_view text);

// True when the text holds "${" that is not escaped, i.e. expansion may change it.
bool has_template(std::string_view text);

// Escapes text so that expand_template() gives it back unchanged ("${" becomes "$${").
std::string escape_template(std::string_view text);

}  // namespace mailtap::run
