// Copyright Switchboard authors.

#include "services/auth/shared_failure_limiter.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace switchboard {

SharedFailureLimiter::SharedFailureLimiter(FailureLog* log, const Clock* clock, int max_failures,
                                           absl::Duration window, std::string key_prefix)
    : log_(log),
      clock_(clock),
      max_failures_(max_failures),
      window_(window),
      key_prefix_(std::move(key_prefix)) {}

absl::StatusOr<std::optional<absl::Duration>> SharedFailureLimiter::WaitFor(bool by_address,
                                                                            absl::string_view key,
                                                                            absl::Time now) {
  absl::StatusOr<std::vector<absl::Time>> recent = log_->RecentFailures(
      by_address, absl::StrCat(key_prefix_, key), now - window_, max_failures_);
  if (!recent.ok()) return recent.status();
  if (static_cast<int>(recent->size()) < max_failures_) return std::nullopt;
  // Newest first: locked until the oldest of the last max_failures_ leaves
  // the window.
  const absl::Time until = recent->back() + window_;
  if (until <= now) return std::nullopt;
  return until - now;
}

absl::StatusOr<std::optional<absl::Duration>> SharedFailureLimiter::RetryAfter(
    absl::string_view user, absl::string_view address) {
  const absl::Time now = clock_->Now();
  absl::StatusOr<std::optional<absl::Duration>> by_user = WaitFor(false, user, now);
  if (!by_user.ok()) return by_user.status();
  absl::StatusOr<std::optional<absl::Duration>> by_address = WaitFor(true, address, now);
  if (!by_address.ok()) return by_address.status();
  if (!by_user->has_value()) return *by_address;
  if (!by_address->has_value()) return *by_user;
  return std::max(**by_user, **by_address);
}

absl::Status SharedFailureLimiter::RecordFailure(absl::string_view user,
                                                 absl::string_view address) {
  return log_->AddFailure(absl::StrCat(key_prefix_, user), absl::StrCat(key_prefix_, address),
                          clock_->Now());
}

absl::Status SharedFailureLimiter::RecordSuccess(absl::string_view user,
                                                 absl::string_view address) {
  return log_->ClearFailures(absl::StrCat(key_prefix_, user), absl::StrCat(key_prefix_, address));
}

}  // namespace switchboard
