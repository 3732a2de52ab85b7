// Copyright Switchboard authors.
//
// loopback.h: small blocking helpers for tests that talk to a server on
// loopback: connect with a receive timeout, one echo round trip, and a
// port nobody listens on.

#ifndef SWITCHBOARD_TESTS_TESTING_LOOPBACK_H_
#define SWITCHBOARD_TESTS_TESTING_LOOPBACK_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "reactor/socket.h"

namespace switchboard::testing {

// A blocking connection to `host`:`port` (from `from` when not empty) whose
// reads give up after `timeout`; crashes the test if it cannot connect.
Socket ConnectTo(absl::string_view host, int port, absl::string_view from = "",
                 absl::Duration timeout = absl::Seconds(10));

// Sends `data` and reads back as many bytes (test failures on errors).
std::string Echo(Socket& socket, absl::string_view data);

// A TCP port on 127.0.0.1 that nobody listens on: bound (so the kernel
// picked a free one), never listened on, then closed. -1 on failure.
int UnusedTcpPort();

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_LOOPBACK_H_
