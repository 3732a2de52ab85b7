// Copyright Switchboard authors.
//
// blocking_echo_client.h: plain blocking TCP with deadlines, as a client
// that knows nothing of the reactor would use it: the idle-connections
// benchmark's idle connections and its one live echo client.

#ifndef SWITCHBOARD_BENCH_BLOCKING_ECHO_CLIENT_H_
#define SWITCHBOARD_BENCH_BLOCKING_ECHO_CLIENT_H_

#include <unistd.h>

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "clients/latency_histogram.h"

namespace switchboard::bench {

// The echo client's message size.
inline constexpr size_t kMessageSize = 1024;
// How long one reply (the 1-byte one of each idle connection, or a 1 KB
// echo) may take before it counts as lost.
inline constexpr absl::Duration kReplyTimeout = absl::Seconds(10);

// Owns one descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      Close();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Close(); }

  int get() const { return fd_; }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// A blocking connection to 127.0.0.1:`port`.
absl::StatusOr<Fd> Connect(uint16_t port, bool no_delay);

// Sends `data` whole, waiting as needed.
absl::Status SendAll(int fd, absl::string_view data);

// Reads exactly `n` bytes into `out` before `deadline`.
absl::Status ReceiveExactly(int fd, size_t n, absl::Time deadline, std::string* out);

// Sends `message` and checks that exactly it comes back.
absl::Status RoundTrip(int fd, absl::string_view message, std::string* reply);

// Whether `fd` is still open at both ends and has nothing unexpected to
// read: a non-blocking peek that finds nothing.
bool StillIdle(int fd);

// kMessageSize bytes that differ from one round trip to the next, so that a
// reply to an earlier message cannot pass for this one.
std::string Message(int index);

// A fresh connection (TCP_NODELAY) makes `round_trips` round trips of
// kMessageSize bytes, one at a time, each reply checked; their times (write
// to last byte back, ns) go into `latency`, the whole run's into `elapsed`.
absl::Status EchoClient(uint16_t port, int round_trips, LatencyHistogram* latency,
                        absl::Duration* elapsed);

}  // namespace switchboard::bench

#endif  // SWITCHBOARD_BENCH_BLOCKING_ECHO_CLIENT_H_
