// Copyright Switchboard authors.
//
// event_loop_pool.h: `EventLoopPool`, the I/O threads, one EventLoop each,
// handed out round-robin to new connections.

#ifndef SWITCHBOARD_REACTOR_EVENT_LOOP_POOL_H_
#define SWITCHBOARD_REACTOR_EVENT_LOOP_POOL_H_

#include <memory>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "reactor/clock.h"
#include "reactor/event_loop.h"
#include "reactor/poller.h"

namespace switchboard {

// Start, Stop and the destructor: the owning thread. NextLoop: the thread
// that distributes connections (the acceptor's loop). loop(i): any thread.
class EventLoopPool {
 public:
  EventLoopPool(int threads, PollerKind kind, Clock* clock = SteadyClock());
  ~EventLoopPool();  // stops the threads if still running

  // Starts the threads and returns once each has its loop (or the first
  // error creating one).
  absl::Status Start();
  // Quits every loop and joins the threads.
  void Stop();

  // The loop for the next connection, round-robin.
  EventLoop* NextLoop();
  size_t size() const { return loops_.size(); }
  EventLoop* loop(size_t i) const { return loops_[i]; }

 private:
  const int thread_count_;
  const PollerKind kind_;
  Clock* const clock_;
  std::vector<std::thread> threads_;
  std::vector<EventLoop*> loops_;  // owned by their threads
  size_t next_ = 0;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_REACTOR_EVENT_LOOP_POOL_H_
