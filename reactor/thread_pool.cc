// Copyright Switchboard authors.

#include "reactor/thread_pool.h"

#include "glog/logging.h"

namespace switchboard {

ThreadPool::ThreadPool(int workers, size_t max_queued)
    : max_queued_(max_queued == 0 ? 1 : max_queued) {
  if (workers < 1) workers = 1;
  threads_.reserve(workers);
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() { Stop(absl::InfiniteDuration()); }

bool ThreadPool::Submit(Task task) {
  absl::MutexLock lock(&mutex_);
  auto has_room = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return stopping_ || queue_.size() < max_queued_;
  };
  mutex_.Await(absl::Condition(&has_room));
  if (stopping_) return false;
  queue_.push_back(std::move(task));
  return true;
}

bool ThreadPool::TrySubmit(Task task) {
  absl::MutexLock lock(&mutex_);
  if (stopping_ || queue_.size() >= max_queued_) return false;
  queue_.push_back(std::move(task));
  return true;
}

size_t ThreadPool::queued() const {
  absl::MutexLock lock(&mutex_);
  return queue_.size();
}

void ThreadPool::WorkerLoop() {
  for (;;) {
    Task task;
    {
      absl::MutexLock lock(&mutex_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
        return stopping_ || !queue_.empty();
      };
      mutex_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stopping and drained
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    std::move(task)();
  }
}

size_t ThreadPool::Stop(absl::Duration grace) {
  std::deque<Task> dropped_tasks;  // destroyed outside the lock
  {
    absl::MutexLock lock(&mutex_);
    if (threads_.empty()) return 0;
    stopping_ = true;
    stopping_flag_.store(true, std::memory_order_release);
    auto drained = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return queue_.empty(); };
    if (!mutex_.AwaitWithTimeout(absl::Condition(&drained), grace)) {
      dropped_tasks.swap(queue_);
    }
  }
  const size_t dropped = dropped_tasks.size();
  dropped_tasks.clear();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
  LOG_IF(WARNING, dropped > 0) << "worker pool stopped with " << dropped
                               << " queued tasks dropped after the grace period";
  return dropped;
}

}  // namespace switchboard
