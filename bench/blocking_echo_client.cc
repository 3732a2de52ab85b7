// Copyright Switchboard authors.

#include "bench/blocking_echo_client.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace switchboard::bench {

absl::StatusOr<Fd> Connect(uint16_t port, bool no_delay) {
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return absl::ErrnoToStatus(errno, "socket");
  if (no_delay) {
    const int one = 1;
    setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  while (connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    if (errno != EINTR) return absl::ErrnoToStatus(errno, "connect");
  }
  return fd;
}

absl::Status SendAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, "send");
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status ReceiveExactly(int fd, size_t n, absl::Time deadline, std::string* out) {
  out->resize(n);
  size_t have = 0;
  while (have < n) {
    const int64_t left_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (left_ms <= 0) {
      return absl::DeadlineExceededError(absl::StrCat("no reply within ",
                                                      absl::FormatDuration(kReplyTimeout), " (",
                                                      have, " of ", n, " bytes back)"));
    }
    pollfd ready{fd, POLLIN, 0};
    const int polled = poll(&ready, 1, static_cast<int>(left_ms));
    if (polled < 0 && errno != EINTR) return absl::ErrnoToStatus(errno, "poll");
    if (polled <= 0) continue;
    const ssize_t got = recv(fd, out->data() + have, n - have, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return absl::ErrnoToStatus(errno, "recv");
    if (got == 0) {
      return absl::UnavailableError(
          absl::StrCat("the server closed the connection (", have, " of ", n, " bytes back)"));
    }
    have += static_cast<size_t>(got);
  }
  return absl::OkStatus();
}

absl::Status RoundTrip(int fd, absl::string_view message, std::string* reply) {
  if (absl::Status sent = SendAll(fd, message); !sent.ok()) return sent;
  if (absl::Status got = ReceiveExactly(fd, message.size(), absl::Now() + kReplyTimeout, reply);
      !got.ok()) {
    return got;
  }
  if (*reply != message) {
    const size_t at = static_cast<size_t>(
        std::mismatch(reply->begin(), reply->end(), message.begin()).first - reply->begin());
    return absl::DataLossError(
        absl::StrCat("the echo differs from what was sent at byte ", at, " of ", message.size()));
  }
  return absl::OkStatus();
}

bool StillIdle(int fd) {
  char byte;
  const ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

std::string Message(int index) {
  std::string message(kMessageSize, '\0');
  for (size_t i = 0; i < message.size(); ++i) {
    message[i] = static_cast<char>('a' + (static_cast<size_t>(index) * 7 + i) % 26);
  }
  return message;
}

absl::Status EchoClient(uint16_t port, int round_trips, LatencyHistogram* latency,
                        absl::Duration* elapsed) {
  absl::StatusOr<Fd> client = Connect(port, true);
  if (!client.ok()) return client.status();
  std::vector<std::string> messages;
  for (int i = 0; i < 16; ++i) messages.push_back(Message(i));
  std::string reply;
  const absl::Time start = absl::Now();
  for (int i = 0; i < round_trips; ++i) {
    const absl::Time sent = absl::Now();
    const absl::Status echoed =
        RoundTrip(client->get(), messages[static_cast<size_t>(i) % messages.size()], &reply);
    if (!echoed.ok()) {
      return absl::Status(echoed.code(), absl::StrCat("round trip ", i + 1, " of ", round_trips,
                                                      ": ", echoed.message()));
    }
    latency->Record(absl::ToInt64Nanoseconds(absl::Now() - sent));
  }
  *elapsed = absl::Now() - start;
  return absl::OkStatus();
}

}  // namespace switchboard::bench
