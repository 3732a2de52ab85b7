// Copyright Switchboard authors.
//
// timer_queue.h: `TimerQueue`, one-shot and repeating timers on a min-heap.
// The loop asks it how long it may sleep and runs what has expired.
// Cancelling is O(1): the heap entry stays behind and is skipped (and the
// heap compacted when stale entries dominate). Not thread-safe: owned by one
// event loop.

#ifndef SWITCHBOARD_REACTOR_TIMER_QUEUE_H_
#define SWITCHBOARD_REACTOR_TIMER_QUEUE_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"

namespace switchboard {

// Names a timer; 0 is never a valid id.
using TimerId = uint64_t;

class TimerQueue {
 public:
  using Callback = std::function<void()>;

  // Runs `callback` at `when`, then every `interval` if that is positive.
  TimerId Add(absl::Time when, absl::Duration interval, Callback callback);
  // Stops a timer; harmless for one that fired or was cancelled already,
  // and allowed from inside any timer's callback, this one included.
  void Cancel(TimerId id);

  // The earliest deadline, or absl::InfiniteFuture() with no timers.
  absl::Time NextDeadline();
  // Runs every timer due at `now`; returns how many ran.
  int RunExpired(absl::Time now);

  size_t size() const { return timers_.size(); }

 private:
  struct Timer {
    absl::Time when;
    absl::Duration interval;
    Callback callback;
  };
  struct HeapEntry {
    absl::Time when;
    TimerId id;
    // std heap functions build a max-heap; invert for earliest-first.
    bool operator<(const HeapEntry& other) const {
      return when != other.when ? when > other.when : id > other.id;
    }
  };
  void Push(absl::Time when, TimerId id);
  void DropStaleTop();
  void CompactIfMostlyStale();

  absl::flat_hash_map<TimerId, Timer> timers_;
  std::vector<HeapEntry> heap_;
  TimerId next_id_ = 1;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_REACTOR_TIMER_QUEUE_H_
