// Copyright Switchboard authors.
//
// postgres_store.h: `PostgresStore`, the Store on a PostgreSQL database that
// several servers share (--store=postgresql://USER@HOST:PORT/DB). It keeps
// what SqliteStore keeps, with the same semantics (the store test suite runs
// on both), and the failed logins of every server (`FailureLog`).
//
// Each call is one statement, prepared on every connection at connect time,
// auto-committed with synchronous_commit on: a call that returned OK is on
// the server's disk. Calls block on the network, so they run on worker
// threads only, through a pool of one connection per worker (PgPool), which
// also turns a lost server into Unavailable answers and reconnects with
// backoff.
//
// The password is never taken from the URI: libpq reads PGPASSWORD or
// ~/.pgpass, so it stays out of the command line and the log.

#ifndef SWITCHBOARD_SERVICES_STORE_POSTGRES_STORE_H_
#define SWITCHBOARD_SERVICES_STORE_POSTGRES_STORE_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "reactor/clock.h"
#include "services/store/postgres_pool.h"
#include "services/store/store.h"

namespace switchboard {

// OK when `uri` is a libpq connection URI without a password; otherwise
// InvalidArgument saying what is wrong (never echoing a password).
absl::Status CheckPostgresUri(absl::string_view uri);

class PostgresStore final : public Store, public FailureLog {
 public:
  // Connects once, creating or migrating the schema. Unavailable when the
  // server cannot be reached; `pool_size` connections at most.
  static absl::StatusOr<std::unique_ptr<PostgresStore>> Open(const std::string& uri, int pool_size,
                                                             const Clock* clock = SteadyClock());

  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  // Store:
  absl::StatusOr<std::optional<std::string>> FindName(absl::string_view address) override;
  absl::Status SetName(absl::string_view address, absl::string_view name) override;
  absl::StatusOr<bool> ForgetName(absl::string_view address) override;
  absl::Status AddUser(absl::string_view user, absl::string_view password_hash) override;
  absl::StatusOr<std::optional<std::string>> PasswordHash(absl::string_view user) override;
  absl::Status SetPasswordHash(absl::string_view user, absl::string_view password_hash) override;
  absl::StatusOr<std::optional<std::string>> UserAt(absl::string_view address) override;
  absl::Status SetUserAt(absl::string_view address, absl::string_view user) override;
  absl::Status AddSession(absl::string_view token_hash, const StoredSession& session) override;
  absl::StatusOr<std::optional<StoredSession>> FindSession(absl::string_view token_hash) override;
  absl::StatusOr<bool> DeleteSession(absl::string_view token_hash) override;
  absl::StatusOr<int> DeleteOtherSessions(absl::string_view user, absl::string_view keep) override;
  absl::StatusOr<int> DeleteExpiredSessions(absl::Time now) override;
  FailureLog* shared_failure_log() override { return this; }

  // FailureLog:
  absl::Status AddFailure(absl::string_view user, absl::string_view address,
                          absl::Time at) override;
  absl::StatusOr<std::vector<absl::Time>> RecentFailures(bool by_address, absl::string_view key,
                                                         absl::Time since, int limit) override;
  absl::Status ClearFailures(absl::string_view user, absl::string_view address) override;
  absl::StatusOr<int> DeleteFailuresBefore(absl::Time cutoff) override;

  // Whether the last attempt to reach PostgreSQL worked.
  bool reachable() const { return pool_.reachable(); }

 private:
  PostgresStore(const std::string& uri, int pool_size, const Clock* clock);

  // Runs the prepared statement `name` on a pooled connection.
  absl::StatusOr<PgResult> Execute(const char* name, std::initializer_list<PgValue> parameters);
  // The one bytea column `name` selects, if a row has it.
  absl::StatusOr<std::optional<std::string>> LookUp(const char* name, absl::string_view key);
  // Runs `name` and returns how many rows it changed.
  absl::StatusOr<int> Change(const char* name, std::initializer_list<PgValue> parameters);

  PgPool pool_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_STORE_POSTGRES_STORE_H_
