// Copyright Switchboard authors.
//
// memory_failure_limiter.h: `MemoryFailureLimiter`, the FailureLimiter of a
// server alone on its store: the counts live in memory, so a restart
// forgets them.
//
// Memory is bounded: at most `max_keys` user names and as many addresses
// are tracked; when full, stale entries go first, then arbitrary ones (an
// attacker spraying names loses the per-name count, never the per-address
// one of its own address unless it also sprays addresses).

#ifndef SWITCHBOARD_SERVICES_AUTH_MEMORY_FAILURE_LIMITER_H_
#define SWITCHBOARD_SERVICES_AUTH_MEMORY_FAILURE_LIMITER_H_

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
#include "services/auth/failure_limiter.h"

namespace switchboard {

// Thread-safe: worker threads call it concurrently. The lock is held for
// map work only, never across a system call.
class MemoryFailureLimiter final : public FailureLimiter {
 public:
  explicit MemoryFailureLimiter(const Clock* clock, int max_failures = kMaxLoginFailures,
                                absl::Duration window = kLoginFailureWindow,
                                size_t max_keys = 100000);

  // FailureLimiter (never fails):
  absl::StatusOr<std::optional<absl::Duration>> RetryAfter(absl::string_view user,
                                                           absl::string_view address) override;
  absl::Status RecordFailure(absl::string_view user, absl::string_view address) override;
  absl::Status RecordSuccess(absl::string_view user, absl::string_view address) override;

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

#endif  // SWITCHBOARD_SERVICES_AUTH_MEMORY_FAILURE_LIMITER_H_
