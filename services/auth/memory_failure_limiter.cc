// Copyright Switchboard authors.

#include "services/auth/memory_failure_limiter.h"

#include <algorithm>

#include "absl/container/inlined_vector.h"

namespace switchboard {

MemoryFailureLimiter::MemoryFailureLimiter(const Clock* clock, int max_failures,
                                           absl::Duration window, size_t max_keys)
    : clock_(clock), max_failures_(max_failures), window_(window), max_keys_(max_keys) {}

absl::StatusOr<std::optional<absl::Duration>> MemoryFailureLimiter::RetryAfter(
    absl::string_view user, absl::string_view address) {
  const absl::Time now = clock_->Now();
  absl::ReaderMutexLock lock(&mu_);
  std::optional<absl::Duration> by_user = WaitFor(by_user_, user, now);
  std::optional<absl::Duration> by_address = WaitFor(by_address_, address, now);
  if (!by_user.has_value()) return by_address;
  if (!by_address.has_value()) return by_user;
  return std::max(*by_user, *by_address);
}

absl::Status MemoryFailureLimiter::RecordFailure(absl::string_view user,
                                                 absl::string_view address) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  Add(by_user_, user, now);
  Add(by_address_, address, now);
  return absl::OkStatus();
}

absl::Status MemoryFailureLimiter::RecordSuccess(absl::string_view user,
                                                 absl::string_view address) {
  absl::MutexLock lock(&mu_);
  by_user_.erase(user);
  by_address_.erase(address);
  return absl::OkStatus();
}

size_t MemoryFailureLimiter::tracked_users() const {
  absl::ReaderMutexLock lock(&mu_);
  return by_user_.size();
}

size_t MemoryFailureLimiter::tracked_addresses() const {
  absl::ReaderMutexLock lock(&mu_);
  return by_address_.size();
}

std::optional<absl::Duration> MemoryFailureLimiter::WaitFor(const FailureMap& map,
                                                            absl::string_view key,
                                                            absl::Time now) const {
  auto it = map.find(key);
  if (it == map.end()) return std::nullopt;
  const Failures& failures = it->second;
  if (static_cast<int>(failures.size()) < max_failures_) return std::nullopt;
  // Full: locked until the oldest of the last max_failures_ leaves the window.
  const absl::Time until = failures.front() + window_;
  if (until <= now) return std::nullopt;
  return until - now;
}

void MemoryFailureLimiter::Add(FailureMap& map, absl::string_view key, absl::Time now) {
  auto it = map.find(key);
  if (it == map.end()) {
    if (map.size() >= max_keys_) {
      absl::erase_if(map, [&](const auto& entry) { return entry.second.back() + window_ <= now; });
      if (map.size() >= max_keys_) map.erase(map.begin());
    }
    it = map.emplace(std::string(key), Failures()).first;
  }
  Failures& failures = it->second;
  // Failures that left the window no longer count.
  while (!failures.empty() && failures.front() + window_ <= now) {
    failures.erase(failures.begin());
  }
  if (static_cast<int>(failures.size()) == max_failures_) failures.erase(failures.begin());
  failures.push_back(now);
}

}  // namespace switchboard
