// The --tail live view, as an observer of the transcript writer.
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace mailtap::cli {

std::function<void(const std::string&, const nlohmann::json&)> make_tail_observer();

}  // namespace mailtap::cli
