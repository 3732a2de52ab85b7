// Copyright Switchboard authors.
//
// failure_limiter.h: `FailureLimiter`, auth's brake on password guessing.
// Once `max_failures` failed attempts for one user name, or from one
// address, fall within `window`, further attempts are refused until the
// oldest of them leaves the window. A success clears the user's and the
// address's count.
//
// Two implementations: MemoryFailureLimiter for a server alone on its store,
// SharedFailureLimiter over the store's FailureLog for servers that share a
// store, so that N servers give a guesser no more tries than one.

#ifndef SWITCHBOARD_SERVICES_AUTH_FAILURE_LIMITER_H_
#define SWITCHBOARD_SERVICES_AUTH_FAILURE_LIMITER_H_

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace switchboard {

// The policy of SPEC.md: 5 failures per 15 minutes per user and per address.
inline constexpr int kMaxLoginFailures = 5;
inline constexpr absl::Duration kLoginFailureWindow = absl::Minutes(15);

// `wait` in whole seconds, rounded up, at least 1: what "retry in <n>s" says.
int64_t RetrySecondsRoundedUp(absl::Duration wait);

// Thread-safe: worker threads call it concurrently. A call may block on the
// store, so never from an I/O thread. An error means the count could not be
// read or kept: the caller refuses the attempt rather than let it through
// uncounted.
class FailureLimiter {
 public:
  virtual ~FailureLimiter() = default;

  // How long until `user` from `address` may try again; nullopt when now.
  virtual absl::StatusOr<std::optional<absl::Duration>> RetryAfter(absl::string_view user,
                                                                   absl::string_view address) = 0;
  virtual absl::Status RecordFailure(absl::string_view user, absl::string_view address) = 0;
  virtual absl::Status RecordSuccess(absl::string_view user, absl::string_view address) = 0;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_AUTH_FAILURE_LIMITER_H_
