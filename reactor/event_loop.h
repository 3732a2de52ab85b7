// Copyright Switchboard authors.
//
// event_loop.h: `EventLoop`, the reactor: one per thread, it waits on a
// Poller, runs the callbacks of ready IoWatchers, expired timers, and tasks
// that other threads queue to it.
//
// Thread affinity: a loop belongs to the thread that created it. Run,
// RunOnce, the timer calls and everything IoWatcher does are for that thread
// only and assert it. RunInLoop, QueueInLoop and Quit are safe from any
// thread; they are how other threads (the worker pool, the signal watcher)
// reach objects the loop owns.

#ifndef SWITCHBOARD_REACTOR_EVENT_LOOP_H_
#define SWITCHBOARD_REACTOR_EVENT_LOOP_H_

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/optimization.h"
#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "reactor/clock.h"
#include "reactor/io_watcher.h"
#include "reactor/poller.h"
#include "reactor/timer_queue.h"
#include "reactor/wakeup.h"

namespace switchboard {

class EventLoop {
 public:
  using Task = absl::AnyInvocable<void() &&>;

  // A loop on a new poller of `kind`, bound to the calling thread.
  static absl::StatusOr<std::unique_ptr<EventLoop>> Create(PollerKind kind,
                                                           Clock* clock = SteadyClock());
  // A loop on `poller` (a backend of one's own, or one that fails on
  // demand in tests), bound to the calling thread.
  static absl::StatusOr<std::unique_ptr<EventLoop>> CreateWithPoller(std::unique_ptr<Poller> poller,
                                                                     Clock* clock = SteadyClock());
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Loop thread. Runs until Quit(); then runs the tasks still queued.
  void Run();
  // Loop thread. One turn: waits at most `max_wait` for events (less if a
  // timer is due sooner), handles them, runs due timers and queued tasks.
  void RunOnce(absl::Duration max_wait);
  // Any thread. Makes Run() return after the current turn.
  void Quit();
  bool quitting() const { return quit_.load(std::memory_order_acquire); }

  // Any thread. Runs `task` now if called on the loop thread, else queues it.
  void RunInLoop(Task task);
  // Any thread. Always queues `task` for after the current callbacks: the way
  // to destroy an object from inside its own callback. The task is destroyed
  // right after it runs. Wakes the loop only when the queue was empty, so a
  // burst of tasks from a worker costs one wake-up.
  void QueueInLoop(Task task);

  // Loop thread. Timers, run on this loop; cancellable until they fire.
  TimerId RunAt(absl::Time when, TimerQueue::Callback callback);
  TimerId RunAfter(absl::Duration delay, TimerQueue::Callback callback);
  TimerId RunEvery(absl::Duration interval, TimerQueue::Callback callback);
  void CancelTimer(TimerId id);

  // Any thread.
  absl::Time Now() const { return clock_->Now(); }
  // Loop thread. Now() as read once when this turn's events were reported:
  // what per-message time stamps use, since a clock read per message costs
  // more than the stamp is worth.
  absl::Time turn_time() const { return turn_time_; }
  Clock* clock() const { return clock_; }
  absl::string_view poller_name() const { return poller_->name(); }
  bool IsInLoopThread() const { return std::this_thread::get_id() == thread_id_; }
  // Crashes with a message naming the loop's thread when called elsewhere.
  // Inline: it guards every per-message call.
  void AssertInLoopThread() const {
    if (ABSL_PREDICT_FALSE(!IsInLoopThread())) DieOutsideLoopThread();
  }

  // Loop thread. Watchers registered with the poller (the loop's own
  // wake-up excluded): tests check it returns to 0.
  size_t watcher_count() const;

 private:
  EventLoop(std::unique_ptr<Poller> poller, Wakeup wakeup, Clock* clock);

  // For IoWatcher::SetInterest and ~IoWatcher.
  friend class IoWatcher;
  void UpdateWatcher(IoWatcher* watcher);
  void RemoveWatcher(IoWatcher* watcher);

  [[noreturn]] void DieOutsideLoopThread() const;
  void RunQueuedTasks();
  absl::Duration PollTimeout(absl::Duration max_wait);

  const std::thread::id thread_id_;
  const std::unique_ptr<Poller> poller_;
  const Wakeup wakeup_;
  IoWatcher wakeup_watcher_;
  Clock* const clock_;
  absl::Time turn_time_;
  TimerQueue timers_;
  std::vector<ReadyEvent> ready_;  // this turn's events; removal nulls tokens
  size_t ready_next_ = 0;          // next entry of ready_ to handle
  size_t watchers_ = 0;
  std::atomic<bool> quit_{false};
  std::atomic<bool> running_tasks_{false};
  std::vector<Task> batch_;  // the tasks being run; loop thread only

  absl::Mutex mutex_;
  std::vector<Task> queued_ ABSL_GUARDED_BY(mutex_);
  // !queued_.empty(), written under mutex_, read without it by the loop.
  std::atomic<bool> has_queued_{false};
};

}  // namespace switchboard

#endif  // SWITCHBOARD_REACTOR_EVENT_LOOP_H_
