// Copyright Switchboard authors.
//
// socket_pair.h: two connected sockets for tests, either a local socketpair
// (no network at all) or a real TCP connection over 127.0.0.1.

#ifndef SWITCHBOARD_TESTS_TESTING_SOCKET_PAIR_H_
#define SWITCHBOARD_TESTS_TESTING_SOCKET_PAIR_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "reactor/socket.h"

namespace switchboard::testing {

// The two ends of one connection.
struct SocketPair {
  Socket first;
  Socket second;
};

// A connected AF_UNIX stream socketpair, close-on-exec, both ends
// non-blocking unless `non_blocking` is false.
absl::StatusOr<SocketPair> MakeSocketPair(bool non_blocking = true);

// A TCP connection over 127.0.0.1 on a port the system picks: `first` is the
// connecting end, `second` the accepted one. Blocking unless `non_blocking`.
absl::StatusOr<SocketPair> MakeTcpPair(bool non_blocking = false);

// Writes all of `data` to a non-blocking descriptor, waiting for it to become
// writable when it is full (at most `timeout` in all).
absl::Status WriteAllNonBlocking(int fd, absl::string_view data,
                                 absl::Duration timeout = absl::Seconds(10));

// Reads from a non-blocking descriptor until `size` bytes have arrived, the
// stream ends, or `timeout` passes; returns what it read.
std::string ReadNonBlocking(int fd, size_t size, absl::Duration timeout = absl::Seconds(10));

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_SOCKET_PAIR_H_
