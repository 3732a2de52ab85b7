// Copyright Switchboard authors.

#include "reactor/wakeup.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>

#include "reactor/errno_status.h"

#if defined(__linux__)
#include <sys/eventfd.h>
#endif

namespace switchboard {

absl::StatusOr<Wakeup> Wakeup::Create() {
#if defined(__linux__)
  const int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "eventfd");
  return Wakeup(fd, fd);
#else
  int fds[2];
  if (pipe(fds) < 0) return ErrnoStatus(errno, "pipe");
  for (int fd : fds) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  return Wakeup(fds[0], fds[1]);
#endif
}

Wakeup::Wakeup(Wakeup&& other) noexcept : read_fd_(other.read_fd_), write_fd_(other.write_fd_) {
  other.read_fd_ = other.write_fd_ = -1;
}

Wakeup::~Wakeup() {
  if (read_fd_ >= 0) close(read_fd_);
  if (write_fd_ >= 0 && write_fd_ != read_fd_) close(write_fd_);
}

void Wakeup::Notify() const {
  // A full pipe or a saturated eventfd (EAGAIN) is already readable.
#if defined(__linux__)
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(write_fd_, &one, sizeof(one));
#else
  const char one = 1;
  [[maybe_unused]] ssize_t n = write(write_fd_, &one, sizeof(one));
#endif
}

void Wakeup::Drain() const {
  char sink[64];
  while (read(read_fd_, sink, sizeof(sink)) > 0) {
#if defined(__linux__)
    break;  // one read resets an eventfd counter
#endif
  }
}

}  // namespace switchboard
