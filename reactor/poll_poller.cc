// Copyright Switchboard authors.

#include "reactor/poll_poller.h"

#include <errno.h>

#include "absl/strings/str_cat.h"
#include "reactor/errno_status.h"

namespace switchboard {

short PollPoller::ToPollEvents(uint32_t interest) {
  short events = 0;
  if (interest & kReadable) events |= POLLIN;
  if (interest & kWritable) events |= POLLOUT;
  return events;
}

absl::Status PollPoller::Add(int fd, uint32_t interest, void* token) {
  if (index_.contains(fd)) {
    return absl::AlreadyExistsError(absl::StrCat("poll: fd ", fd, " already added"));
  }
  index_[fd] = fds_.size();
  fds_.push_back(pollfd{fd, ToPollEvents(interest), 0});
  tokens_.push_back(token);
  return absl::OkStatus();
}

absl::Status PollPoller::Modify(int fd, uint32_t interest, void* token) {
  auto it = index_.find(fd);
  if (it == index_.end()) {
    return absl::NotFoundError(absl::StrCat("poll: fd ", fd, " not added"));
  }
  fds_[it->second].events = ToPollEvents(interest);
  tokens_[it->second] = token;
  return absl::OkStatus();
}

void PollPoller::Remove(int fd) {
  auto it = index_.find(fd);
  if (it == index_.end()) return;
  const size_t position = it->second;
  index_.erase(it);
  const size_t last = fds_.size() - 1;
  if (position != last) {
    fds_[position] = fds_[last];
    tokens_[position] = tokens_[last];
    index_[fds_[position].fd] = position;
  }
  fds_.pop_back();
  tokens_.pop_back();
}

absl::Status PollPoller::Wait(absl::Duration timeout, std::vector<ReadyEvent>* ready) {
  ready->clear();
#if defined(__linux__)
  timespec limit;
  const bool limited = TimeoutToTimespec(timeout, &limit);
  int n = ppoll(fds_.data(), fds_.size(), limited ? &limit : nullptr, nullptr);
#else
  int n = poll(fds_.data(), fds_.size(), TimeoutToMilliseconds(timeout));
#endif
  if (n < 0) {
    if (errno == EINTR) return absl::OkStatus();
    return ErrnoStatus(errno, "poll");
  }
  for (size_t i = 0; i < fds_.size() && n > 0; ++i) {
    const short got = fds_[i].revents;
    if (got == 0) continue;
    --n;
    uint32_t events = 0;
    if (got & (POLLIN | POLLPRI)) events |= kReadable;
    if (got & POLLOUT) events |= kWritable;
    if (got & (POLLERR | POLLHUP | POLLNVAL)) events |= kReadable | kWritable;
    ready->push_back(ReadyEvent{tokens_[i], events});
  }
  return absl::OkStatus();
}

}  // namespace switchboard
