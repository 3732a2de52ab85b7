// Copyright Switchboard authors.

#include "tests/testing/fake_clock.h"

#include "glog/logging.h"

namespace switchboard::testing {

absl::Time FakeClock::Now() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return now_;
}

void FakeClock::Advance(absl::Duration delta) {
  CHECK(delta >= absl::ZeroDuration()) << "a clock never goes backwards: " << delta;
  std::lock_guard<std::mutex> lock(mutex_);
  now_ += delta;
}

void FakeClock::SetTime(absl::Time when) {
  std::lock_guard<std::mutex> lock(mutex_);
  CHECK(when >= now_) << "a clock never goes backwards: " << when << " < " << now_;
  now_ = when;
}

}  // namespace switchboard::testing
