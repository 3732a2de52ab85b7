// Copyright Switchboard authors.
//
// poll_poller.h: the portable backend, poll(2), for any POSIX system.

#ifndef SWITCHBOARD_REACTOR_POLL_POLLER_H_
#define SWITCHBOARD_REACTOR_POLL_POLLER_H_

#include <poll.h>

#include <vector>

#include "absl/container/flat_hash_map.h"
#include "reactor/poller.h"

namespace switchboard {

// poll(2) over a dense array: O(descriptors) per wait, fine for the hundreds
// of connections a system without epoll or kqueue is likely to see.
class PollPoller final : public Poller {
 public:
  PollPoller() = default;

  // Poller
  absl::Status Add(int fd, uint32_t interest, void* token) override;
  absl::Status Modify(int fd, uint32_t interest, void* token) override;
  void Remove(int fd) override;
  absl::Status Wait(absl::Duration timeout, std::vector<ReadyEvent>* ready) override;
  absl::string_view name() const override { return "poll"; }

 private:
  static short ToPollEvents(uint32_t interest);

  std::vector<pollfd> fds_;                 // dense; removal swaps with last
  std::vector<void*> tokens_;               // parallel to fds_
  absl::flat_hash_map<int, size_t> index_;  // fd -> position in fds_
};

}  // namespace switchboard

#endif  // SWITCHBOARD_REACTOR_POLL_POLLER_H_
