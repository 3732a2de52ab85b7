// Copyright Switchboard authors.
//
// child_process.h: running the real binaries from tests. `ChildProcess`
// starts a program with pipes on stdin and stdout and its stderr in a file
// (a log that nobody reads must never block the program), and reaps it.
// `ServerProcess` starts the Switchboard server and learns its ports from the
// "listening ..." lines.

#ifndef SWITCHBOARD_TESTS_TESTING_CHILD_PROCESS_H_
#define SWITCHBOARD_TESTS_TESTING_CHILD_PROCESS_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace switchboard::testing {

// The path of a file of this workspace in the test's runfiles, such as
// "services/server".
std::string RunfilePath(absl::string_view path);

// A fresh file name in the test's temporary folder.
std::string TempPath(absl::string_view stem);

class ChildProcess {
 public:
  struct Options {
    // Sets RLIMIT_NOFILE in the child before exec (0: inherit).
    int max_open_files = 0;
    // Runs the child with a pseudo-terminal as stdin (and stdout), so that
    // isatty() is true in it.
    bool terminal = false;
  };

  // Starts argv[0] with the arguments argv[1...].
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
  // The next line of stdout without its "\n"; DeadlineExceeded or
  // OutOfRange (end of output) otherwise.
  absl::StatusOr<std::string> ReadLine(absl::Duration timeout);
  // Reads stdout until `text` has appeared, or the timeout; returns all
  // read so far either way.
  std::string ReadUntil(absl::string_view text, absl::Duration timeout);
  // Everything left on stdout until it closes (or the timeout).
  std::string ReadAll(absl::Duration timeout);
  // What the child wrote to stderr so far.
  std::string Stderr() const;

  void Signal(int signal_number);
  // The exit status (128 + n for a death by signal n), or nullopt when it
  // is still running after `timeout`.
  std::optional<int> Wait(absl::Duration timeout);

 private:
  ChildProcess() = default;
  // Reads what is available on stdout into pending_, waiting at most
  // `timeout`; false at end of output or timeout with nothing read.
  bool Fill(absl::Duration timeout);

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  std::string stderr_path_;
  std::string pending_;
  bool stdout_closed_ = false;
  std::optional<int> status_;
};

// The server binary, started with `flags` plus --<service>_port=0 for each
// of `services` (unless the flags set the port), a fresh --data_dir and
// --pwhash_cost=min (unless the flags say otherwise), waiting for its
// listening lines.
class ServerProcess {
 public:
  static absl::StatusOr<ServerProcess> Start(const std::vector<std::string>& services,
                                             const std::vector<std::string>& flags,
                                             const ChildProcess::Options& options = {});

  int port(const std::string& service) const { return ports_.at(service); }
  const std::vector<std::string>& listening_lines() const { return lines_; }
  ChildProcess& process() { return process_; }
  // SIGTERM, then the exit status (nullopt if it did not stop in time).
  std::optional<int> Stop(absl::Duration timeout = absl::Seconds(10));

 private:
  explicit ServerProcess(ChildProcess process) : process_(std::move(process)) {}
  ChildProcess process_;
  absl::flat_hash_map<std::string, int> ports_;
  std::vector<std::string> lines_;
};

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_CHILD_PROCESS_H_
