// Copyright Switchboard authors.
//
// shared_failure_limiter.h: `SharedFailureLimiter`, the FailureLimiter of
// servers that share a store: the failures live in the store's FailureLog,
// so every server counts the same ones. Times come from `clock`, the
// calendar, so servers on several machines need their clocks in step (NTP),
// as session expiry already does.
//
// Like the memory limiter, it checks before and records after the password
// is verified, so attempts that are in flight together (on one server or
// several) may each pass the check: at most one extra try per attempt in
// flight, never a steady stream.

#ifndef SWITCHBOARD_SERVICES_AUTH_SHARED_FAILURE_LIMITER_H_
#define SWITCHBOARD_SERVICES_AUTH_SHARED_FAILURE_LIMITER_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "reactor/clock.h"
#include "services/auth/failure_limiter.h"
#include "services/store/store.h"

namespace switchboard {

// Thread-safe (the log is); blocking: worker threads only.
class SharedFailureLimiter final : public FailureLimiter {
 public:
  // `key_prefix` sets this limiter's keys apart from others on the same log
  // (registrations from "register " + address, say).
  SharedFailureLimiter(FailureLog* log, const Clock* clock, int max_failures = kMaxLoginFailures,
                       absl::Duration window = kLoginFailureWindow, std::string key_prefix = "");

  // FailureLimiter:
  absl::StatusOr<std::optional<absl::Duration>> RetryAfter(absl::string_view user,
                                                           absl::string_view address) override;
  absl::Status RecordFailure(absl::string_view user, absl::string_view address) override;
  absl::Status RecordSuccess(absl::string_view user, absl::string_view address) override;

 private:
  // The wait that the failures of `key` impose, or nullopt.
  absl::StatusOr<std::optional<absl::Duration>> WaitFor(bool by_address, absl::string_view key,
                                                        absl::Time now);

  FailureLog* const log_;
  const Clock* const clock_;
  const int max_failures_;
  const absl::Duration window_;
  const std::string key_prefix_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_AUTH_SHARED_FAILURE_LIMITER_H_
