// Copyright Switchboard authors.
//
// child_process.h: running the real binaries from tests. The child process
// itself is //process:child_process's `ChildProcess` (named here too, as
// testing::ChildProcess, for the tests that say so); what is only for tests
// is here: paths in the test's runfiles and temporary folder, and
// `ServerProcess`, which starts the Switchboard server with test defaults
// and learns its ports from the "listening ..." lines.

#ifndef SWITCHBOARD_TESTS_TESTING_CHILD_PROCESS_H_
#define SWITCHBOARD_TESTS_TESTING_CHILD_PROCESS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "process/child_process.h"

namespace switchboard::testing {

// The path of a file of this workspace in the test's runfiles, such as
// "services/server".
std::string RunfilePath(absl::string_view path);

// A fresh file name in the test's temporary folder.
std::string TempPath(absl::string_view stem);

using ::switchboard::ChildProcess;

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
