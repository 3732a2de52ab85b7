// Copyright Switchboard authors.

#include "reactor/clock.h"

#include <time.h>

namespace switchboard {

absl::Time MonotonicClock::Now() const {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return absl::UnixEpoch() + absl::DurationFromTimespec(ts);
}

Clock* RealClock() {
  static MonotonicClock* const clock = new MonotonicClock();
  return clock;
}

}  // namespace switchboard
