// Copyright Switchboard authors.

#include "reactor/clock.h"

#include <time.h>

#include "absl/time/clock.h"

namespace switchboard {

absl::Time MonotonicClock::Now() const {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return absl::UnixEpoch() + absl::DurationFromTimespec(ts);
}

Clock* SteadyClock() {
  static MonotonicClock* const clock = new MonotonicClock();
  return clock;
}

absl::Time CalendarClock::Now() const { return absl::Now(); }

Clock* SystemClock() {
  static CalendarClock* const clock = new CalendarClock();
  return clock;
}

}  // namespace switchboard
