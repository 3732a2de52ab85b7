// Copyright Switchboard authors.

#include "reactor/io_watcher.h"

#include "glog/logging.h"
#include "reactor/event_loop.h"
#include "reactor/poller.h"

namespace switchboard {

IoWatcher::IoWatcher(EventLoop* loop, int fd) : loop_(loop), fd_(fd) {}

IoWatcher::~IoWatcher() {
  CHECK(!handling_) << "IoWatcher for fd " << fd_
                    << " destroyed inside its own callback; defer it with QueueInLoop";
  if (registered_ || interest_ != 0) {
    loop_->AssertInLoopThread();
    loop_->RemoveWatcher(this);
  }
}

void IoWatcher::SetInterest(uint32_t interest) {
  loop_->AssertInLoopThread();
  if (interest == interest_) return;
  interest_ = interest;
  loop_->UpdateWatcher(this);
}

void IoWatcher::HandleEvents(uint32_t events) {
  handling_ = true;
  if ((events & kReadable) && (interest_ & kReadable) && read_callback_) {
    read_callback_();
  }
  if ((events & kWritable) && (interest_ & kWritable) && write_callback_) {
    write_callback_();
  }
  handling_ = false;
}

}  // namespace switchboard
