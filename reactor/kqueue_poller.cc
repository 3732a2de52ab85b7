// Copyright Switchboard authors.

#include "reactor/kqueue_poller.h"

#include "reactor/errno_status.h"

#if defined(SWITCHBOARD_HAVE_KQUEUE)

#include <errno.h>
#include <unistd.h>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace switchboard {

absl::StatusOr<std::unique_ptr<Poller>> KqueuePoller::Create() {
  int fd = kqueue();
  if (fd < 0) return ErrnoStatus(errno, "kqueue");
  return std::unique_ptr<Poller>(new KqueuePoller(fd));
}

KqueuePoller::KqueuePoller(int kqueue_fd) : kqueue_fd_(kqueue_fd), events_(64) {}

KqueuePoller::~KqueuePoller() { close(kqueue_fd_); }

absl::Status KqueuePoller::Apply(int fd, uint32_t old_interest, uint32_t new_interest,
                                 void* token) {
  struct kevent changes[2];
  int n = 0;
  auto change = [&](uint32_t bit, int16_t filter) {
    const bool had = old_interest & bit;
    const bool wants = new_interest & bit;
    if (wants) {
      EV_SET(&changes[n++], fd, filter, EV_ADD, 0, 0, token);
    } else if (had) {
      EV_SET(&changes[n++], fd, filter, EV_DELETE, 0, 0, token);
    }
  };
  change(kReadable, EVFILT_READ);
  change(kWritable, EVFILT_WRITE);
  if (n > 0 && kevent(kqueue_fd_, changes, n, nullptr, 0, nullptr) < 0) {
    return ErrnoStatus(errno, absl::StrCat("kevent fd ", fd));
  }
  return absl::OkStatus();
}

absl::Status KqueuePoller::Add(int fd, uint32_t interest, void* token) {
  absl::Status status = Apply(fd, 0, interest, token);
  if (status.ok()) interest_[fd] = interest;
  return status;
}

absl::Status KqueuePoller::Modify(int fd, uint32_t interest, void* token) {
  auto it = interest_.find(fd);
  if (it == interest_.end()) {
    return absl::NotFoundError(absl::StrCat("kqueue: fd ", fd, " not added"));
  }
  absl::Status status = Apply(fd, it->second, interest, token);
  if (status.ok()) it->second = interest;
  return status;
}

void KqueuePoller::Remove(int fd) {
  auto it = interest_.find(fd);
  if (it == interest_.end()) return;
  Apply(fd, it->second, 0, nullptr).IgnoreError();
  interest_.erase(it);
}

absl::Status KqueuePoller::Wait(absl::Duration timeout, std::vector<ReadyEvent>* ready) {
  ready->clear();
  timespec ts;
  timespec* tsp = nullptr;
  if (timeout != absl::InfiniteDuration()) {
    ts = absl::ToTimespec(timeout);
    tsp = &ts;
  }
  int n = kevent(kqueue_fd_, nullptr, 0, events_.data(), static_cast<int>(events_.size()), tsp);
  if (n < 0) {
    if (errno == EINTR) return absl::OkStatus();
    return ErrnoStatus(errno, "kevent");
  }
  // Merge the read and write events of one fd into one ReadyEvent.
  absl::flat_hash_map<void*, size_t> seen;
  for (int i = 0; i < n; ++i) {
    const struct kevent& e = events_[i];
    uint32_t events = e.filter == EVFILT_WRITE ? kWritable : kReadable;
    if (e.flags & (EV_ERROR | EV_EOF)) events |= kReadable | kWritable;
    auto [it, inserted] = seen.try_emplace(e.udata, ready->size());
    if (inserted) {
      ready->push_back(ReadyEvent{e.udata, events});
    } else {
      (*ready)[it->second].events |= events;
    }
  }
  if (static_cast<size_t>(n) == events_.size()) events_.resize(n * 2);
  return absl::OkStatus();
}

}  // namespace switchboard

#endif  // SWITCHBOARD_HAVE_KQUEUE
