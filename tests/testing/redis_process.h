// Copyright Switchboard authors.
//
// redis_process.h: `RedisProcess`, a real redis-server for tests, in a
// fresh folder of the test's temporary directory, on a Unix socket there
// and (optionally) on a free TCP port of 127.0.0.1, with nothing saved to
// disk. It waits until Redis answers PING; it can be killed and started
// again on the same socket and port, as an engine lost at run time.

#ifndef SWITCHBOARD_TESTS_TESTING_REDIS_PROCESS_H_
#define SWITCHBOARD_TESTS_TESTING_REDIS_PROCESS_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "process/child_process.h"

namespace switchboard::testing {

class RedisProcess {
 public:
  struct Options {
    // Also listen on a free TCP port of 127.0.0.1.
    bool tcp = false;
  };

  // An error that says why when redis-server is missing or does not come up.
  static absl::StatusOr<std::unique_ptr<RedisProcess>> Start(const Options& options);
  static absl::StatusOr<std::unique_ptr<RedisProcess>> Start() { return Start(Options{}); }
  ~RedisProcess();  // kills it

  // "unix:///.../redis.sock", "redis://127.0.0.1:PORT".
  std::string unix_url() const { return "unix://" + socket_path_; }
  std::string tcp_url() const;
  const std::string& socket_path() const { return socket_path_; }
  int port() const { return port_; }

  // SIGKILL, and waits for the exit: what a crash looks like to clients.
  void Kill();
  // Starts it again (empty: nothing was saved) on the same socket and port.
  absl::Status Restart();
  bool running() const { return process_.has_value(); }

 private:
  RedisProcess(std::string dir, int port) : dir_(std::move(dir)), port_(port) {
    socket_path_ = dir_ + "/redis.sock";
  }
  absl::Status Launch();

  const std::string dir_;
  const int port_;  // 0: no TCP
  std::string socket_path_;
  std::optional<ChildProcess> process_;
};

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_REDIS_PROCESS_H_
