#include "mailtap/core/clock.h"

#include <chrono>

namespace mailtap {

Microseconds system_now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace mailtap
