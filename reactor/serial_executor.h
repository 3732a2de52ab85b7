// Copyright Switchboard authors.
//
// serial_executor.h: `SerialExecutor` runs one connection's tasks on a
// ThreadPool in the order they were added and never two at once, however
// many workers the pool has (folly's SerialExecutor, in small).

#ifndef SWITCHBOARD_REACTOR_SERIAL_EXECUTOR_H_
#define SWITCHBOARD_REACTOR_SERIAL_EXECUTOR_H_

#include <deque>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "reactor/thread_pool.h"

namespace switchboard {

// Any thread. Held by shared_ptr: the pool task that drains it keeps it alive.
class SerialExecutor : public std::enable_shared_from_this<SerialExecutor> {
 public:
  using Task = absl::AnyInvocable<void() &&>;

  static std::shared_ptr<SerialExecutor> Create(ThreadPool* pool);

  // Queues `task` after every task added before it. False when the pool no
  // longer takes work (it is stopping); the task is then dropped.
  bool Add(Task task);

  // Tasks added and not yet finished.
  size_t pending() const;

 private:
  explicit SerialExecutor(ThreadPool* pool) : pool_(pool) {}
  // Runs on a worker: the queued tasks, a bounded batch at a time so one
  // busy connection cannot hold a worker for ever.
  void Drain();

  ThreadPool* const pool_;
  mutable absl::Mutex mutex_;
  std::deque<Task> tasks_ ABSL_GUARDED_BY(mutex_);
  bool scheduled_ ABSL_GUARDED_BY(mutex_) = false;  // a Drain is queued or running
  size_t running_ ABSL_GUARDED_BY(mutex_) = 0;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_REACTOR_SERIAL_EXECUTOR_H_
