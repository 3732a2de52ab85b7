// Copyright Switchboard authors.
//
// failure_limiter.h: `FailureLimiter`, auth's brake on password guessing.
// Once `max_failures` failed attempts for one user name, or from one
// address, fall within `window`, further attempts are refused until the
// oldest of them leaves the window. A success clears the user's and the
// address's count. State lives in memory: a restart forgets it.
//
// Memory is bounded: at most `max_keys` user names and as many addresses
// are tracked; when full, stale entries go first, then arbitrary ones (an
// attacker spraying names loses the per-name count, never the per-address
// one of its own address unless it also sprays addresses).

#ifndef SWITCHBOARD_SERVICES_AUTH_FAILURE_LIMITER_H_
#define SWITCHBOARD_SERVICES_AUTH_FAILURE_LIMITER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "reactor/clock.h"

namespace switchboard {

// `wait` in whole seconds, rounded up, at least 1: what "retry in <n>s" says.
int64_t RetrySecondsRoundedUp(absl::Duration wait);

// Thread-safe: worker threads call it concurrently. The lock is held for
// map work only, never across a system call.
class FailureLimiter {
 public:
  explicit FailureLimiter(const Clock* clock, int max_failures = 5,
                          absl::Duration window = absl::Minutes(15), size_t max_keys = 100000);
  FailureLimiter(const FailureLimiter&) = delete;
  FailureLimiter& operator=(const FailureLimiter&) = delete;

  // How long until `user` from `address` may try again; nullopt when now.
  std::optional<absl::Duration> RetryAfter(absl::string_view user, absl::string_view address);
  void RecordFailure(absl::string_view user, absl::string_view address);
  void RecordSuccess(absl::string_view user, absl::string_view address);

  // Entries held, for tests of the memory bound.
  size_t tracked_users() const;
  size_t tracked_addresses() const;

 private:
  // The times of the latest failures, oldest first, at most max_failures_.
  using Failures = absl::InlinedVector<absl::Time, 5>;
  using FailureMap = absl::flat_hash_map<std::string, Failures>;

  std::optional<absl::Duration> WaitFor(const FailureMap& map, absl::string_view key,
                                        absl::Time now) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void Add(FailureMap& map, absl::string_view key, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock* const clock_;
  const int max_failures_;
  const absl::Duration window_;
  const size_t max_keys_;
  mutable absl::Mutex mu_;
  FailureMap by_user_ ABSL_GUARDED_BY(mu_);
  FailureMap by_address_ ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_AUTH_FAILURE_LIMITER_H_
