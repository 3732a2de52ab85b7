// Copyright Switchboard authors.

#include "reactor/event_loop_pool.h"

#include "absl/synchronization/notification.h"
#include "glog/logging.h"

namespace switchboard {

EventLoopPool::EventLoopPool(int threads, PollerKind kind, Clock* clock)
    : thread_count_(threads < 1 ? 1 : threads), kind_(kind), clock_(clock) {}

EventLoopPool::~EventLoopPool() { Stop(); }

absl::Status EventLoopPool::Start() {
  CHECK(threads_.empty()) << "EventLoopPool started twice";
  for (int i = 0; i < thread_count_; ++i) {
    absl::Notification ready;
    EventLoop* loop = nullptr;
    absl::Status status;
    threads_.emplace_back([&, i] {
      // The loop lives on its thread's stack: it belongs to this thread.
      absl::StatusOr<std::unique_ptr<EventLoop>> created = EventLoop::Create(kind_, clock_);
      if (!created.ok()) {
        status = created.status();
        ready.Notify();
        return;
      }
      loop = created->get();
      ready.Notify();
      VLOG(1) << "I/O thread " << i << " running its event loop";
      (*created)->Run();
    });
    ready.WaitForNotification();
    if (!status.ok()) {
      Stop();
      return status;
    }
    loops_.push_back(loop);
  }
  return absl::OkStatus();
}

void EventLoopPool::Stop() {
  for (EventLoop* loop : loops_) loop->Quit();
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
  loops_.clear();
}

EventLoop* EventLoopPool::NextLoop() {
  CHECK(!loops_.empty()) << "EventLoopPool not started";
  EventLoop* loop = loops_[next_];
  next_ = (next_ + 1) % loops_.size();
  return loop;
}

}  // namespace switchboard
