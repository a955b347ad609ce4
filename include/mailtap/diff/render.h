// How `mailtap diff` shows a SessionDiff: a readable (optionally coloured) terminal report, or JSON
// for tools.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "mailtap/diff/compare.h"

namespace mailtap::diff {

struct TextOptions {
  bool color = false;
  bool show_same = true;                   // list the steps that are the same too (one line each)
  std::string a_name = "A", b_name = "B";  // file names shown in the heading
};

void render_text(const SessionDiff& diff, std::ostream& out, const TextOptions& options);

// {"identical": bool, "a": {...}, "b": {...}, "summary": {...}, "header_differences": [...],
//  "steps": [{"status": "same|changed|only_a|only_b", "a": {...}, "b": {...},
//             "differences": [...]}]}; documented in docs/diff.md.
nlohmann::json to_json(const SessionDiff& diff, const std::string& a_name,
                       const std::string& b_name);

// Text safe to print on a terminal: control characters (other than TAB) as \xNN, so that bytes
// from a transcript cannot move the cursor or change colours.
std::string printable(std::string_view text);

// One line naming a step for people: its label, or what kind of step it is.
std::string step_title(const Step& s);

}  // namespace mailtap::diff
