#include "mailtap/show/render.h"

namespace mailtap::show {

std::optional<Format> parse_format(std::string_view name) {
  if (name == "text") return Format::text;
  if (name == "markdown" || name == "md") return Format::markdown;
  if (name == "json") return Format::json;
  return std::nullopt;
}

void render(const nlohmann::json& header, const std::vector<nlohmann::json>& events, Format format,
            std::ostream& out, const RenderOptions& options) {
  switch (format) {
    case Format::text:
      render_text(header, events, out, options);
      return;
    case Format::markdown:
      render_markdown(header, events, out, options);
      return;
    case Format::json: {
      nlohmann::json all = nlohmann::json::array();
      all.push_back(header);
      for (const auto& e : events) all.push_back(e);
      out << all.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
      return;
    }
  }
}

}  // namespace mailtap::show
