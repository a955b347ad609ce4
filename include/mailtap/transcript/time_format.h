// Timestamps as transcripts spell them: ISO-8601 UTC with microseconds in JSON, and a compact
// sortable form in file names.
#pragma once

#include <string>

#include "mailtap/core/clock.h"

namespace mailtap::transcript {

// "2024-05-01T12:34:56.123456Z"
std::string iso8601_utc(Microseconds t);
// "20240501T123456.123456Z" (sorts lexically in time order; no ':' so it is a portable file name)
std::string compact_utc(Microseconds t);

}  // namespace mailtap::transcript
