// The two legs of a proxied session.
#pragma once

#include <string_view>

namespace mailtap {

// `client` is the leg towards the mail client, `server` the leg towards the upstream mail server.
enum class Side { client, server };

constexpr Side other(Side s) { return s == Side::client ? Side::server : Side::client; }

constexpr std::string_view to_string(Side s) { return s == Side::client ? "client" : "server"; }

}  // namespace mailtap
