// `mailtap show`: renders one transcript for people. text is for a terminal, markdown for a bug
// report, json is the transcript itself as one pretty-printed array (header first).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string_view>
#include <vector>

#include "mailtap/show/rows.h"

namespace mailtap::show {

enum class Format { text, markdown, json };

std::optional<Format> parse_format(std::string_view name);

struct RenderOptions {
  bool color = false;  // ANSI colours in text output
  RowOptions rows;
};

void render(const nlohmann::json& header, const std::vector<nlohmann::json>& events, Format format,
            std::ostream& out, const RenderOptions& options = {});

// The individual renderers, for callers that know the format.
void render_text(const nlohmann::json& header, const std::vector<nlohmann::json>& events,
                 std::ostream& out, const RenderOptions& options);
void render_markdown(const nlohmann::json& header, const std::vector<nlohmann::json>& events,
                     std::ostream& out, const RenderOptions& options);

}  // namespace mailtap::show
