// Copyright Switchboard authors.
//
// The one file that knows every backend.

#include "reactor/poller.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "reactor/epoll_poller.h"
#include "reactor/kqueue_poller.h"
#include "reactor/poll_poller.h"

namespace switchboard {

PollerKind DefaultPollerKind() {
#if defined(SWITCHBOARD_HAVE_EPOLL)
  return PollerKind::kEpoll;
#elif defined(SWITCHBOARD_HAVE_KQUEUE)
  return PollerKind::kKqueue;
#else
  return PollerKind::kPoll;
#endif
}

bool PollerAvailable(PollerKind kind) {
  switch (kind) {
    case PollerKind::kEpoll:
#if defined(SWITCHBOARD_HAVE_EPOLL)
      return true;
#else
      return false;
#endif
    case PollerKind::kKqueue:
#if defined(SWITCHBOARD_HAVE_KQUEUE)
      return true;
#else
      return false;
#endif
    case PollerKind::kPoll:
      return true;
  }
  return false;
}

absl::StatusOr<PollerKind> ParsePollerKind(absl::string_view name) {
  if (name == "epoll") return PollerKind::kEpoll;
  if (name == "poll") return PollerKind::kPoll;
  if (name == "kqueue") return PollerKind::kKqueue;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown poller '", name, "' (epoll, poll or kqueue)"));
}

absl::string_view PollerKindName(PollerKind kind) {
  switch (kind) {
    case PollerKind::kEpoll:
      return "epoll";
    case PollerKind::kPoll:
      return "poll";
    case PollerKind::kKqueue:
      return "kqueue";
  }
  return "unknown";
}

absl::StatusOr<std::unique_ptr<Poller>> MakePoller(PollerKind kind) {
  switch (kind) {
    case PollerKind::kEpoll:
#if defined(SWITCHBOARD_HAVE_EPOLL)
      return EpollPoller::Create();
#else
      break;
#endif
    case PollerKind::kKqueue:
#if defined(SWITCHBOARD_HAVE_KQUEUE)
      return KqueuePoller::Create();
#else
      break;
#endif
    case PollerKind::kPoll:
      return std::unique_ptr<Poller>(new PollPoller());
  }
  return absl::UnimplementedError(
      absl::StrCat("the ", PollerKindName(kind), " poller is not available on this platform"));
}

bool TimeoutToTimespec(absl::Duration timeout, timespec* out) {
  if (timeout == absl::InfiniteDuration()) return false;
  // Past about 34 years absl::ToTimespec saturates; no loop waits that long.
  *out = absl::ToTimespec(std::max(timeout, absl::ZeroDuration()));
  return true;
}

int TimeoutToMilliseconds(absl::Duration timeout) {
  if (timeout == absl::InfiniteDuration()) return -1;
  if (timeout <= absl::ZeroDuration()) return 0;
  const int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(timeout, absl::Milliseconds(1)));
  return ms > 1 << 30 ? 1 << 30 : static_cast<int>(ms);
}

}  // namespace switchboard
