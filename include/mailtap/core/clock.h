// Time as the session layer sees it: injected, so tests can control it.
#pragma once

#include <cstdint>
#include <functional>

namespace mailtap {

// Microseconds since the Unix epoch.
using Microseconds = int64_t;
using Clock = std::function<Microseconds()>;

// Wall clock in microseconds since the Unix epoch.
Microseconds system_now_us();

}  // namespace mailtap
