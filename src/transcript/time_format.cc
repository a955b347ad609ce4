#include "mailtap/transcript/time_format.h"

#include <cstdio>
#include <ctime>

namespace mailtap::transcript {
namespace {

struct SplitTime {
  std::tm tm{};
  long micros = 0;
};

SplitTime split(Microseconds t) {
  // Floor division so times before the epoch still get a non-negative fraction.
  Microseconds seconds = t / 1'000'000;
  Microseconds micros = t % 1'000'000;
  if (micros < 0) {
    micros += 1'000'000;
    seconds -= 1;
  }
  SplitTime out;
  std::time_t tt = static_cast<std::time_t>(seconds);
  gmtime_r(&tt, &out.tm);
  out.micros = static_cast<long>(micros);
  return out;
}

}  // namespace

std::string iso8601_utc(Microseconds t) {
  SplitTime s = split(t);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", s.tm.tm_year + 1900,
                s.tm.tm_mon + 1, s.tm.tm_mday, s.tm.tm_hour, s.tm.tm_min, s.tm.tm_sec, s.micros);
  return buf;
}

std::string compact_utc(Microseconds t) {
  SplitTime s = split(t);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d%02d%02dT%02d%02d%02d.%06ldZ", s.tm.tm_year + 1900,
                s.tm.tm_mon + 1, s.tm.tm_mday, s.tm.tm_hour, s.tm.tm_min, s.tm.tm_sec, s.micros);
  return buf;
}

}  // namespace mailtap::transcript
