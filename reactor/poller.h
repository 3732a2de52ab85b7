// Copyright Switchboard authors.
//
// poller.h: the readiness interface the event loop sits on.
//
// A `Poller` watches file descriptors for readiness with one OS facility
// (epoll, poll, kqueue). It holds neither the descriptors nor their handlers:
// each registration carries an opaque token that comes back with the event.
// Backends report error and hang-up as readable and writable together, so the
// owner finds out by reading or writing, the one place it has to handle errors
// anyway. Nothing here assumes TCP: any pollable descriptor works.

#ifndef SWITCHBOARD_REACTOR_POLLER_H_
#define SWITCHBOARD_REACTOR_POLLER_H_

#include <time.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace switchboard {

// Readiness bits, neutral across backends.
inline constexpr uint32_t kReadable = 1u << 0;
inline constexpr uint32_t kWritable = 1u << 1;

// One ready descriptor, as returned by Poller::Wait.
struct ReadyEvent {
  void* token;      // what was registered with the descriptor
  uint32_t events;  // kReadable | kWritable
};

// Waits for readiness on many descriptors. Not thread-safe: one loop thread
// owns each poller.
class Poller {
 public:
  virtual ~Poller() = default;

  // Starts watching `fd` for `interest` (non-zero). The fd must not be
  // registered already.
  virtual absl::Status Add(int fd, uint32_t interest, void* token) = 0;
  // Changes the interest (non-zero) of a registered fd.
  virtual absl::Status Modify(int fd, uint32_t interest, void* token) = 0;
  // Stops watching a registered fd. Call before closing it.
  virtual void Remove(int fd) = 0;

  // Waits at most `timeout` (absl::InfiniteDuration() for no limit) and
  // replaces the contents of `ready` with what became ready. EINTR is an
  // empty wake-up, not an error.
  virtual absl::Status Wait(absl::Duration timeout, std::vector<ReadyEvent>* ready) = 0;

  // The backend's name, as `--poller` spells it.
  virtual absl::string_view name() const = 0;
};

enum class PollerKind { kEpoll, kPoll, kKqueue };

// The best backend this platform has: epoll on Linux, kqueue on BSD and
// macOS, poll elsewhere.
PollerKind DefaultPollerKind();

// True when `kind` was compiled in on this platform.
bool PollerAvailable(PollerKind kind);

// Parses "epoll", "poll", "kqueue".
absl::StatusOr<PollerKind> ParsePollerKind(absl::string_view name);
absl::string_view PollerKindName(PollerKind kind);

// Makes a poller of `kind`; an error when the platform lacks it.
absl::StatusOr<std::unique_ptr<Poller>> MakePoller(PollerKind kind);

// Poll timeouts in whole milliseconds, rounded up so that a timer is never
// woken early; -1 for no limit.
int TimeoutToMilliseconds(absl::Duration timeout);
// The same to the nanosecond, for the calls that take a timespec
// (epoll_pwait2, ppoll), so that timers are not rounded to milliseconds.
// False for no limit.
bool TimeoutToTimespec(absl::Duration timeout, timespec* out);

}  // namespace switchboard

#endif  // SWITCHBOARD_REACTOR_POLLER_H_
