// Copyright Switchboard authors.
//
// connection_limit.h: `ConnectionLimit`, the --max_connections count that
// every server of a process shares, whatever model serves it.

#ifndef SWITCHBOARD_REACTOR_CONNECTION_LIMIT_H_
#define SWITCHBOARD_REACTOR_CONNECTION_LIMIT_H_

#include <atomic>

namespace switchboard {

// Counts open connections across servers. Thread-safe.
class ConnectionLimit {
 public:
  explicit ConnectionLimit(int max) : max_(max) {}
  // Takes a slot; false when all are taken.
  bool TryAcquire();
  void Release() { open_.fetch_sub(1, std::memory_order_relaxed); }
  int open() const { return open_.load(std::memory_order_relaxed); }
  int max() const { return max_; }

 private:
  const int max_;
  std::atomic<int> open_{0};
};

}  // namespace switchboard

#endif  // SWITCHBOARD_REACTOR_CONNECTION_LIMIT_H_
