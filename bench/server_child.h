// Copyright Switchboard authors.
//
// server_child.h: what the benchmarks that measure the real server binary
// share. They start //services:server (or bench:reference_echo_main) as a
// child process (//process:child_process) found in their runfiles, learn its
// port from its "listening echo tcp HOST:PORT" line, and stop it with
// SIGTERM:
//
//   RunfilesRoots / FindRunfile   where `bazel run`, `bazel test` or a run
//                                 straight from bazel-bin put the binaries
//   ServerChild                   the server as a child process, started
//                                 and stopped with the benchmarks' limits
//   PinSelfToFirstCpu             this process on one CPU, the server on
//                                 the others
//
// Used by echo_models_bench and idle_connections_bench.

#ifndef SWITCHBOARD_BENCH_SERVER_CHILD_H_
#define SWITCHBOARD_BENCH_SERVER_CHILD_H_

#include <sched.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "process/child_process.h"

namespace switchboard {

// The server's start-up error status (SPEC: a bad flag exits 2).
inline constexpr int kServerStartupErrorStatus = 2;

// $name when it is set and not empty, else `fallback`.
std::string EnvOr(const char* name, absl::string_view fallback);

// The runfiles trees this program may have: $RUNFILES_DIR (bazel run, some
// versions), $TEST_SRCDIR (bazel test), <this executable>.runfiles (run
// straight from bazel-bin), and the working directory (bazel run starts
// programs in their runfiles tree).
std::vector<std::string> RunfilesRoots(const char* argv0);

// The first executable `path` (such as "services/server") under `roots`.
// NotFound otherwise, saying where it looked and, with `how_to_run`, how to
// run the program so that it finds it.
absl::StatusOr<std::string> FindRunfile(const std::vector<std::string>& roots,
                                        absl::string_view path, absl::string_view how_to_run = "");

// A server started as a ChildProcess (stdin /dev/null; its stderr kept to
// show its start-up error), waited for until it announces its port.
class ServerChild {
 public:
  // How long a server may take to announce its port, and to exit on
  // SIGTERM (its shutdown grace is 2 s).
  static constexpr absl::Duration kStartTimeout = absl::Seconds(10);
  static constexpr absl::Duration kStopTimeout = absl::Seconds(10);

  // Starts argv and waits for its "listening echo tcp HOST:PORT" line. A
  // server that exits before announcing gives FailedPrecondition when it
  // exited with the start-up error status, Internal otherwise; both say
  // what it wrote to stderr. With `cpus`, the child runs on those CPUs only.
  static absl::StatusOr<std::unique_ptr<ServerChild>> Start(const std::vector<std::string>& argv,
                                                            const std::optional<cpu_set_t>& cpus);

  ServerChild(const ServerChild&) = delete;
  ServerChild& operator=(const ServerChild&) = delete;

  pid_t pid() const { return process_.pid(); }
  uint16_t port() const { return port_; }

  // SIGTERM, then waits; an error unless it exited 0 within kStopTimeout
  // (after which it is killed).
  absl::Status Stop();

  // Whether the child has not exited yet (reaps it if it has).
  bool Running() { return process_.Running(); }

  // The first `limit` bytes the child wrote to stderr, on one line.
  std::string StderrExcerpt(size_t limit = 400) const;

 private:
  explicit ServerChild(ChildProcess process) : process_(std::move(process)) {}

  ChildProcess process_;  // killed and reaped on destruction if still running
  uint16_t port_ = 0;
};

// With at least two CPUs allowed: pins this process (and the threads it
// starts later) to the first of them and sets `*server_cpus` to the others,
// for ServerChild::Start, so that the two sides never compete for a CPU.
// Returns what it did, for the benchmark context, calling this process
// `self_name`.
std::string PinSelfToFirstCpu(std::optional<cpu_set_t>* server_cpus,
                              absl::string_view self_name = "load generator");

}  // namespace switchboard

#endif  // SWITCHBOARD_BENCH_SERVER_CHILD_H_
