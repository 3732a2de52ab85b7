// Copyright Switchboard authors.

#include "reactor/connection_limit.h"

namespace switchboard {

bool ConnectionLimit::TryAcquire() {
  int open = open_.load(std::memory_order_relaxed);
  while (open < max_) {
    if (open_.compare_exchange_weak(open, open + 1, std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

}  // namespace switchboard
