// Copyright Switchboard authors.
//
// postgres_cluster.h: `PostgresCluster`, a real, throw-away PostgreSQL 15
// server for tests, made by pg_virtualenv (postgresql-common; works as root,
// keeps everything in a temporary directory with -t) on a port the kernel
// found free, with fsync off unless asked (tests are about semantics, not
// disks; benchmarks ask for it).
// It lives as long as the object: pg_virtualenv runs a command that waits
// on its stdin, and drops the cluster when the object closes that pipe (or
// when the test process dies).
//
// `Start` fails, with pg_virtualenv's own words, when the server cannot be
// made: ./bazelw installs it, so a skip would only hide a broken setup.

#ifndef SWITCHBOARD_TESTS_TESTING_POSTGRES_CLUSTER_H_
#define SWITCHBOARD_TESTS_TESTING_POSTGRES_CLUSTER_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "process/child_process.h"

namespace switchboard::testing {

class PostgresCluster {
 public:
  // Also sets PGPASSWORD in this process, so that libpq here (and every
  // child started afterwards) can log in.
  static absl::StatusOr<std::unique_ptr<PostgresCluster>> Start(bool fsync = false);
  ~PostgresCluster();
  PostgresCluster(const PostgresCluster&) = delete;
  PostgresCluster& operator=(const PostgresCluster&) = delete;

  int port() const { return port_; }
  // The connection URI of `database` (no password in it).
  std::string Uri(const std::string& database = "postgres") const;
  // A fresh, empty database of its own; returns its URI.
  absl::StatusOr<std::string> CreateDatabase();
  // "NAME=value" entries a child process needs to reach the cluster.
  std::vector<std::string> Env() const;

  // Stops the server as a crash would (pg_ctl stop -m immediate), and
  // starts it again on the same port and data.
  absl::Status Kill();
  absl::Status Restart();

 private:
  PostgresCluster(ChildProcess holder, int port, std::vector<std::string> env)
      : holder_(std::move(holder)), port_(port), env_(std::move(env)) {}
  absl::Status Control(const std::vector<std::string>& arguments);

  ChildProcess holder_;  // pg_virtualenv, waiting on its stdin
  const int port_;
  const std::vector<std::string> env_;
  int databases_ = 0;
};

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_POSTGRES_CLUSTER_H_
