// Copyright Switchboard authors.

#include "reactor/serial_executor.h"

namespace switchboard {
namespace {
constexpr int kBatch = 16;  // tasks per turn on a worker before yielding it
}  // namespace

std::shared_ptr<SerialExecutor> SerialExecutor::Create(ThreadPool* pool) {
  return std::shared_ptr<SerialExecutor>(new SerialExecutor(pool));
}

bool SerialExecutor::Add(Task task) {
  {
    absl::MutexLock lock(&mutex_);
    // A Drain may still be running on a worker while the pool stops; it
    // must not pick up work that arrives after Stop began.
    if (pool_->stopping()) return false;
    tasks_.push_back(std::move(task));
    if (scheduled_) return true;
    scheduled_ = true;
  }
  if (pool_->Submit([self = shared_from_this()] { self->Drain(); })) return true;
  // The pool stopped between the check and Submit: nothing will drain, so
  // whatever was added meanwhile is dropped with this task, as the pool
  // drops its queue.
  std::deque<Task> dropped;
  {
    absl::MutexLock lock(&mutex_);
    dropped.swap(tasks_);
    scheduled_ = false;
  }
  return false;
}

size_t SerialExecutor::pending() const {
  absl::MutexLock lock(&mutex_);
  return tasks_.size() + running_;
}

void SerialExecutor::Drain() {
  for (;;) {
    for (int i = 0; i < kBatch; ++i) {
      Task task;
      {
        absl::MutexLock lock(&mutex_);
        if (tasks_.empty()) {
          scheduled_ = false;
          return;
        }
        task = std::move(tasks_.front());
        tasks_.pop_front();
        running_ = 1;
      }
      std::move(task)();
      absl::MutexLock lock(&mutex_);
      running_ = 0;
    }
    // More remain: go to the back of the pool's queue, behind other
    // connections. scheduled_ stays true, so the order is kept. When the
    // queue is full (or stopping), keep going on this worker instead.
    if (pool_->TrySubmit([self = shared_from_this()] { self->Drain(); })) return;
  }
}

}  // namespace switchboard
