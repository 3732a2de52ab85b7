// Copyright Switchboard authors.

#include "tests/testing/postgres_cluster.h"

#include <signal.h>
#include <stdlib.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "services/store/postgres_connection.h"
#include "tests/testing/loopback.h"

namespace switchboard::testing {
namespace {

constexpr char kPgVirtualenv[] = "/usr/bin/pg_virtualenv";
constexpr char kPgCtlCluster[] = "/usr/bin/pg_ctlcluster";
// What the command inside pg_virtualenv prints: the environment it made,
// then READY; then it waits for its stdin to close.
constexpr char kHolderScript[] =
    "printf '%s\\n' \"PGPASSWORD=$PGPASSWORD\" \"PGVERSION=$PGVERSION\" "
    "\"PG_CLUSTER_CONF_ROOT=$PG_CLUSTER_CONF_ROOT\" \"PGSYSCONFDIR=$PGSYSCONFDIR\" READY; "
    "exec cat >/dev/null";
// Creating a cluster takes about 3.5 s on an idle machine.
constexpr absl::Duration kStartTimeout = absl::Seconds(120);

std::string ValueOf(const std::vector<std::string>& env, absl::string_view name) {
  const std::string prefix = absl::StrCat(name, "=");
  for (const std::string& entry : env) {
    if (absl::StartsWith(entry, prefix)) return entry.substr(prefix.size());
  }
  return "";
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresCluster>> PostgresCluster::Start(bool fsync) {
  const int port = UnusedTcpPort();
  if (port < 0) return absl::InternalError("no free TCP port for PostgreSQL");
  absl::StatusOr<ChildProcess> holder =
      ChildProcess::Start({kPgVirtualenv, "-t", "-o", fsync ? "fsync=on" : "fsync=off", "-c",
                           absl::StrCat("-p ", port), "/bin/sh", "-c", kHolderScript});
  if (!holder.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot run ", kPgVirtualenv,
                     " (./bazelw installs postgresql-common): ", holder.status().message()));
  }
  std::vector<std::string> env;
  const absl::Time deadline = absl::Now() + kStartTimeout;
  while (true) {
    absl::StatusOr<std::string> line = holder->ReadLine(deadline - absl::Now());
    if (!line.ok()) {
      return absl::FailedPreconditionError(absl::StrCat("pg_virtualenv made no PostgreSQL server (",
                                                        line.status().message(), "); it said:\n",
                                                        holder->Stderr()));
    }
    if (*line == "READY") break;
    env.push_back(*line);
  }
  env.push_back(absl::StrCat("PGPORT=", port));
  setenv("PGPASSWORD", ValueOf(env, "PGPASSWORD").c_str(), 1);
  return std::unique_ptr<PostgresCluster>(new PostgresCluster(*std::move(holder), port, env));
}

PostgresCluster::~PostgresCluster() {
  holder_.CloseStdin();
  // pg_virtualenv stops and drops the cluster; give it time to.
  if (!holder_.Wait(absl::Seconds(60)).has_value()) holder_.Signal(SIGTERM);
}

std::string PostgresCluster::Uri(const std::string& database) const {
  return absl::StrCat("postgresql://postgres@127.0.0.1:", port_, "/", database);
}

absl::StatusOr<std::string> PostgresCluster::CreateDatabase() {
  absl::StatusOr<std::unique_ptr<PgConnection>> connection = PgConnection::Connect(Uri());
  if (!connection.ok()) return connection.status();
  const std::string name = absl::StrCat("test_", ++databases_);
  const std::string sql = absl::StrCat("CREATE DATABASE ", name);
  if (absl::Status s = (*connection)->Run(sql.c_str()); !s.ok()) return s;
  return Uri(name);
}

std::vector<std::string> PostgresCluster::Env() const { return env_; }

absl::Status PostgresCluster::Control(const std::vector<std::string>& arguments) {
  std::vector<std::string> argv = {kPgCtlCluster, ValueOf(env_, "PGVERSION"), "regress"};
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  ChildProcess::Options options;
  options.env = env_;
  options.null_stdin = true;
  absl::StatusOr<ChildProcess> control = ChildProcess::Start(argv, options);
  if (!control.ok()) return control.status();
  std::optional<int> status = control->Wait(absl::Seconds(60));
  if (status != 0) {
    return absl::InternalError(absl::StrCat("pg_ctlcluster ", arguments.front(), " failed (",
                                            status.has_value() ? *status : -1,
                                            "): ", control->Stderr()));
  }
  return absl::OkStatus();
}

absl::Status PostgresCluster::Kill() { return Control({"stop", "-m", "immediate"}); }

absl::Status PostgresCluster::Restart() { return Control({"start"}); }

}  // namespace switchboard::testing
