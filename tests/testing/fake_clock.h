// Copyright Switchboard authors.
//
// fake_clock.h: `FakeClock`, a switchboard::Clock that only moves when the
// test moves it, so that timers and timeouts can be tested without sleeping.

#ifndef SWITCHBOARD_TESTS_TESTING_FAKE_CLOCK_H_
#define SWITCHBOARD_TESTS_TESTING_FAKE_CLOCK_H_

#include <mutex>

#include "absl/time/time.h"
#include "reactor/clock.h"

namespace switchboard::testing {

// Thread-safe: a loop thread may read the time while the test advances it.
// Uses std::mutex rather than absl::Mutex so that ThreadSanitizer, which does
// not see inside the uninstrumented system Abseil, understands it.
class FakeClock final : public Clock {
 public:
  // An arbitrary start well away from absl's epoch, so that "now minus a
  // little" never underflows anything.
  static absl::Time DefaultStart() { return absl::UnixEpoch() + absl::Hours(1000); }

  explicit FakeClock(absl::Time start = DefaultStart()) : now_(start) {}

  absl::Time Now() const override;

  // Moves the time forward by `delta` (>= 0).
  void Advance(absl::Duration delta);
  // Moves the time to `when`, which must not be earlier than Now(): a Clock
  // never goes backwards.
  void SetTime(absl::Time when);

 private:
  mutable std::mutex mutex_;
  absl::Time now_;
};

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_FAKE_CLOCK_H_
