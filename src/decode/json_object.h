// Building small JSON objects cheaply (private to src/decode). nlohmann's initializer list
// ({{"code", 250}, {"continued", true}}) first makes every member a two-element array with its
// key as a heap string, then turns them into the object: three times the allocations of putting
// the members in directly, which is what json_object() does. Decoders build a few objects for
// every line they annotate, so this is most of what they allocate.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>

namespace mailtap::decode {
namespace json_object_detail {

inline void put_members(nlohmann::json&) {}

template <typename Value, typename... Rest>
void put_members(nlohmann::json& object, std::string_view key, Value&& value, Rest&&... rest) {
  object.emplace(std::string(key), std::forward<Value>(value));
  put_members(object, std::forward<Rest>(rest)...);
}

}  // namespace json_object_detail

// {"key": value, ...} from key, value, key, value...: the same object as the initializer list
// (a repeated key keeps its first value, as there).
template <typename... Members>
nlohmann::json json_object(Members&&... members) {
  static_assert(sizeof...(Members) % 2 == 0, "json_object takes key, value pairs");
  nlohmann::json object(nlohmann::json::value_t::object);
  json_object_detail::put_members(object, std::forward<Members>(members)...);
  return object;
}

}  // namespace mailtap::decode
