// Copyright Switchboard authors.
//
// io_watcher.h: `IoWatcher`, one descriptor's interest and callbacks on one
// event loop. It does not own the descriptor: whoever owns the fd owns the
// watcher too and destroys the watcher before closing the fd.

#ifndef SWITCHBOARD_REACTOR_IO_WATCHER_H_
#define SWITCHBOARD_REACTOR_IO_WATCHER_H_

#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "reactor/poller.h"

namespace switchboard {

class EventLoop;

// Loop thread only, every method, construction and destruction included.
// Never destroy a watcher from inside one of its own callbacks: defer it with
// EventLoop::QueueInLoop.
class IoWatcher {
 public:
  using Callback = std::function<void()>;
  using ErrorCallback = std::function<void(const absl::Status&)>;

  IoWatcher(EventLoop* loop, int fd);
  ~IoWatcher();
  IoWatcher(const IoWatcher&) = delete;
  IoWatcher& operator=(const IoWatcher&) = delete;

  void set_read_callback(Callback callback) { read_callback_ = std::move(callback); }
  void set_write_callback(Callback callback) { write_callback_ = std::move(callback); }
  // Called when the poller refuses the descriptor (a runtime limit: ENOMEM,
  // ENOSPC from epoll's max_user_watches). The watcher is then unregistered
  // with no interest; the owner should close its descriptor. Called inside
  // the Enable/Disable call that failed. Without one, the failure is logged
  // and the descriptor is simply no longer watched.
  void set_error_callback(ErrorCallback callback) { error_callback_ = std::move(callback); }

  // Each call updates the poller only when the interest really changes.
  void EnableReading() { SetInterest(interest_ | kReadable); }
  void DisableReading() { SetInterest(interest_ & ~kReadable); }
  void EnableWriting() { SetInterest(interest_ | kWritable); }
  void DisableWriting() { SetInterest(interest_ & ~kWritable); }
  void DisableAll() { SetInterest(0); }

  bool reading() const { return interest_ & kReadable; }
  bool writing() const { return interest_ & kWritable; }
  int fd() const { return fd_; }
  uint32_t interest() const { return interest_; }
  EventLoop* loop() const { return loop_; }

  // Called by the loop with what the poller reported. Runs the read callback,
  // then the write callback if the watcher still wants writes.
  void HandleEvents(uint32_t events);

 private:
  void SetInterest(uint32_t interest);

  EventLoop* const loop_;
  const int fd_;
  uint32_t interest_ = 0;
  bool registered_ = false;  // with the poller; false while interest is 0
  bool handling_ = false;    // inside HandleEvents
  Callback read_callback_;
  Callback write_callback_;
  ErrorCallback error_callback_;

  friend class EventLoop;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_REACTOR_IO_WATCHER_H_
