// Copyright Switchboard authors.
//
// kqueue_poller.h: the BSD and macOS backend. Compiled only where
// <sys/event.h> exists; symmetric with EpollPoller.

#ifndef SWITCHBOARD_REACTOR_KQUEUE_POLLER_H_
#define SWITCHBOARD_REACTOR_KQUEUE_POLLER_H_

#if defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__) || \
    defined(__DragonFly__)
#define SWITCHBOARD_HAVE_KQUEUE 1

#include <sys/event.h>
#include <sys/types.h>

#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "reactor/poller.h"

namespace switchboard {

// kqueue keeps one filter per direction, so interest changes become filter
// additions and deletions, and the two directions of one fd come back as two
// events that Wait merges into one.
class KqueuePoller final : public Poller {
 public:
  static absl::StatusOr<std::unique_ptr<Poller>> Create();
  ~KqueuePoller() override;

  // Poller
  absl::Status Add(int fd, uint32_t interest, void* token) override;
  absl::Status Modify(int fd, uint32_t interest, void* token) override;
  void Remove(int fd) override;
  absl::Status Wait(absl::Duration timeout, std::vector<ReadyEvent>* ready) override;
  absl::string_view name() const override { return "kqueue"; }

 private:
  explicit KqueuePoller(int kqueue_fd);
  absl::Status Apply(int fd, uint32_t old_interest, uint32_t new_interest, void* token);

  const int kqueue_fd_;
  absl::flat_hash_map<int, uint32_t> interest_;  // fd -> current interest
  std::vector<struct kevent> events_;
};

}  // namespace switchboard

#endif  // kqueue platforms
#endif  // SWITCHBOARD_REACTOR_KQUEUE_POLLER_H_
