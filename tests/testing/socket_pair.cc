// Copyright Switchboard authors.

#include "tests/testing/socket_pair.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "reactor/inet_address.h"
#include "reactor/poller.h"

namespace switchboard::testing {
namespace {

// Waits until `fd` has `events` or the deadline passes; false on timeout.
bool WaitFor(int fd, short events, absl::Time deadline) {
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd p{fd, events, 0};
    const int n = poll(&p, 1, TimeoutToMilliseconds(left));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

}  // namespace

absl::StatusOr<SocketPair> MakeSocketPair(bool non_blocking) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
    return absl::ErrnoToStatus(errno, "socketpair");
  }
  SocketPair pair{Socket(fds[0]), Socket(fds[1])};
  if (non_blocking) {
    if (absl::Status s = pair.first.SetNonBlocking(true); !s.ok()) return s;
    if (absl::Status s = pair.second.SetNonBlocking(true); !s.ok()) return s;
  }
  return pair;
}

absl::StatusOr<SocketPair> MakeTcpPair(bool non_blocking) {
  absl::StatusOr<InetAddress> any = InetAddress::Parse("127.0.0.1", 0);
  if (!any.ok()) return any.status();
  absl::StatusOr<Socket> listener = Socket::Listen(*any, ListenOptions{.backlog = 1});
  if (!listener.ok()) return listener.status();
  absl::StatusOr<InetAddress> bound = listener->LocalAddress();
  if (!bound.ok()) return bound.status();
  absl::StatusOr<Socket> client = Socket::Connect(*bound);
  if (!client.ok()) return client.status();
  absl::StatusOr<Socket> server = listener->Accept();
  if (!server.ok()) return server.status();
  SocketPair pair{*std::move(client), *std::move(server)};
  if (non_blocking) {
    if (absl::Status s = pair.first.SetNonBlocking(true); !s.ok()) return s;
    if (absl::Status s = pair.second.SetNonBlocking(true); !s.ok()) return s;
  }
  return pair;
}

absl::Status WriteAllNonBlocking(int fd, absl::string_view data, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      return absl::ErrnoToStatus(errno, "send");
    }
    if (!WaitFor(fd, POLLOUT, deadline)) {
      return absl::DeadlineExceededError("peer is not reading");
    }
  }
  return absl::OkStatus();
}

std::string ReadNonBlocking(int fd, size_t size, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string out;
  char chunk[65536];
  while (out.size() < size) {
    const ssize_t n = ::read(fd, chunk, std::min(sizeof(chunk), size - out.size()));
    if (n > 0) {
      out.append(chunk, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) break;  // end of stream
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) break;
    if (!WaitFor(fd, POLLIN, deadline)) break;
  }
  return out;
}

}  // namespace switchboard::testing
