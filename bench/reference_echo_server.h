// Copyright Switchboard authors.
//
// reference_echo_server.h: `ReferenceEchoServer`, the floor of what any
// echo server design can cost: one thread, one level-triggered epoll set,
// no framework. Each readable connection is read into one 64 KiB buffer
// until the socket is empty (or a per-turn cap is reached, so one busy
// connection cannot starve the rest) and written straight back; bytes the
// kernel will not take yet wait in a per-connection backlog. Benchmarks
// compare every server model against it, measured in the same run.

#ifndef SWITCHBOARD_BENCH_REFERENCE_ECHO_SERVER_H_
#define SWITCHBOARD_BENCH_REFERENCE_ECHO_SERVER_H_

#include <cstdint>
#include <thread>

#include "absl/status/statusor.h"

namespace switchboard {

// Start, port and Stop: any one thread (the owner). The loop runs on a
// thread of its own.
class ReferenceEchoServer {
 public:
  ReferenceEchoServer() = default;
  ~ReferenceEchoServer();
  ReferenceEchoServer(const ReferenceEchoServer&) = delete;
  ReferenceEchoServer& operator=(const ReferenceEchoServer&) = delete;

  // Listens on 127.0.0.1:0 and starts the loop; returns the port.
  absl::StatusOr<uint16_t> Start();
  // Stops the loop and closes every descriptor.
  void Stop();
  // The loop thread's CPU time so far, in seconds (for CPU per message).
  double CpuSeconds() const;

 private:
  void Run();

  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int stop_fd_ = -1;  // an eventfd that wakes the loop to quit
  std::thread thread_;
  clockid_t thread_clock_ = 0;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_BENCH_REFERENCE_ECHO_SERVER_H_
