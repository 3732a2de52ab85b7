// Copyright Switchboard authors.

#include "tests/testing/loop_thread.h"

#include "absl/synchronization/notification.h"
#include "glog/logging.h"

namespace switchboard::testing {

LoopThread::LoopThread(PollerKind kind, Clock* clock) {
  absl::Notification ready;
  thread_ = std::thread([&] {
    auto loop = EventLoop::Create(kind, clock);
    CHECK(loop.ok()) << loop.status();
    loop_ = loop->get();
    ready.Notify();
    (*loop)->Run();
  });
  ready.WaitForNotification();
}

LoopThread::~LoopThread() {
  loop_->Quit();
  thread_.join();
}

void LoopThread::RunSync(const std::function<void()>& fn) {
  absl::Notification done;
  loop_->RunInLoop([&] {
    fn();
    done.Notify();
  });
  done.WaitForNotification();
}

}  // namespace switchboard::testing
