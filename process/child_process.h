// Copyright Switchboard authors.
//
// child_process.h: `ChildProcess`, a program started with fork/exec and
// reaped by its owner. The tests and the benchmarks both run the real
// binaries this way; what they need of a child is the same: its stdout read
// line by line with a deadline, its stderr kept in a file (a log that nobody
// reads must never block the program) to show when something fails, signals,
// and its exit status waited for with a deadline. A child still running when
// its owner is destroyed is killed, so that a failed test or benchmark leaves
// no server behind.

#ifndef SWITCHBOARD_PROCESS_CHILD_PROCESS_H_
#define SWITCHBOARD_PROCESS_CHILD_PROCESS_H_

#include <sched.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace switchboard {

class ChildProcess {
 public:
  struct Options {
    // Sets RLIMIT_NOFILE in the child before exec (0: inherit).
    int max_open_files = 0;
    // Runs the child with a pseudo-terminal as stdin (and stdout), so that
    // isatty() is true in it.
    bool terminal = false;
    // Gives the child /dev/null as stdin instead of a pipe, for programs
    // that are never written to.
    bool null_stdin = false;
    // Runs the child on these CPUs only (sched_setaffinity before exec).
    std::optional<cpu_set_t> cpus;
    // "NAME=value" entries set in the child on top of this process's
    // environment.
    std::vector<std::string> env;
  };

  // Starts argv[0] (a path; no $PATH search) with the arguments argv[1...].
  static absl::StatusOr<ChildProcess> Start(const std::vector<std::string>& argv,
                                            const Options& options);
  static absl::StatusOr<ChildProcess> Start(const std::vector<std::string>& argv) {
    return Start(argv, Options{});
  }
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ~ChildProcess();  // kills and reaps the child if it still runs

  pid_t pid() const { return pid_; }

  absl::Status WriteStdin(absl::string_view data);
  void CloseStdin();
  // The next line of stdout without its "\n" (or "\r\n"); DeadlineExceeded
  // or OutOfRange (end of output) otherwise.
  absl::StatusOr<std::string> ReadLine(absl::Duration timeout);
  // Reads stdout until `text` has appeared, or the timeout; returns all
  // read so far either way.
  std::string ReadUntil(absl::string_view text, absl::Duration timeout);
  // Everything left on stdout until it closes (or the timeout).
  std::string ReadAll(absl::Duration timeout);
  // What the child wrote to stderr so far.
  std::string Stderr() const;

  // Sends `signal_number` unless the child has been reaped (its pid may
  // belong to another process by then).
  void Signal(int signal_number);
  // The exit status (128 + n for a death by signal n), or nullopt when it
  // is still running after `timeout`.
  std::optional<int> Wait(absl::Duration timeout);
  // Whether the child has not exited yet (reaps it if it has).
  bool Running() { return !Wait(absl::ZeroDuration()).has_value(); }

 private:
  ChildProcess() = default;
  // Reads what is available on stdout into pending_, waiting at most
  // `timeout`; false at end of output or timeout with nothing read.
  bool Fill(absl::Duration timeout);

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  // An unlinked temporary file: nothing to clean up whatever happens.
  int stderr_fd_ = -1;
  std::string pending_;
  bool stdout_closed_ = false;
  std::optional<int> status_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_PROCESS_CHILD_PROCESS_H_
