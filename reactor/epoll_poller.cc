// Copyright Switchboard authors.

#include "reactor/epoll_poller.h"

#include "reactor/errno_status.h"

#if defined(SWITCHBOARD_HAVE_EPOLL)

#include <errno.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace switchboard {

absl::StatusOr<std::unique_ptr<Poller>> EpollPoller::Create() {
  int fd = epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) {
    return ErrnoStatus(errno, "epoll_create1");
  }
  return std::unique_ptr<Poller>(new EpollPoller(fd));
}

EpollPoller::EpollPoller(int epoll_fd) : epoll_fd_(epoll_fd), events_(64) {}

EpollPoller::~EpollPoller() { close(epoll_fd_); }

absl::Status EpollPoller::Control(int op, int fd, uint32_t interest, void* token) {
  epoll_event event{};
  if (interest & kReadable) event.events |= EPOLLIN | EPOLLRDHUP;
  if (interest & kWritable) event.events |= EPOLLOUT;
  event.data.ptr = token;
  if (epoll_ctl(epoll_fd_, op, fd, &event) < 0) {
    return ErrnoStatus(errno, absl::StrCat("epoll_ctl fd ", fd));
  }
  return absl::OkStatus();
}

absl::Status EpollPoller::Add(int fd, uint32_t interest, void* token) {
  return Control(EPOLL_CTL_ADD, fd, interest, token);
}

absl::Status EpollPoller::Modify(int fd, uint32_t interest, void* token) {
  return Control(EPOLL_CTL_MOD, fd, interest, token);
}

void EpollPoller::Remove(int fd) {
  // Kernels before 2.6.9 wanted a non-null event even for DEL.
  epoll_event unused{};
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, &unused);
}

absl::Status EpollPoller::Wait(absl::Duration timeout, std::vector<ReadyEvent>* ready) {
  ready->clear();
  const int capacity = static_cast<int>(events_.size());
  int n = -1;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
  if (!pwait2_missing_) {
    timespec limit;
    const bool limited = TimeoutToTimespec(timeout, &limit);
    n = epoll_pwait2(epoll_fd_, events_.data(), capacity, limited ? &limit : nullptr, nullptr);
    if (n < 0 && errno == ENOSYS) pwait2_missing_ = true;
  }
#else
  pwait2_missing_ = true;
#endif
  if (pwait2_missing_) {
    n = epoll_wait(epoll_fd_, events_.data(), capacity, TimeoutToMilliseconds(timeout));
  }
  if (n < 0) {
    if (errno == EINTR) return absl::OkStatus();
    return ErrnoStatus(errno, "epoll_wait");
  }
  for (int i = 0; i < n; ++i) {
    const uint32_t got = events_[i].events;
    uint32_t events = 0;
    if (got & (EPOLLIN | EPOLLRDHUP | EPOLLPRI)) events |= kReadable;
    if (got & EPOLLOUT) events |= kWritable;
    // Errors and hang-ups surface through the next read or write.
    if (got & (EPOLLERR | EPOLLHUP)) events |= kReadable | kWritable;
    ready->push_back(ReadyEvent{events_[i].data.ptr, events});
  }
  if (static_cast<size_t>(n) == events_.size()) events_.resize(n * 2);
  return absl::OkStatus();
}

}  // namespace switchboard

#endif  // SWITCHBOARD_HAVE_EPOLL
