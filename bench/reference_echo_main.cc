// Copyright Switchboard authors.
//
// reference_echo_main: the ReferenceEchoServer (bench/reference_echo_server.h,
// the minimal epoll echo loop) as a process of its own, so that a benchmark
// can start it exactly as it starts //services:server and measure its CPU
// time from /proc the same way. It listens on 127.0.0.1 at a free port,
// prints one line like the server's, `listening echo tcp 127.0.0.1:PORT`,
// and runs until SIGINT or SIGTERM, then exits 0. Exit status 2 when it
// cannot listen. Takes no flags.

#include <signal.h>

#include <cstdint>
#include <iostream>

#include "absl/status/statusor.h"
#include "bench/reference_echo_server.h"

int main(int argc, char** argv) {
  if (argc > 1) {
    std::cerr << "reference_echo_main: takes no arguments (got '" << argv[1] << "')" << std::endl;
    return 2;
  }
  // Blocked before the loop thread starts, so that it inherits the mask and
  // only sigwait below ever sees the stop signals.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  switchboard::ReferenceEchoServer server;
  absl::StatusOr<uint16_t> port = server.Start();
  if (!port.ok()) {
    std::cerr << "reference_echo_main: " << port.status() << std::endl;
    return 2;
  }
  std::cout << "listening echo tcp 127.0.0.1:" << *port << std::endl;

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  server.Stop();
  return 0;
}
