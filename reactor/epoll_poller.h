// Copyright Switchboard authors.
//
// epoll_poller.h: the Linux backend, level-triggered epoll.

#ifndef SWITCHBOARD_REACTOR_EPOLL_POLLER_H_
#define SWITCHBOARD_REACTOR_EPOLL_POLLER_H_

#if defined(__linux__)
#define SWITCHBOARD_HAVE_EPOLL 1

#include <sys/epoll.h>

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "reactor/poller.h"

namespace switchboard {

// Level-triggered epoll: a descriptor stays ready until drained, which keeps
// the owners simple (folly measured little gain from edge triggering).
class EpollPoller final : public Poller {
 public:
  static absl::StatusOr<std::unique_ptr<Poller>> Create();
  ~EpollPoller() override;

  // Poller
  absl::Status Add(int fd, uint32_t interest, void* token) override;
  absl::Status Modify(int fd, uint32_t interest, void* token) override;
  void Remove(int fd) override;
  absl::Status Wait(absl::Duration timeout, std::vector<ReadyEvent>* ready) override;
  absl::string_view name() const override { return "epoll"; }

 private:
  explicit EpollPoller(int epoll_fd);
  absl::Status Control(int op, int fd, uint32_t interest, void* token);

  const int epoll_fd_;
  std::vector<epoll_event> events_;  // grows when a wait fills it
  // epoll_pwait2 (nanosecond timeouts, Linux 5.11) answered ENOSYS: use
  // epoll_wait and whole milliseconds from then on.
  bool pwait2_missing_ = false;
};

}  // namespace switchboard

#endif  // __linux__
#endif  // SWITCHBOARD_REACTOR_EPOLL_POLLER_H_
