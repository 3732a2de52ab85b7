// Copyright Switchboard authors.

#include "reactor/timer_queue.h"

#include <algorithm>

namespace switchboard {

TimerId TimerQueue::Add(absl::Time when, absl::Duration interval, Callback callback) {
  const TimerId id = next_id_++;
  timers_.emplace(id, Timer{when, interval, std::move(callback)});
  Push(when, id);
  return id;
}

void TimerQueue::Cancel(TimerId id) {
  timers_.erase(id);
  CompactIfMostlyStale();
}

void TimerQueue::Push(absl::Time when, TimerId id) {
  heap_.push_back(HeapEntry{when, id});
  std::push_heap(heap_.begin(), heap_.end());
}

void TimerQueue::DropStaleTop() {
  while (!heap_.empty()) {
    auto it = timers_.find(heap_.front().id);
    // A live entry is current only if its deadline matches the timer's.
    if (it != timers_.end() && it->second.when == heap_.front().when) return;
    std::pop_heap(heap_.begin(), heap_.end());
    heap_.pop_back();
  }
}

void TimerQueue::CompactIfMostlyStale() {
  if (heap_.size() < 64 || heap_.size() < 2 * timers_.size()) return;
  heap_.clear();
  for (const auto& [id, timer] : timers_) heap_.push_back(HeapEntry{timer.when, id});
  std::make_heap(heap_.begin(), heap_.end());
}

absl::Time TimerQueue::NextDeadline() {
  DropStaleTop();
  return heap_.empty() ? absl::InfiniteFuture() : heap_.front().when;
}

int TimerQueue::RunExpired(absl::Time now) {
  int ran = 0;
  // Timers added by the callbacks of this pass wait for the next one, so a
  // callback that schedules a due timer cannot keep the loop here for ever.
  const TimerId first_new = next_id_;
  for (;;) {
    DropStaleTop();
    if (heap_.empty() || heap_.front().when > now) break;
    const TimerId id = heap_.front().id;
    if (id >= first_new) break;
    std::pop_heap(heap_.begin(), heap_.end());
    heap_.pop_back();
    auto it = timers_.find(id);
    if (it->second.interval > absl::ZeroDuration()) {
      // Reschedule before running, so the callback may cancel itself. Skip
      // missed periods instead of firing a burst to catch up.
      Timer& timer = it->second;
      timer.when += timer.interval;
      if (timer.when <= now) {
        timer.when = now + timer.interval;
      }
      Push(timer.when, id);
      Callback callback = timer.callback;  // the map may rehash meanwhile
      callback();
    } else {
      Callback callback = std::move(it->second.callback);
      timers_.erase(it);
      callback();
    }
    ++ran;
  }
  return ran;
}

}  // namespace switchboard
