// Copyright Switchboard authors.

#include "services/auth/failure_limiter.h"

#include <algorithm>

namespace switchboard {

int64_t RetrySecondsRoundedUp(absl::Duration wait) {
  return std::max<int64_t>(1, absl::ToInt64Seconds(absl::Ceil(wait, absl::Seconds(1))));
}

}  // namespace switchboard
