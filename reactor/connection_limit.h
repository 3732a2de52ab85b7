// Copyright Switchboard authors.
//
// connection_limit.h: `ConnectionLimit`, the --max_connections count that
// every server of a process shares, whatever model serves it, and the
// --max_connections_per_address share of it that one client address may
// hold (off by default).

#ifndef SWITCHBOARD_REACTOR_CONNECTION_LIMIT_H_
#define SWITCHBOARD_REACTOR_CONNECTION_LIMIT_H_

#include <atomic>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "reactor/inet_address.h"

namespace switchboard {

// Counts open connections across servers. Thread-safe; the per-address
// lock is held for map work only, and only when that cap is on.
class ConnectionLimit {
 public:
  enum class Verdict {
    kAdmitted,
    kFull,         // max connections are open
    kAddressFull,  // max_per_address are open from this address
  };

  // `max_per_address` 0: no cap per address.
  explicit ConnectionLimit(int max, int max_per_address = 0)
      : max_(max), max_per_address_(max_per_address) {}

  // Takes a slot for a connection from `peer` (its address, not its port).
  // Every kAdmitted is paired with one Release(peer).
  Verdict TryAcquire(const InetAddress& peer);
  void Release(const InetAddress& peer);

  int open() const { return open_.load(std::memory_order_relaxed); }
  int max() const { return max_; }
  int max_per_address() const { return max_per_address_; }

 private:
  bool TakeGlobal();

  const int max_;
  const int max_per_address_;
  std::atomic<int> open_{0};
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, int> by_address_ ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard

#endif  // SWITCHBOARD_REACTOR_CONNECTION_LIMIT_H_
