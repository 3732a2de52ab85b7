// Copyright Switchboard authors.

#include "reactor/connection_limit.h"

namespace switchboard {

bool ConnectionLimit::TakeGlobal() {
  int open = open_.load(std::memory_order_relaxed);
  while (open < max_) {
    if (open_.compare_exchange_weak(open, open + 1, std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

ConnectionLimit::Verdict ConnectionLimit::TryAcquire(const InetAddress& peer) {
  if (max_per_address_ <= 0) return TakeGlobal() ? Verdict::kAdmitted : Verdict::kFull;
  const std::string key = peer.IpString();
  absl::MutexLock lock(&mu_);
  int& mine = by_address_[key];
  if (mine >= max_per_address_) return Verdict::kAddressFull;
  if (!TakeGlobal()) {
    if (mine == 0) by_address_.erase(key);
    return Verdict::kFull;
  }
  ++mine;
  return Verdict::kAdmitted;
}

void ConnectionLimit::Release(const InetAddress& peer) {
  open_.fetch_sub(1, std::memory_order_relaxed);
  if (max_per_address_ <= 0) return;
  absl::MutexLock lock(&mu_);
  auto it = by_address_.find(peer.IpString());
  if (it != by_address_.end() && --it->second <= 0) by_address_.erase(it);
}

}  // namespace switchboard
