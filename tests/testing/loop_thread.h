// Copyright Switchboard authors.
//
// loop_thread.h: `LoopThread`, an EventLoop running on a thread of its own,
// so that a test can build reactor objects on it and talk to them with
// blocking sockets from the test's thread.

#ifndef SWITCHBOARD_TESTS_TESTING_LOOP_THREAD_H_
#define SWITCHBOARD_TESTS_TESTING_LOOP_THREAD_H_

#include <functional>
#include <memory>
#include <thread>

#include "reactor/clock.h"
#include "reactor/event_loop.h"
#include "reactor/poller.h"

namespace switchboard::testing {

class LoopThread {
 public:
  explicit LoopThread(PollerKind kind = DefaultPollerKind(), Clock* clock = SteadyClock());
  ~LoopThread();  // quits the loop and joins

  EventLoop* loop() const { return loop_; }
  // Runs `fn` on the loop's thread and waits for it.
  void RunSync(const std::function<void()>& fn);

 private:
  EventLoop* loop_ = nullptr;
  std::thread thread_;
};

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_LOOP_THREAD_H_
