// Internal to src/diff: reading IMAP parenthesised lists (FETCH items, flag lists) so that two
// servers that send the same data items in a different order compare equal.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mailtap::diff::detail {

// "(UID 1 FLAGS (\Seen) BODY[HEADER.FIELDS (FROM)] {n})" -> {"UID","1"}, {"FLAGS","(\Seen)"},
// {"BODY[HEADER.FIELDS (FROM)]","{n}"}. Item names are upper-cased. Returns empty when the text is
// not a parenthesised list (the caller then compares it as text).
std::vector<std::pair<std::string, std::string>> fetch_items(std::string_view list);

// "(\Seen \Answered)" -> {"\Answered", "\Seen"}: the flags, sorted and without duplicates.
std::vector<std::string> flag_list(std::string_view list);

}  // namespace mailtap::diff::detail
