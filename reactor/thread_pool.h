// Copyright Switchboard authors.
//
// thread_pool.h: `ThreadPool`, fixed worker threads behind a bounded queue,
// for work that may block (hashing, the store) and must stay off the I/O
// threads.

#ifndef SWITCHBOARD_REACTOR_THREAD_POOL_H_
#define SWITCHBOARD_REACTOR_THREAD_POOL_H_

#include <atomic>
#include <cstddef>
#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace switchboard {

// Submit and TrySubmit: any thread. Stop and the destructor: the owner, and
// never from a worker.
class ThreadPool {
 public:
  using Task = absl::AnyInvocable<void() &&>;

  ThreadPool(int workers, size_t max_queued);
  ~ThreadPool();  // Stop(absl::InfiniteDuration())

  // Queues `task`, waiting while the queue is full. False once stopping.
  bool Submit(Task task);
  // Queues `task` unless the queue is full or the pool is stopping.
  bool TrySubmit(Task task);

  // Stops taking tasks, lets the workers finish what is queued for at most
  // `grace`, drops the rest, and joins. Returns how many tasks were dropped.
  size_t Stop(absl::Duration grace);

  // True once Stop began: no new task will be taken. Takes no lock, so it
  // may be asked while holding another.
  bool stopping() const { return stopping_flag_.load(std::memory_order_acquire); }

  int workers() const { return static_cast<int>(threads_.size()); }
  size_t queued() const;

 private:
  void WorkerLoop();

  const size_t max_queued_;
  std::vector<std::thread> threads_;
  mutable absl::Mutex mutex_;
  std::deque<Task> queue_ ABSL_GUARDED_BY(mutex_);
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::atomic<bool> stopping_flag_{false};  // stopping_, readable without the lock
};

}  // namespace switchboard

#endif  // SWITCHBOARD_REACTOR_THREAD_POOL_H_
