// Copyright Switchboard authors.
//
// wakeup.h: `Wakeup`, a descriptor another thread can make readable to
// interrupt a poller's wait: an eventfd on Linux, a pipe elsewhere.

#ifndef SWITCHBOARD_REACTOR_WAKEUP_H_
#define SWITCHBOARD_REACTOR_WAKEUP_H_

#include "absl/status/statusor.h"

namespace switchboard {

class Wakeup {
 public:
  static absl::StatusOr<Wakeup> Create();
  Wakeup(Wakeup&& other) noexcept;
  Wakeup& operator=(Wakeup&&) = delete;
  Wakeup(const Wakeup&) = delete;
  ~Wakeup();

  // The descriptor to watch for readability.
  int fd() const { return read_fd_; }
  // Makes fd() readable. Safe to call from any thread and from signal
  // handlers; many calls before one Drain() cost one wake-up.
  void Notify() const;
  // Makes fd() unreadable again. Owner's thread only.
  void Drain() const;

 private:
  Wakeup(int read_fd, int write_fd) : read_fd_(read_fd), write_fd_(write_fd) {}
  int read_fd_;
  int write_fd_;  // same as read_fd_ for an eventfd
};

}  // namespace switchboard

#endif  // SWITCHBOARD_REACTOR_WAKEUP_H_
