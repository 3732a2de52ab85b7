// Copyright Switchboard authors.
//
// clock.h: the time source that timers and timeouts read, so that tests can
// substitute a fake one (Debian's Abseil has no absl::Clock).

#ifndef SWITCHBOARD_REACTOR_CLOCK_H_
#define SWITCHBOARD_REACTOR_CLOCK_H_

#include "absl/time/time.h"

namespace switchboard {

// Tells the time. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  // Returns the current time.
  virtual absl::Time Now() const = 0;
};

// Monotonic time (CLOCK_MONOTONIC), expressed as an absl::Time so that
// deadlines compose with absl::Duration. Never goes backwards; not related
// to the calendar, so never stored: a reboot starts it again.
class MonotonicClock final : public Clock {
 public:
  absl::Time Now() const override;
};

// The process-wide monotonic clock.
Clock* SteadyClock();

// Calendar time (CLOCK_REALTIME): for timestamps that outlive the process,
// such as session expiry. May jump when the system's time is set.
class CalendarClock final : public Clock {
 public:
  absl::Time Now() const override;
};

// The process-wide calendar clock.
Clock* SystemClock();

}  // namespace switchboard

#endif  // SWITCHBOARD_REACTOR_CLOCK_H_
